"""Screening's forms: a round's settings with its criteria, and an expert's account.

The forms check what a field can check alone (present, a number, a length); whether a
round may change or open, and whether the weights add up, is the rules' decision
(``rounds``, ``experts``): their refusals come back to the field they concern."""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from experience.accounts.forms import REQUIRED
from experience.core.errors import RuleError
from experience.events.forms import strip_text
from experience.screening import experts, rounds
from experience.screening.models import ENTRY_RULE_LABELS, EntryRule, Round, RoundState
from experience.works.models import CATEGORY_LABELS, WorkCategory

TOO_LONG = _l("At most %(max)d characters.")
NOT_A_NUMBER = _l("Please give a whole number.")

#: how many criterion rows the editor shows (the most a round may have)
CRITERION_ROWS = rounds.CRITERIA_MAX


class WholeNumber(IntegerField):
    """An integer field whose wrong input reads as a clear sentence, not WTForms' own."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(NOT_A_NUMBER) from None


def _initial(round_: Round | None, position: int) -> dict:
    """What the form shows before anything is posted: the round as it is, or a new
    round's defaults (the rules' defaults: the criteria of 附件1 二)."""
    if round_ is None:
        data = dict(
            name=rounds.DEFAULT_NAMES.get(position, ""),
            scale_max=10,
            experts_per_work=3,
            entry_rule=(EntryRule.ALL_SUBMITTED if position == 1 else EntryRule.ADVANCED).value,
            blind=True,
            exclude_same_province=False,
            by_category=False,
            disagreement_points=20,
        )
        criteria = [
            rounds.CriterionSpec(name, weight, description) for name, description, weight in rounds.DEFAULT_CRITERIA
        ]
    else:
        data = {k: getattr(round_, k) for k in rounds.SETTINGS}
        data["entry_rule"] = round_.entry_rule.value
        criteria = [rounds.CriterionSpec(c.name, c.weight, c.description) for c in round_.criteria]
    for n, c in enumerate(criteria, 1):
        data |= {f"crit_name_{n}": c.name, f"crit_description_{n}": c.description, f"crit_weight_{n}": c.weight}
    return data


class RoundForm(FlaskForm):
    """A round's settings and, while it is being set up, its criteria: a fixed number of
    rows (``crit_name_<n>``, ``crit_description_<n>``, ``crit_weight_<n>``); a row left
    blank is no criterion."""

    name = StringField(
        _l("Name of the round"),
        validators=[DataRequired(REQUIRED), Length(max=rounds.NAME_MAX, message=TOO_LONG)],
        filters=[strip_text],
        description=_l("For example 初评, 复评 or 终评."),
    )
    scale_max = WholeNumber(
        _l("Highest score per criterion"),
        validators=[InputRequired(REQUIRED), NumberRange(1, 100, _l("From 1 to 100."))],
        description=_l("Experts give each criterion a whole number from 0 to this."),
    )
    experts_per_work = WholeNumber(
        _l("Experts per work"),
        validators=[InputRequired(REQUIRED), NumberRange(1, 20, _l("From 1 to 20."))],
    )
    entry_rule = SelectField(_l("Works that enter"), validators=[DataRequired(REQUIRED)])
    blind = BooleanField(
        _l("Blind: experts do not see which unit submitted a work"),
        description=_l("The unit's name is hidden on every page and file experts reach; the files are neutral copies."),
    )
    exclude_same_province = BooleanField(_l("No expert scores works of units from the expert's own province"))
    by_category = BooleanField(_l("Experts score only the categories their profile names"))
    disagreement_points = WholeNumber(
        _l("Strong disagreement from (points)"),
        validators=[InputRequired(REQUIRED), NumberRange(0, 100, _l("From 0 to 100."))],
        description=_l("A work is flagged when its experts' weighted totals (0–100) are further apart than this."),
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, round_: Round | None = None, position: int = 1, **kwargs):
        position = round_.position if round_ is not None else position
        data = _initial(round_, position)
        if request.method == "POST":
            # a criterion row not posted is a blank row, not the one the page started with
            # (the settings keep theirs: an opened round's fixed ones are not posted)
            data = {k: v for k, v in data.items() if not k.startswith("crit_")}
        kwargs.setdefault("data", data)
        super().__init__(*args, **kwargs)
        rules = [EntryRule.ALL_SUBMITTED] if position == 1 else list(EntryRule)
        self.entry_rule.choices = [SelectChoice(r.value, ENTRY_RULE_LABELS[r]) for r in rules]
        if round_ is not None and round_.state is not RoundState.DRAFT:
            # an opened round's fixed settings are shown disabled, hence never posted
            for name in ("scale_max", "experts_per_work", "entry_rule"):
                self[name].validators = []

    def rows(self):
        """(name, description, weight) fields of each criterion row, in order."""
        return [
            (self[f"crit_name_{n}"], self[f"crit_description_{n}"], self[f"crit_weight_{n}"])
            for n in range(1, CRITERION_ROWS + 1)
        ]

    def criteria(self) -> list[rounds.CriterionSpec]:
        """The rows with a name or a weight, as the rule takes them."""
        specs = []
        for name, description, weight in self.rows():
            if not name.data and weight.data is None and not description.data:
                continue
            specs.append(rounds.CriterionSpec(name.data or "", weight.data, description.data or ""))
        return specs

    def settings(self, *, locked: bool) -> dict:
        """The settings to save; once the round has opened, only those that may change."""
        if locked:
            return {name: self[name].data for name in rounds.CHANGEABLE_AFTER_OPEN}
        return {
            "name": self.name.data,
            "scale_max": self.scale_max.data,
            "experts_per_work": self.experts_per_work.data,
            "entry_rule": EntryRule(self.entry_rule.data),
            "blind": self.blind.data,
            "exclude_same_province": self.exclude_same_province.data,
            "by_category": self.by_category.data,
            "disagreement_points": self.disagreement_points.data,
        }

    def show_refusal(self, error: RuleError) -> None:
        """Put the rule's refusal beside the field it concerns (a criterion's, or the
        table's first row for the weights' sum)."""
        field = {
            "name_required": self.name,
            "name_too_long": self.name,
            "scale_range": self.scale_max,
            "experts_range": self.experts_per_work,
            "disagreement_range": self.disagreement_points,
            "first_round_all": self.entry_rule,
        }.get(error.code)
        if field is None and error.code.startswith(("criteri", "weight")):
            field = self._criterion_field(error)
        if field is None:
            self.form_errors.append(str(error))
        else:
            field.errors = [*field.errors, str(error)]

    def _criterion_field(self, error: RuleError):
        """The row a criterion's refusal is about: the first whose name or weight is wrong."""
        rows = [r for r in self.rows() if r[0].data or r[2].data is not None or r[1].data]
        for name, _description, weight in rows:
            if error.code == "criterion_name_required" and not name.data:
                return name
            if error.code == "criterion_name_too_long" and len(name.data or "") > rounds.CRITERION_NAME_MAX:
                return name
            if error.code == "criterion_name_twice" and name.data == error.params.get("name"):
                return name
            if error.code == "weight_range" and (weight.data is None or not 0 <= weight.data <= 100):
                return weight
        if error.code in ("weights_not_100", "criteria_required", "criteria_too_many"):
            return (rows[0] if rows else self.rows()[0])[2]
        return None


for _n in range(1, CRITERION_ROWS + 1):
    setattr(
        RoundForm,
        f"crit_name_{_n}",
        StringField(
            _l("Criterion"),
            validators=[Optional(), Length(max=rounds.CRITERION_NAME_MAX, message=TOO_LONG)],
            filters=[strip_text],
        ),
    )
    setattr(
        RoundForm,
        f"crit_description_{_n}",
        StringField(
            _l("What the experts look for"),
            validators=[Length(max=rounds.CRITERION_DESCRIPTION_MAX, message=TOO_LONG)],
            filters=[strip_text],
        ),
    )
    setattr(
        RoundForm,
        f"crit_weight_{_n}",
        WholeNumber(_l("Weight (percent)"), validators=[Optional(), NumberRange(0, 100, _l("From 0 to 100."))]),
    )
del _n


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ExpertForm(FlaskForm):
    """An expert's account: who they are, their unit and what they score. The user name
    and the first password only when the account is made."""

    display_name = StringField(
        _l("Name"),
        validators=[DataRequired(REQUIRED), Length(max=experts.NAME_MAX, message=TOO_LONG)],
        filters=[strip_text],
    )
    organisation = StringField(
        _l("Unit"),
        validators=[DataRequired(REQUIRED), Length(max=experts.ORGANISATION_MAX, message=TOO_LONG)],
        filters=[strip_text],
        description=_l("The unit the expert works for: its works are never assigned to the expert."),
    )
    credit_code = StringField(
        _l("Unified social credit code of the unit"),
        validators=[Length(max=40, message=TOO_LONG)],
        filters=[strip_text],
        description=_l("Optional. When given, it recognises the expert's unit among the submitting units."),
    )
    province = SelectField(_l("Province"), validators=[DataRequired(REQUIRED)])
    categories = CheckboxesField(
        _l("Categories the expert scores"),
        choices=[SelectChoice(c.value, CATEGORY_LABELS[c]) for c in WorkCategory],
        description=_l("Counts only in rounds that assign by category. None ticked: every category."),
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, provinces, **kwargs):
        super().__init__(*args, **kwargs)
        self.province.choices = [SelectChoice("", "—")] + [SelectChoice(p.code, p.name) for p in provinces]

    _FIELDS = {
        "name_required": "display_name",
        "name_too_long": "display_name",
        "organisation_required": "organisation",
        "organisation_too_long": "organisation",
        "province_required": "province",
        "bad_category": "categories",
        "bad_username": "username",
        "username_taken": "username",
    }

    def show_refusal(self, error: RuleError) -> None:
        credit = error.code.startswith("credit_code_")
        name = "credit_code" if credit else self._FIELDS.get(error.code, "password")
        field = self._fields.get(name)
        if field is None:
            self.form_errors.append(str(error))
        else:
            field.errors = [*field.errors, str(error)]


class NewExpertForm(ExpertForm):
    username = StringField(
        _l("User name"),
        validators=[DataRequired(REQUIRED), Length(min=3, max=40)],
        filters=[strip_text],
        description=_l("Letters, digits, dots, dashes or underscores."),
    )
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        description=_l("At least 15 characters. The expert must change it at the first login."),
    )
    submit = SubmitField(_l("Create expert account"))


class EditExpertForm(ExpertForm):
    active = BooleanField(
        _l("Active"),
        description=_l("An inactive expert cannot log in and gets no new works; assignments already made stay."),
    )
