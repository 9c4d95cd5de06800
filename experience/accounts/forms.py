from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from experience.accounts.models import STAFF_ROLES, Role
from experience.core.permissions import can

REQUIRED = _l("This field is required.")

ROLE_LABELS = {
    Role.HQ: _l("HQ (Certification Supervision Dept)"),
    Role.SECRETARIAT: _l("Works secretariat"),
    Role.PROVINCE: _l("Provincial staff"),
    Role.ORGANIZER: _l("Event organiser"),
    Role.SUBMITTER: _l("Submitting unit"),
    Role.REVIEWER: _l("Expert"),
}


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(REQUIRED), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=200)])
    submit = SubmitField(_l("Log in"))


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(REQUIRED)])
    new = PasswordField(
        _l("New password"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        description=_l("At least 15 characters; a few unrelated words are easy to remember and hard to guess."),
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(REQUIRED), EqualTo("new", _l("The two new passwords differ."))],
    )
    submit = SubmitField(_l("Change password"))


class UserForm(FlaskForm):
    """A new account. The roles and provinces offered depend on who creates it."""

    username = StringField(
        _l("User name"),
        validators=[DataRequired(REQUIRED), Length(min=3, max=40)],
        description=_l("Letters, digits, dots, dashes or underscores."),
    )
    display_name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=60)])
    organisation = StringField(
        _l("Unit"),
        validators=[Length(max=120)],
        description=_l("For organisers: the local regulator or certification body."),
    )
    role = SelectField(_l("Role"), validators=[DataRequired(REQUIRED)])
    province = SelectField(_l("Province"), validate_choice=True)
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        description=_l("The user must change it at the first login."),
    )
    submit = SubmitField(_l("Create account"))

    def __init__(self, *args, admin, provinces, **kwargs):
        super().__init__(*args, **kwargs)
        if can(admin, "offer_any_role"):
            # Not the submitter: a unit registers itself, with its credit code and declaration.
            # No pre-selected role: nobody gets national access by forgetting to choose
            self.role.choices = [SelectChoice("", "—")] + [SelectChoice(r.value, ROLE_LABELS[r]) for r in STAFF_ROLES]
            self.province.choices = [SelectChoice("", "—")] + [SelectChoice(p.code, p.name) for p in provinces]
        else:
            self.role.choices = [SelectChoice(Role.ORGANIZER.value, ROLE_LABELS[Role.ORGANIZER])]
            self.province.choices = [SelectChoice(admin.province_code, admin.province.name)]


class LanguageForm(FlaskForm):
    lang = SelectField(choices=[SelectChoice("zh_CN", "中文"), SelectChoice("en", "English")])
