from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

REQUIRED = _l("This field is required.")
DATE_HELP = _l("Until 23:59:59 Beijing time on that day.")


class CampaignForm(FlaskForm):
    year = IntegerField(_l("Year"), validators=[DataRequired(REQUIRED), NumberRange(2024, 2100)])
    theme = StringField(_l("Theme"), validators=[DataRequired(REQUIRED), Length(max=200)])
    plan_deadline = DateField(_l("Plans due at HQ"), validators=[DataRequired(REQUIRED)], description=DATE_HELP)
    works_deadline = DateField(
        _l("Works due at the secretariat"), validators=[DataRequired(REQUIRED)], description=DATE_HELP
    )
    summary_deadline = DateField(_l("Summaries due at HQ"), validators=[DataRequired(REQUIRED)], description=DATE_HELP)
    week_start = DateField(_l("Experience week: first day"), validators=[DataRequired(REQUIRED)])
    week_end = DateField(_l("Experience week: last day"), validators=[DataRequired(REQUIRED)])
    sectors = TextAreaField(
        _l("Service sectors"),
        validators=[DataRequired(REQUIRED), Length(max=2000)],
        description=_l("One per line, in the order the event form lists them."),
    )
    submit = SubmitField(_l("Save"))
