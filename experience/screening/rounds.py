"""Screening rounds: their settings and criteria, and opening, closing and reopening them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from experience.campaigns.models import Campaign
from experience.core import audit, clock
from experience.core.errors import RuleError
from experience.extensions import db
from experience.plans.models import DeadlineExtension, DeadlineKind
from experience.screening import assignment, blind
from experience.screening.models import Criterion, Decision, Entry, EntryRule, Outcome, Round, RoundState
from experience.works.models import Work, WorkCategory, WorkState

#: 附件1 二 (内容要求): what the call asks of a work, as criteria with their weights (percent)
DEFAULT_CRITERIA = (
    ("导向正确", "坚持正确的政治导向和价值导向，积极向上，不含商业或广告性质", 20),
    ("紧扣服务认证主题", "紧密围绕服务认证相关内容展开，主题鲜明", 25),
    ("立意新颖", "立意新颖，表达独特的见解与思考", 20),
    ("真实感染力", "内容真实，具有较强的感染力和吸引力", 20),
    ("制作质量", "语言生动流畅、逻辑清晰，画面清晰稳定，符合该类作品的格式要求", 15),
)

#: a round's name by its position when the secretariat gives none
DEFAULT_NAMES = {1: "初评", 2: "复评", 3: "终评"}
MAX_ROUNDS = 3
NAME_MAX = 40
CRITERION_NAME_MAX = 60
CRITERIA_MAX = 10
CRITERION_DESCRIPTION_MAX = 500

MESSAGES = {
    "name_required": _l("Please give the round a name."),
    "name_too_long": _l("The round's name may have at most 40 characters."),
    "too_many_rounds": _l("A campaign has at most 3 screening rounds."),
    "created_meanwhile": _l("Someone else set up a round at the same moment: please look at the rounds again."),
    "scale_range": _l("The score scale runs up to a whole number from 1 to 100."),
    "experts_range": _l("Each work is scored by 1 to 20 experts."),
    "disagreement_range": _l("The disagreement threshold is a whole number of points from 0 to 100."),
    "criteria_required": _l("A round needs at least one criterion."),
    "criteria_too_many": _l("A round has at most 10 criteria."),
    "criterion_name_required": _l("Each criterion needs a name."),
    "criterion_name_too_long": _l("A criterion's name may have at most 60 characters."),
    "criterion_name_twice": _l("Two criteria are both named “%(name)s”."),
    "criterion_description_too_long": _l("What the experts look for in a criterion may have at most 500 characters."),
    "weight_range": _l("A criterion's weight is a whole number from 0 to 100 (percent)."),
    "weights_not_100": _l("The criteria's weights add up to %(total)s; they must add up to exactly 100."),
    "first_round_all": _l(
        "The first round takes all submitted works: there is no previous round whose works could advance."
    ),
    "locked_after_open": _l(
        "Once the round has been opened only its name and the disagreement threshold can change: the criteria, the "
        "score scale, which works enter, blindness and the assignment rules are what the experts score and were "
        "assigned under."
    ),
    "not_draft_to_open": _l("Only a round being set up can be opened."),
    "before_works_deadline": _l(
        "The works deadline (%(deadline)s 23:59:59 Beijing time) has not passed yet: until then units may still "
        "take their works back. Open the round after the deadline."
    ),
    "previous_not_closed": _l("The previous round (%(name)s) must be closed before this one opens."),
    "previous_awaits_returns": _l(
        "The previous round (%(name)s) still waits for works returned for revision: until their last day has "
        "passed, or they came back and were decided on again, this round cannot open."
    ),
    "previous_pending": _l(
        "The previous round (%(name)s) still has decisions that have not been applied: apply them first, so that "
        "the works it advanced are known."
    ),
    "no_works": _l("No work can enter this round: there is nothing to score."),
    "not_open": _l("Only an open round can be closed."),
    "not_closed": _l("Only a closed round can be opened again."),
    "later_round_open": _l("A later round has already been opened: this round can no longer be opened again."),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


@dataclass(frozen=True)
class CriterionSpec:
    """One criterion as the secretariat sets it."""

    name: str
    weight: int
    description: str = ""


def rounds_of(campaign: Campaign) -> list[Round]:
    return list(db.session.scalars(sa.select(Round).where(Round.campaign_id == campaign.id).order_by(Round.position)))


def previous_round(round_: Round) -> Round | None:
    return db.session.scalar(
        sa.select(Round).where(Round.campaign_id == round_.campaign_id, Round.position == round_.position - 1)
    )


def _int_in(value, low: int, high: int, code: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _fail(code) from None
    if (isinstance(value, float) and value != number) or not low <= number <= high:
        raise _fail(code)
    return number


def _clean_name(value) -> str:
    name = (value or "").strip()
    if not name:
        raise _fail("name_required")
    if len(name) > NAME_MAX:
        raise _fail("name_too_long")
    return name


def clean_criteria(specs) -> list[CriterionSpec]:
    """The criteria, checked: 1 to 10, named (≤ 60 characters, no two alike), weights
    0–100 adding up to exactly 100.

    :raises RuleError: criteria_required, criteria_too_many, criterion_name_required,
        criterion_name_too_long, criterion_name_twice, criterion_description_too_long,
        weight_range, weights_not_100.
    """
    clean = []
    for spec in specs:
        if isinstance(spec, tuple | list):  # (name, weight) or (name, description, weight)
            spec = CriterionSpec(spec[0], spec[-1], spec[1] if len(spec) == 3 else "")
        name = (spec.name or "").strip()
        if not name:
            raise _fail("criterion_name_required")
        if len(name) > CRITERION_NAME_MAX:
            raise _fail("criterion_name_too_long")
        if any(c.name == name for c in clean):
            raise _fail("criterion_name_twice", name=name)
        weight = _int_in(spec.weight, 0, 100, "weight_range")
        description = (spec.description or "").strip()
        if len(description) > CRITERION_DESCRIPTION_MAX:
            raise _fail("criterion_description_too_long")
        clean.append(CriterionSpec(name, weight, description))
    if not clean:
        raise _fail("criteria_required")
    if len(clean) > CRITERIA_MAX:
        raise _fail("criteria_too_many")
    total = sum(c.weight for c in clean)
    if total != 100:
        raise _fail("weights_not_100", total=total)
    return clean


SETTINGS = (
    "name",
    "scale_max",
    "experts_per_work",
    "entry_rule",
    "blind",
    "exclude_same_province",
    "by_category",
    "disagreement_points",
)
#: what may still change once the round has opened (the rest is what experts scored and
#: were assigned under)
CHANGEABLE_AFTER_OPEN = ("name", "disagreement_points")


def _clean_settings(position: int, settings: dict) -> dict:
    clean = {}
    for key, value in settings.items():
        if key == "name":
            clean[key] = _clean_name(value)
        elif key == "scale_max":
            clean[key] = _int_in(value, 1, 100, "scale_range")
        elif key == "experts_per_work":
            clean[key] = _int_in(value, 1, 20, "experts_range")
        elif key == "disagreement_points":
            clean[key] = _int_in(value, 0, 100, "disagreement_range")
        elif key == "entry_rule":
            rule = EntryRule(value)
            if position == 1 and rule is EntryRule.ADVANCED:
                raise _fail("first_round_all")
            clean[key] = rule
        elif key in ("blind", "exclude_same_province", "by_category"):
            clean[key] = bool(value)
        else:
            raise TypeError(f"unknown round setting {key!r}")
    return clean


def create_round(campaign: Campaign, *, actor, now: datetime, ip: str = "", criteria=None, **settings) -> Round:
    """The campaign's next round, being set up, with the default criteria unless others
    are given. A first round takes all submitted works; a later one by default the works
    the round before advanced. Named 初评 / 复评 / 终评 by position unless named.

    :raises RuleError: too_many_rounds, created_meanwhile, or as ``update_round``.
    """
    position = (
        db.session.scalar(sa.select(sa.func.max(Round.position)).where(Round.campaign_id == campaign.id)) or 0
    ) + 1
    if position > MAX_ROUNDS:
        raise _fail("too_many_rounds")
    settings.setdefault("name", DEFAULT_NAMES[position])
    settings.setdefault("entry_rule", EntryRule.ALL_SUBMITTED if position == 1 else EntryRule.ADVANCED)
    clean = _clean_settings(position, settings)
    specs = clean_criteria(DEFAULT_CRITERIA if criteria is None else criteria)
    round_ = Round(campaign_id=campaign.id, position=position, created_at=now, state=RoundState.DRAFT, **clean)
    round_.criteria = [
        Criterion(position=n, name=c.name, description=c.description, weight=c.weight) for n, c in enumerate(specs, 1)
    ]
    try:
        with db.session.begin_nested():
            db.session.add(round_)
    except IntegrityError:  # (campaign, position) is unique: another secretary was quicker
        raise _fail("created_meanwhile") from None
    audit.record(
        "screening.round_save",
        now=now,
        actor=actor,
        target=round_,
        ip=ip,
        created=True,
        name=round_.name,
        criteria=[[c.name, c.weight] for c in specs],
    )
    return round_


def update_round(round_: Round, *, actor, now: datetime, ip: str = "", criteria=None, **settings) -> list[str]:
    """Change a round's settings (and its criteria when given); returns what changed.

    While the round is being set up everything may change. Once it has been opened only
    its name and the disagreement threshold may: the criteria, the scale and which works
    entered are what the experts scored against, and blindness and the assignment rules
    are what the experts were assigned and shown under.

    :raises RuleError: locked_after_open, name_*, scale_range, experts_range,
        disagreement_range, first_round_all, and the criteria's codes (``clean_criteria``).
    """
    # the round's state as it stands once we hold its row: a round opened by another
    # secretary since this form was shown keeps its settings (a save waits for the open)
    assignment.lock(round_)
    db.session.refresh(round_, ["state"])
    clean = _clean_settings(round_.position, settings)
    changed = [k for k, v in clean.items() if getattr(round_, k) != v]
    specs = None if criteria is None else clean_criteria(criteria)
    current = [CriterionSpec(c.name, c.weight, c.description) for c in round_.criteria]
    criteria_changed = specs is not None and specs != current
    if round_.state is not RoundState.DRAFT and (
        criteria_changed or any(k not in CHANGEABLE_AFTER_OPEN for k in changed)
    ):
        raise _fail("locked_after_open")
    if not changed and not criteria_changed:
        return []
    for k in changed:
        setattr(round_, k, clean[k])
    if criteria_changed:
        _replace_criteria(round_, specs)
        changed.append("criteria")
    db.session.flush()
    audit.record(
        "screening.round_save",
        now=now,
        actor=actor,
        target=round_,
        ip=ip,
        changed=changed,
        **{k: _plain(clean[k]) for k in changed if k != "criteria"},
        **({"criteria": [[c.name, c.weight] for c in specs]} if criteria_changed else {}),
    )
    return changed


def _plain(value):
    return value.value if isinstance(value, EntryRule) else value


def _replace_criteria(round_: Round, specs: list[CriterionSpec]) -> None:
    """Criteria are rewritten in place, row by row: a draft round has no scores yet, and
    keeping the rows keeps their ids for anything already pointing at them."""
    rows = list(round_.criteria)
    for n, spec in enumerate(specs, 1):
        if n <= len(rows):
            row = rows[n - 1]
            row.position, row.name, row.description, row.weight = n, spec.name, spec.description, spec.weight
        else:
            round_.criteria.append(
                Criterion(position=n, name=spec.name, description=spec.description, weight=spec.weight)
            )
    for row in rows[len(specs) :]:
        round_.criteria.remove(row)


# -- Which works enter --------------------------------------------------------------------------


def _advanced_from(previous: Round) -> sa.Select:
    """The ids of the works the previous round advanced (进入下一轮, applied) in their
    current pass."""
    return (
        sa.select(Entry.work_id)
        .join(Decision, sa.and_(Decision.entry_id == Entry.id, Decision.pass_no == Entry.pass_no))
        .where(
            Entry.round_id == previous.id,
            Decision.outcome == Outcome.ADVANCE,
            Decision.applied_at.is_not(None),
        )
    )


def candidates(round_: Round) -> tuple[list[Work], list[Work]]:
    """The works that would enter the round if it opened now, and those its rule names
    but which are in no state to enter (not submitted, e.g. returned and not sent again):
    (entering, skipped), each by category then number."""
    if round_.entry_rule is EntryRule.ALL_SUBMITTED:
        named = sa.select(Work).where(Work.campaign_id == round_.campaign_id, Work.state == WorkState.SUBMITTED)
    else:
        previous = previous_round(round_)
        if previous is None:
            return [], []
        named = sa.select(Work).where(Work.id.in_(_advanced_from(previous)))
    works = list(db.session.scalars(named))
    order = {c: i for i, c in enumerate(WorkCategory)}
    works.sort(key=lambda w: (order[w.category], w.number or "", w.id))
    entering = [w for w in works if w.state is WorkState.SUBMITTED]
    return entering, [w for w in works if w.state is not WorkState.SUBMITTED]


def entered_works(round_: Round) -> list[Work]:
    """The works in the round, by category then number."""
    works = list(
        db.session.scalars(sa.select(Work).join(Entry, Entry.work_id == Work.id).where(Entry.round_id == round_.id))
    )
    order = {c: i for i, c in enumerate(WorkCategory)}
    works.sort(key=lambda w: (order[w.category], w.number or "", w.id))
    return works


def entry_count(round_: Round) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Entry).where(Entry.round_id == round_.id)) or 0


# -- Opening, closing, reopening ----------------------------------------------------------------


@dataclass(frozen=True)
class OpenResult:
    #: works entered
    entered: int
    #: works the entry rule named that were in no state to enter
    skipped: int
    #: what the automatic assignment did
    assigned: assignment.AssignResult


def latest_works_deadline(campaign: Campaign) -> date:
    """The last day any unit may still submit a work: the campaign's deadline, or the
    latest extension granted to a unit."""
    extended = db.session.scalar(
        sa.select(sa.func.max(DeadlineExtension.new_deadline)).where(
            DeadlineExtension.campaign_id == campaign.id,
            DeadlineExtension.kind == DeadlineKind.WORKS,
            DeadlineExtension.unit_id.is_not(None),
        )
    )
    return max(campaign.works_deadline, extended) if extended else campaign.works_deadline


def open_refusal(round_: Round, now: datetime) -> RuleError | None:
    """Why the round cannot open now (None: it can)."""
    if round_.state is not RoundState.DRAFT:
        return _fail("not_draft_to_open")
    # before the deadline a unit may still take its work back, or submit one: the works to
    # screen are known only after it (after the last extension granted to a unit, too)
    last_day = latest_works_deadline(round_.campaign)
    if now <= clock.end_of_day(last_day):
        return _fail("before_works_deadline", deadline=last_day.isoformat())
    try:
        clean_criteria(CriterionSpec(c.name, c.weight, c.description) for c in round_.criteria)
    except RuleError as e:
        return e
    previous = previous_round(round_)
    if previous is not None and previous.state is not RoundState.CLOSED:
        return _fail("previous_not_closed", name=previous.name)
    if previous is not None and _awaited(previous, now):
        # once this round opens the previous one's decisions are final (decisions.py): a
        # work returned for revision there would come back to a round nobody can score
        return _fail("previous_awaits_returns", name=previous.name)
    if round_.entry_rule is EntryRule.ADVANCED:
        pending = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Decision)
            .join(Entry, sa.and_(Entry.id == Decision.entry_id, Entry.pass_no == Decision.pass_no))
            .where(Entry.round_id == previous.id, Decision.applied_at.is_(None))
        )
        if pending:
            return _fail("previous_pending", name=previous.name)
    return None


def _awaited(previous: Round, now: datetime) -> int:
    """How many works the previous round still waits for: returned for revision (applied)
    and still within their day to come back, or come back and not decided on again."""
    returned = (
        sa.select(sa.func.count())
        .select_from(Decision)
        .join(Entry, sa.and_(Entry.id == Decision.entry_id, Entry.pass_no == Decision.pass_no))
        .join(Work, Work.id == Entry.work_id)
        .where(
            Entry.round_id == previous.id,
            Decision.outcome == Outcome.RETURN,
            Decision.applied_at.is_not(None),
            Work.state == WorkState.RETURNED,
            Decision.reopen_until >= clock.beijing_today(now),
        )
    )
    undecided_again = (
        sa.select(sa.func.count())
        .select_from(Entry)
        .where(
            Entry.round_id == previous.id,
            Entry.pass_no > 1,
            ~sa.exists().where(
                Decision.entry_id == Entry.id, Decision.pass_no == Entry.pass_no, Decision.applied_at.is_not(None)
            ),
        )
    )
    return (db.session.scalar(returned) or 0) + (db.session.scalar(undecided_again) or 0)


def open_round(round_: Round, *, actor, now: datetime, ip: str = "") -> OpenResult:
    """Open the round: the works its rule names enter, the automatic assignment gives
    each its experts, and the blind copies of their files are asked for.

    :raises RuleError: not_draft_to_open, before_works_deadline, the criteria's codes,
        previous_not_closed, previous_pending, no_works.
    """
    refusal = open_refusal(round_, now)
    if refusal is not None:
        raise refusal
    entering, skipped = candidates(round_)
    if not entering:
        raise _fail("no_works")
    # one conditional update: two secretaries pressing "open" together open it once
    opened = db.session.execute(
        sa.update(Round)
        .where(Round.id == round_.id, Round.state == RoundState.DRAFT)
        .values(state=RoundState.OPEN, opened_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if opened != 1:
        raise _fail("not_draft_to_open")
    db.session.refresh(round_)
    for work in entering:
        db.session.add(Entry(round_id=round_.id, work_id=work.id, pass_no=1, entered_at=now))
    db.session.flush()
    assigned = assignment.assign(round_, now=now, actor=actor)
    blind.request_copies(round_, now=now, actor=actor)
    audit.record(
        "screening.round_open",
        now=now,
        actor=actor,
        target=round_,
        ip=ip,
        name=round_.name,
        entered=len(entering),
        skipped=[w.number or w.id for w in skipped],
        assigned=assigned.added,
        unfilled=len(assigned.unfilled),
    )
    return OpenResult(len(entering), len(skipped), assigned)


def close_round(round_: Round, *, actor, now: datetime, ip: str = "") -> None:
    """End the scoring: scores become final (the results and decisions go on).

    :raises RuleError: not_open.
    """
    _move(round_, RoundState.OPEN, RoundState.CLOSED, "not_open", closed_at=now)
    audit.record("screening.round_close", now=now, actor=actor, target=round_, ip=ip, name=round_.name)


def reopen_refusal(round_: Round) -> RuleError | None:
    """Why the round cannot be opened again (None: it can)."""
    if round_.state is not RoundState.CLOSED:
        return _fail("not_closed")
    later = db.session.scalar(
        sa.select(Round.id).where(
            Round.campaign_id == round_.campaign_id,
            Round.position > round_.position,
            Round.state != RoundState.DRAFT,
        )
    )
    return _fail("later_round_open") if later is not None else None


def reopen_round(round_: Round, *, actor, now: datetime, ip: str = "") -> None:
    """Open a closed round again (a work sent again after 退回修改 to be scored, an
    expert who still has to score): experts may score and change scores again. Any
    entry still short of experts is filled up. Not once a later round has opened: its
    works came from this round's results.

    :raises RuleError: not_closed, later_round_open.
    """
    refusal = reopen_refusal(round_)
    if refusal is not None:
        raise refusal
    _move(round_, RoundState.CLOSED, RoundState.OPEN, "not_closed", closed_at=None)
    assigned = assignment.assign(round_, now=now, actor=actor)
    blind.request_copies(round_, now=now, actor=actor)
    audit.record(
        "screening.round_open",
        now=now,
        actor=actor,
        target=round_,
        ip=ip,
        name=round_.name,
        reopened=True,
        assigned=assigned.added,
    )


def _move(round_: Round, from_: RoundState, to: RoundState, code: str, **values) -> None:
    moved = db.session.execute(
        sa.update(Round)
        .where(Round.id == round_.id, Round.state == from_)
        .values(state=to, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise _fail(code)
    db.session.refresh(round_)
