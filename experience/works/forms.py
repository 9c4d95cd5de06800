"""The forms of a work: its registration fields, its text, photos and video, and the
declarations. Whether a change is allowed is the services' decision; these only carry
what the unit typed and chose."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectChoice,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length

from experience.works import media, texts
from experience.works.models import WorkCategory
from experience.works.services import SUMMARY_MAX_CHARS, TITLE_MAX

REQUIRED = _l("This field is required.")
#: 3,000, as the call writes it
_TEXT_MAX = f"{texts.TEXT_MAX_CHARS:,}"

#: what each category takes (附件1 二), shown beside the choice
CATEGORY_CHOICES = [
    SelectChoice(
        WorkCategory.TEXT.value,
        _l("Text work: any genre, at most %(limit)s characters", limit=_TEXT_MAX),
    ),
    SelectChoice(
        WorkCategory.PHOTO.value,
        _l(
            "Photo work: JPG photos of 5 MB to 15 MB each, at most %(limit)s photos, each with its caption",
            limit=media.PHOTOS_MAX,
        ),
    ),
    SelectChoice(
        WorkCategory.VIDEO.value,
        _l("Video work (animation included): one MP4 of at most 3 minutes"),
    ),
]


class WorkForm(FlaskForm):
    """附件2's registration form, less what the account gives (the unit)."""

    title = StringField(_l("Title of the work"), validators=[DataRequired(REQUIRED), Length(max=TITLE_MAX)])
    category = RadioField(
        _l("Category"), choices=CATEGORY_CHOICES, validators=[InputRequired(REQUIRED)], validate_choice=False
    )
    completed_on = DateField(
        _l("Date completed"),
        validators=[InputRequired(REQUIRED)],
        description=_l("Works of this call must have been completed on or after January 1 of its year."),
    )
    contact_name = StringField(
        _l("Contact person"), validators=[DataRequired(REQUIRED), Length(max=60)], render_kw={"autocomplete": "name"}
    )
    contact_phone = StringField(
        _l("Contact phone or mobile"),
        validators=[DataRequired(REQUIRED), Length(max=30)],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    summary = TextAreaField(
        _l("Summary of the work"),
        validators=[DataRequired(REQUIRED), Length(max=5000)],
        description=_l(
            "At most %(limit)s characters. Characters are counted without spaces and line breaks.",
            limit=SUMMARY_MAX_CHARS,
        ),
        render_kw={"rows": 6},
    )
    submit = SubmitField(_l("Save"))


class TextForm(FlaskForm):
    body = TextAreaField(
        _l("The text"),
        validators=[DataRequired(REQUIRED)],
        description=_l(
            "At most %(limit)s characters. Characters are counted without spaces and line breaks.",
            limit=_TEXT_MAX,
        ),
        render_kw={"rows": 16},
    )
    save_text = SubmitField(_l("Save the text"))


class TextFileForm(FlaskForm):
    file = FileField(
        _l("Or upload the text as a file"),
        description=_l(
            ".docx (Word, WPS) or .txt (UTF-8 or GBK), at most %(limit)s MB. Its text replaces the typed one.",
            limit=texts.TEXT_FILE_MAX_BYTES // media.MB,
        ),
        render_kw={"accept": ".docx,.txt"},
    )
    upload_text = SubmitField(_l("Upload the file"))


def _caption_field(spec: media.CaptionField):
    kind = TextAreaField if spec.max_length > 200 else StringField
    return kind(
        spec.label,
        validators=[DataRequired(REQUIRED), Length(max=spec.max_length)],
        description=spec.help,
        render_kw={"rows": 3} if kind is TextAreaField else {},
    )


class CaptionForm(FlaskForm):
    """A photo's caption (附件1 二.(二)): every part is required."""

    save_caption = SubmitField(_l("Save the caption"))


class PhotoForm(FlaskForm):
    file = FileField(
        _l("Photo (JPG)"),
        description=_l(
            "The original JPG from the camera, 5 MB to 15 MB (1 MB = 1,048,576 bytes, as Windows shows sizes)."
        ),
        render_kw={"accept": ".jpg,.jpeg,image/jpeg"},
    )
    add_photo = SubmitField(_l("Add the photo"))


for _spec in media.CAPTION_FIELDS:
    setattr(CaptionForm, _spec.name, _caption_field(_spec))
    setattr(PhotoForm, _spec.name, _caption_field(_spec))


class VideoForm(FlaskForm):
    file = FileField(_l("Video (MP4)"), render_kw={"accept": ".mp4,video/mp4"})
    upload_video = SubmitField(_l("Upload the video"))


class DeclarationsForm(FlaskForm):
    """The 承诺书 and the licence, each ticked on its own; the hidden fields say what the
    page showed, so that a text or title changed meanwhile is not accepted unread."""

    version = HiddenField()
    title = HiddenField()
    commitment = BooleanField(_l("Our unit makes the commitment above for this work."))
    licence = BooleanField(_l("Our unit grants SAMR the exclusive, unlimited and free licence above for this work."))
    accept = SubmitField(_l("Accept"))


class SubmitWorkForm(FlaskForm):
    submit = SubmitField(_l("Submit the work"))


class WorkReturnForm(FlaskForm):
    """The secretariat returns a submitted work: what to change, and until when."""

    comment = TextAreaField(_l("What should the unit change?"), validators=[DataRequired(REQUIRED), Length(max=5000)])
    reopen_until = DateField(
        _l("Changes possible until"),
        validators=[DataRequired(REQUIRED)],
        description=_l("Until 23:59:59 Beijing time on that day. A work not sent again by then stays returned."),
    )
    send_back = SubmitField(_l("Return for changes"))


class UnitExtensionForm(FlaskForm):
    """The secretariat gives the work's unit a later deadline for all its works."""

    new_deadline = DateField(
        _l("New deadline for this unit"),
        validators=[DataRequired(REQUIRED)],
        description=_l("Until 23:59:59 Beijing time on that day, for all the unit's works."),
    )
    reason = TextAreaField(_l("Reason"), validators=[Length(max=2000)])
    extend = SubmitField(_l("Extend the deadline"))
