from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateTimeLocalField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from experience.core.phone import normalize_phone
from experience.events.models import CATEGORY_LABELS, GuestCategory
from experience.events.permissions import organizer_candidates

REQUIRED = _l("This field is required.")


def strip_text(value):
    """A form filter: text without the spaces around it (other data passes unchanged)."""
    return value.strip() if isinstance(value, str) else value


def _text(label, max_len=200, required=True, **kw):
    validators = [DataRequired(REQUIRED)] if required else [Optional()]
    return StringField(
        label,
        validators=validators + [Length(max=max_len, message=_l("At most %(max)d characters."))],
        filters=[strip_text],
        **kw,
    )


class EventForm(FlaskForm):
    title = _text(_l("Event title"))
    service_name = _text(_l("Certified service experienced"), description=_l("认证服务项目, as on the certificate."))
    certified_org = _text(_l("Certified organisation"))
    certificate_no = _text(_l("Certificate number"), max_len=80)
    certification_body = _text(_l("Certification body"))
    sector = SelectField(_l("Service sector"), validators=[DataRequired(REQUIRED)])
    venue_name = _text(_l("Venue"))
    city = _text(_l("City"), max_len=60)
    address = _text(_l("Address"), max_len=300)
    starts_at = DateTimeLocalField(
        _l("Starts (Beijing time)"), format="%Y-%m-%dT%H:%M", validators=[InputRequired(REQUIRED)]
    )
    ends_at = DateTimeLocalField(
        _l("Ends (Beijing time)"), format="%Y-%m-%dT%H:%M", validators=[InputRequired(REQUIRED)]
    )
    highlights = TextAreaField(
        _l("Highlights"),
        validators=[Length(max=5000)],
        description=_l("What makes this certified service worth experiencing."),
    )
    agenda = TextAreaField(_l("Agenda"), validators=[Length(max=5000)])
    host_unit = _text(_l("Host unit"), required=False)
    contact_name = _text(_l("Organiser contact"), max_len=60)
    contact_phone = _text(
        _l("Contact phone"), max_len=30, description=_l("A mobile, or a landline such as 010-82260862.")
    )
    attachment = FileField(
        _l("Attachment (optional)"), description=_l("PDF or DOCX, at most 20 MB. Replaces the current attachment.")
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, campaign, default_unit: str = "", **kwargs):
        """:param default_unit: the host unit a blank field stands for (the creating account's organisation)."""
        super().__init__(*args, **kwargs)
        self.host_unit.description = (
            _l("Printed on the invitation cards. Left blank, it is %(unit)s.", unit=default_unit)
            if default_unit
            else _l("Printed on the invitation cards.")
        )
        self.sector.choices = [SelectChoice("", "—")] + [SelectChoice(s) for s in campaign.sector_list]
        if self.sector.data and self.sector.data not in campaign.sector_list:
            # keep a sector HQ has since retired selectable for the event that has it
            self.sector.choices.append(SelectChoice(self.sector.data))

    def validate_contact_phone(self, field):
        normalized = normalize_phone(field.data or "")
        if normalized is None:
            raise ValidationError(_l("Please give a mobile (11 digits) or a landline with its area code."))
        field.data = normalized

    def validate_starts_at(self, field):
        if field.data and not 2000 <= field.data.year <= 2100:
            raise ValidationError(_l("Please give a real date."))

    def validate_ends_at(self, field):
        if field.data and not 2000 <= field.data.year <= 2100:
            raise ValidationError(_l("Please give a real date."))
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The event must end after it starts."))

    def expected_guests(self) -> dict[str, int]:
        return {c.value: getattr(self, f"guests_{c.value}").data or 0 for c in GuestCategory}

    def category_fields(self):
        return [getattr(self, f"guests_{c.value}") for c in GuestCategory]


# one number per guest category, so the form follows GuestCategory
for _category in GuestCategory:
    setattr(
        EventForm,
        f"guests_{_category.value}",
        IntegerField(
            CATEGORY_LABELS[_category],
            default=0,
            validators=[Optional(), NumberRange(0, 100000, message=_l("A number from 0 to 100000."))],
        ),
    )


class CancelForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for cancelling"), validators=[DataRequired(REQUIRED), Length(max=1000)], filters=[strip_text]
    )
    submit = SubmitField(_l("Cancel this event…"))


class OrganizersForm(FlaskForm):
    organizers = SelectMultipleField(_l("Organisers who manage this event"), coerce=int)
    submit = SubmitField(_l("Save organisers"))

    def __init__(self, *args, event, **kwargs):
        super().__init__(*args, **kwargs)
        # only the active organisers of the event's province can be chosen
        self.organizers.choices = [
            SelectChoice(u.id, _("%(name)s (%(username)s)", name=u.display_name, username=u.username))
            for u in organizer_candidates(event)
        ]
