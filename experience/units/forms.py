from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from experience.units.models import UNIT_TYPE_LABELS

REQUIRED = _l("This field is required.")
PASSWORD_HELP = _l("At least 15 characters; a few unrelated words are easy to remember and hard to guess.")


class _Contact:
    contact_name = StringField(
        _l("Contact person"), validators=[DataRequired(REQUIRED), Length(max=60)], render_kw={"autocomplete": "name"}
    )
    contact_mobile = StringField(
        _l("Mobile"),
        validators=[DataRequired(REQUIRED), Length(max=30)],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    contact_email = StringField(
        _l("E-mail (optional)"),
        validators=[Optional(), Length(max=254)],
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )


class RegistrationForm(_Contact, FlaskForm):
    """A unit registers itself. Choices are the 32 provinces and the kinds of unit."""

    name = StringField(
        _l("Unit name"),
        validators=[DataRequired(REQUIRED), Length(max=120)],
        description=_l("The full name, as on the business licence or registration certificate."),
    )
    credit_code = StringField(
        _l("Unified social credit code"),
        validators=[DataRequired(REQUIRED), Length(max=40)],
        description=_l(
            "18 characters, on the business licence or registration certificate. It is also your user name."
        ),
        render_kw={"autocapitalize": "characters", "autocomplete": "off", "spellcheck": "false"},
    )
    unit_type = SelectField(_l("Kind of unit"), validators=[DataRequired(REQUIRED)])
    province = SelectField(
        _l("Province"),
        validators=[DataRequired(REQUIRED)],
        description=_l("Where the unit is; that province's market regulation staff can see the registration."),
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        description=PASSWORD_HELP,
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(REQUIRED), EqualTo("password", _l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    declaration_version = HiddenField()
    declaration = BooleanField(
        _l("Our unit meets the conditions above and makes this declaration."),
        validators=[DataRequired(_l("Please accept the declaration to register."))],
    )
    privacy = BooleanField(
        _l("I have read the personal information notice and agree to it."),
        validators=[DataRequired(_l("Please agree to the personal information notice to register."))],
    )
    submit = SubmitField(_l("Register"))

    def __init__(self, *args, provinces, **kwargs):
        super().__init__(*args, **kwargs)
        self.unit_type.choices = [SelectChoice("", "—")] + [
            SelectChoice(t.value, label) for t, label in UNIT_TYPE_LABELS.items()
        ]
        self.province.choices = [SelectChoice("", "—")] + [SelectChoice(p.code, p.name) for p in provinces]


class HandoverForm(_Contact, FlaskForm):
    """The secretariat gives a unit's account to the person the unit's sealed letter names."""

    letter_checked = BooleanField(
        _l("I have checked the unit's letter and its seal."),
        validators=[DataRequired(_l("Hand over only after checking the unit's sealed letter."))],
    )
    reason = TextAreaField(
        _l("Reason and letter"),
        validators=[DataRequired(REQUIRED), Length(max=500)],
        description=_l("Why the account is handed over, and the letter's date and reference."),
    )
    password = PasswordField(
        _l("New password (optional)"),
        validators=[Optional(), Length(max=200)],
        description=_l(
            "Leave empty to have a temporary password made and shown once. Either way the unit must choose "
            "its own at the first login."
        ),
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Hand over the account"))
