from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from experience.core.errors import RuleError
from experience.events.forms import strip_text
from experience.ratings.models import Dimension
from experience.ratings.services import HINT_MAX, MESSAGES, NAME_MAX, DimensionEdit

TOO_LONG = _l("At most %(max)d characters.")


class DimensionsForm(FlaskForm):
    """HQ's rating questions: a row per question (order, name, explanation, retired) and
    one row to add a question. Build it with :func:`dimensions_form`, which adds the rows."""

    new_name = StringField(_l("New"), validators=[Length(max=NAME_MAX, message=TOO_LONG)], filters=[strip_text])
    new_hint = StringField(
        _l("One line of explanation"), validators=[Length(max=HINT_MAX, message=TOO_LONG)], filters=[strip_text]
    )
    submit = SubmitField(_l("Save"))

    dims: list[Dimension]

    def rows(self):
        """(order, name, explanation, retired) for each question, in the table's order."""
        return [
            (self[f"position-{d.id}"], self[f"name-{d.id}"], self[f"hint-{d.id}"], self[f"retired-{d.id}"])
            for d in self.dims
        ]

    def edits(self) -> dict[int, DimensionEdit]:
        """What HQ asks for each question; an order left empty keeps the question's place."""
        edits = {}
        for d in self.dims:
            shown = self[f"position-{d.id}"].data  # people count from 1; stored from 0
            edits[d.id] = DimensionEdit(
                name=self[f"name-{d.id}"].data or "",
                hint=self[f"hint-{d.id}"].data or "",
                position=d.position if shown is None else shown - 1,
                retired=self[f"retired-{d.id}"].data,
            )
        return edits

    def show_refusal(self, error: RuleError) -> None:
        """Put the service's refusal on the row it names."""
        field = self._fields.get(f"name-{error.params.get('dimension_id')}", self.new_name)
        field.errors.append(str(error))


def dimensions_form(dims: list[Dimension]) -> DimensionsForm:
    """The editor for these questions. Each question gets its own fields, named
    ``name-<id>``, ``hint-<id>``, ``position-<id>`` and ``retired-<id>``, on a subclass
    made for this request (WTForms' way of composing a form at run time). A field not
    posted keeps the question's value; an unticked "retired" brings a question back."""

    class Form(DimensionsForm):
        pass

    for d in dims:
        setattr(
            Form,
            f"position-{d.id}",
            IntegerField(_l("Order"), default=d.position + 1, validators=[Optional(), NumberRange(1, 1000)]),
        )
        setattr(
            Form,
            f"name-{d.id}",
            StringField(
                _l("Question"),
                default=d.name,
                validators=[DataRequired(MESSAGES["name_required"]), Length(max=NAME_MAX, message=TOO_LONG)],
                filters=[strip_text],
            ),
        )
        setattr(
            Form,
            f"hint-{d.id}",
            StringField(
                _l("One line of explanation"),
                default=d.hint,
                validators=[Length(max=HINT_MAX, message=TOO_LONG)],
                filters=[strip_text],
            ),
        )
        setattr(Form, f"retired-{d.id}", BooleanField(_l("Retired"), default=d.retired_at is not None))
    form = Form()
    form.dims = dims
    return form
