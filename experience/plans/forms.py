from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, RadioField, SelectChoice, SelectField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length

from experience.plans.services import TEXT_FIELDS

REQUIRED = _l("This field is required.")
HELP = {
    "organisation_text": _l("Notice 二(1): leadership, how the province organises the week."),
    "coordination_text": _l("Notice 二(2): coordination with HQ and with other departments."),
    "publicity_text": _l("Notice 二(3): publicity and mobilisation, works collection."),
    "safety_text": _l("Notice 二(4): frugality, voluntary participation, no fees, safety."),
}


class PlanForm(FlaskForm):
    organisation_text = TextAreaField(
        TEXT_FIELDS["organisation_text"], validators=[Length(max=10000)], description=HELP["organisation_text"]
    )
    coordination_text = TextAreaField(
        TEXT_FIELDS["coordination_text"], validators=[Length(max=10000)], description=HELP["coordination_text"]
    )
    publicity_text = TextAreaField(
        TEXT_FIELDS["publicity_text"], validators=[Length(max=10000)], description=HELP["publicity_text"]
    )
    safety_text = TextAreaField(
        TEXT_FIELDS["safety_text"], validators=[Length(max=10000)], description=HELP["safety_text"]
    )
    document = FileField(
        _l("Sealed official document (PDF scan)"),
        description=_l("The plan as sent with the unit's seal, scanned to PDF, at most 20 MB."),
    )
    submit = SubmitField(_l("Save"))
    send = SubmitField(_l("Save and submit to HQ"))


class ReturnForm(FlaskForm):
    comment = TextAreaField(
        _l("What should the province change?"), validators=[DataRequired(REQUIRED), Length(max=5000)]
    )
    send_back = SubmitField(_l("Return for changes"))


class ConfirmForm(FlaskForm):
    confirm = SubmitField(_l("Confirm the plan"))


CHOOSE = _l("Please choose whether the event is a launch-ceremony project.")


class LaunchForm(FlaskForm):
    """HQ's choice for one event: two labelled options, the current one checked."""

    selected = RadioField(
        _l("Launch-ceremony project"),
        choices=[
            SelectChoice("yes", _l("Select as a launch-ceremony project")),
            SelectChoice("no", _l("Not a launch-ceremony project")),
        ],
        validators=[InputRequired(CHOOSE), AnyOf(["yes", "no"], message=CHOOSE)],
        validate_choice=False,
    )
    note = TextAreaField(_l("Note to the province"), validators=[Length(max=2000)])
    submit = SubmitField(_l("Save the choice"))


class ExtensionForm(FlaskForm):
    province = SelectField(_l("Province"), validators=[DataRequired(REQUIRED)])
    kind = SelectField(
        _l("For"),
        choices=[SelectChoice("plan", _l("the plan")), SelectChoice("summary", _l("the summary"))],
        default="plan",
    )
    new_deadline = DateField(
        _l("New deadline"),
        validators=[DataRequired(REQUIRED)],
        description=_l("Until 23:59:59 Beijing time on that day."),
    )
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REQUIRED), Length(max=2000)])
    submit = SubmitField(_l("Grant extension"))
