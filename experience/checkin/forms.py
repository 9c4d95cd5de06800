from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField, SubmitField
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


def chosen_category_choices():
    """The categories after an empty first choice: nobody is counted as an NPC deputy (the
    first category) because they did not open the list."""
    return [SelectChoice("", _l("Please choose")), *category_choices()]


CHOOSE_CATEGORY = _l("Please choose who you are.")


class ConsentForm(FlaskForm):
    """The guest's one tap. No CSRF token: the unguessable code in the URL is the secret,
    and a token would expire on a phone left open for hours."""

    class Meta:
        csrf = False

    consent = BooleanField(_l("I have read the personal information notice and agree"))
    submit = SubmitField(_l("Check in"))


class WalkInForm(FlaskForm):
    class Meta:
        csrf = False  # as ConsentForm: the poster's code is the secret

    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=60)], filters=[strip_text])
    category = SelectField(_l("I am"), choices=chosen_category_choices, validators=[DataRequired(CHOOSE_CATEGORY)])
    organisation = StringField(_l("Organisation (optional)"), validators=[Length(max=120)], filters=[strip_text])
    phone = StringField(
        _l("Mobile phone (optional)"), validators=[Length(max=30), optional_mobile], filters=[strip_text]
    )
    consent = BooleanField(_l("I have read the personal information notice and agree"))
    submit = SubmitField(_l("Register and check in"))

    def validate_consent(self, field):
        if not field.data:
            raise ValidationError(_l("Please read and agree to the personal-information notice first."))


class DeskWalkInForm(FlaskForm):
    """Staff register a walk-in who has no smartphone, and check them in at once.

    No mobile number: the desk needs a name and a category to count the guest, and a guest
    without a smartphone gets no link by message; what the purpose does not need is not
    collected."""

    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=60)], filters=[strip_text])
    category = SelectField(
        _l("Category"), choices=chosen_category_choices, validators=[DataRequired(_l("Please choose a category."))]
    )
    organisation = StringField(_l("Organisation (optional)"), validators=[Length(max=120)], filters=[strip_text])
    consent = BooleanField(_l("I have told the guest how their information is used, and they agree"))
    submit = SubmitField(_l("Register and check in"))

    def validate_consent(self, field):
        if not field.data:
            raise ValidationError(_l("Please tell the guest how their information is used, and tick that they agree."))
