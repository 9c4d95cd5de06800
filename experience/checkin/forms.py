from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from experience.events.forms import strip_text
from experience.guests.forms import REQUIRED, category_choices, optional_mobile


class CheckinSettingsForm(FlaskForm):
    checkin_opens_minutes = IntegerField(
        _l("Check-in opens (minutes before the start)"),
        validators=[InputRequired(REQUIRED), NumberRange(0, 7 * 24 * 60)],
    )
    checkin_closes_minutes = IntegerField(
        _l("Check-in closes (minutes after the end)"), validators=[InputRequired(REQUIRED), NumberRange(0, 7 * 24 * 60)]
    )
    walk_ins_enabled = BooleanField(_l("Walk-in guests may register from the poster"))
    capacity = IntegerField(
        _l("Capacity (people checked in at most)"),
        validators=[Optional(), NumberRange(1, 100000)],
        description=_l("Empty: no limit. Walk-ins stop when the venue is full."),
    )
    submit = SubmitField(_l("Save check-in settings"))


class TokenForm(FlaskForm):
    name = StringField(_l("Device name"), validators=[DataRequired(REQUIRED), Length(max=60)], filters=[strip_text])
    submit = SubmitField(_l("Create API token"))


class ConsentForm(FlaskForm):
    """The guest's one tap. No CSRF token: the unguessable code in the URL is the secret,
    and a token would expire on a phone left open for hours."""

    class Meta:
        csrf = False

    consent = BooleanField(_l("I have read the notice above and agree"))
    submit = SubmitField(_l("Check in"))


class WalkInForm(FlaskForm):
    class Meta:
        csrf = False  # as ConsentForm: the poster's code is the secret

    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=60)], filters=[strip_text])
    category = SelectField(_l("I am"), choices=category_choices, validators=[DataRequired(REQUIRED)])
    organisation = StringField(_l("Organisation (optional)"), validators=[Length(max=120)], filters=[strip_text])
    phone = StringField(
        _l("Mobile phone (optional)"), validators=[Length(max=30), optional_mobile], filters=[strip_text]
    )
    consent = BooleanField(_l("I have read the notice above and agree"))
    submit = SubmitField(_l("Register and check in"))

    def validate_consent(self, field):
        if not field.data:
            raise ValidationError(_l("Please read and agree to the personal-information notice first."))
