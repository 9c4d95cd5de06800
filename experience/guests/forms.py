from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from experience.core.phone import normalize_phone
from experience.events.forms import strip_text
from experience.events.models import CATEGORY_LABELS, GuestCategory
from experience.guests.models import LEVEL_LABELS, SALUTATION_LABELS, Salutation

REQUIRED = _l("This field is required.")


def optional_mobile(form, field):
    """A guest's phone: empty, or a mobile in any usual writing, stored as 11 digits."""
    if field.data:
        normalized = normalize_phone(field.data)
        if normalized is None or "-" in normalized:
            raise ValidationError(_l("Please give an 11-digit mobile number, or leave it empty."))
        field.data = normalized


def category_choices():
    return [SelectChoice(c.value, CATEGORY_LABELS[c]) for c in GuestCategory]


class GuestForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=60)], filters=[strip_text])
    salutation = SelectField(
        _l("Salutation"),
        choices=lambda: [SelectChoice("", "—")] + [SelectChoice(s.value, SALUTATION_LABELS[s]) for s in Salutation],
        validators=[Optional()],
        description=_l(
            "Optional: Mr or Ms after the name on the invitation, as you choose (never guessed from the name). "
            "NPC deputies and CPPCC members are addressed as deputy or member."
        ),
    )
    category = SelectField(_l("Category"), choices=category_choices, validators=[DataRequired(REQUIRED)])
    level = SelectField(
        _l("Level"),
        choices=lambda: [SelectChoice("", "—")] + [SelectChoice(k, v) for k, v in LEVEL_LABELS.items()],
        validators=[Optional()],
        description=_l("For NPC deputies and CPPCC members."),
    )
    organisation = StringField(_l("Organisation"), validators=[Length(max=120)], filters=[strip_text])
    title = StringField(_l("Title"), validators=[Length(max=60)], filters=[strip_text])
    phone = StringField(
        _l("Mobile phone (optional)"), validators=[Length(max=30), optional_mobile], filters=[strip_text]
    )
    note = TextAreaField(_l("Note"), validators=[Length(max=500)], filters=[strip_text])
    submit = SubmitField(_l("Save guest"))

    def values(self) -> dict:
        return {
            "name": self.name.data,
            "salutation": Salutation(self.salutation.data) if self.salutation.data else None,
            "category": GuestCategory(self.category.data),
            "level": self.level.data or None,
            "organisation": self.organisation.data or "",
            "title": self.title.data or "",
            "phone": self.phone.data or None,
            "note": self.note.data or "",
        }


class ImportForm(FlaskForm):
    file = FileField(_l("Guest list (.xlsx or .csv)"), validators=[DataRequired(_l("Please choose a file."))])
    submit = SubmitField(_l("Preview"))
