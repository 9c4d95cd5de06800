"""Who scores which work: the automatic assignment, conflicts of interest, and the
secretariat's changes by hand.

Each entry of a round gets ``Round.experts_per_work`` experts for its current pass. An
expert never scores a work when (``conflict_reason``):

- ``own_unit``: the expert works for the submitting unit: the expert's credit code is the
  unit's when the expert has one, else the two names are the same once normalised
  (NFKC, letters and digits only, case-folded: ``name_key``);
- ``recommender``: the expert's unit recommended the work. A recommendation
  (推荐单位意见) is given by the market regulation department of the unit's province
  through one of its staff: the staff member's organisation and the department's own
  name (``recommendations.recommender_name``) both count, compared by name;
- ``same_province``: the round excludes experts of the work's province
  (``Round.exclude_same_province``) and the expert's account is of that province;
- ``category``: the round assigns by category (``Round.by_category``) and the expert does
  not score the work's category.

Besides these, an expert who declared a conflict on an entry is never assigned to it again
(in any pass), and the automatic assignment does not give back an expert the secretariat
removed from it (the secretariat may, by hand).

The algorithm (``assign``) balances loads, counted over the whole round with the
assignments already made: the entries with the fewest eligible experts to spare go first,
and each takes the eligible experts with the lowest load. Without conflicts every load is
within one of every other; conflicts may make that impossible, and the entries that cannot
get enough eligible experts are reported (``unfilled``). The rules are checked in memory
on facts read in a few queries (no query per pair), and the new assignments go in with one
bulk insert: assigning 2,000 works to 40 experts costs about ten times 200 works
(bench/screening.py).

Every change of a round's assignments first locks the round's row (PostgreSQL; SQLite
runs one write transaction at a time already), so that an automatic assignment, a declared
conflict and a change by hand never both fill the same place.

Rules as plain functions: each writes its audit entry; the caller commits.
"""

from __future__ import annotations

import heapq
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased, contains_eager

from experience.accounts.models import Role, User
from experience.core import audit
from experience.core.errors import RuleError
from experience.extensions import db
from experience.screening.models import Assignment, AssignmentState, Decision, Entry, Expert, Round, RoundState
from experience.units import credit_code as credit_codes
from experience.units.models import Unit
from experience.works.models import Recommendation, RecommendationState, Work
from experience.works.recommendations import recommender_name

ACTIVE = AssignmentState.ACTIVE

#: why an expert may not score a work, in the reader's words (conflict_reason's codes)
REASONS = {
    "own_unit": _l("works for the submitting unit"),
    "recommender": _l("works for the unit that recommended the work"),
    "same_province": _l("is of the work's province"),
    "category": _l("does not score this category"),
}

MESSAGES = {
    "round_not_open": _l("Assignments change only while the round is open for scoring."),
    "ended": _l("This assignment has already ended; nothing was changed."),
    "not_yours": _l("Only the expert of this assignment can declare a conflict of interest on it."),
    "conflict_reason_required": _l("Please say briefly why you have a conflict of interest with this work."),
    "remove_reason_required": _l("Please give the reason for removing the expert from this work."),
    "reason_too_long": _l("The reason may have at most %(max)s characters."),
    "not_an_expert": _l("Only an active expert can be assigned to a work."),
    "already_assigned": _l("%(name)s is already assigned to this work."),
    "declared_conflict": _l(
        "%(name)s declared a conflict of interest with this work and cannot be assigned to it again."
    ),
    "ineligible": _l("%(name)s cannot score this work: the expert %(reason)s."),
}

#: a declared conflict's or a removal's reason, at most (characters)
REASON_MAX_CHARS = 500


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


def name_key(name: str | None) -> str:
    """A unit's name as compared: NFKC (full-width letters and brackets become ASCII),
    letters and digits only, case-folded, so that 中国质量认证中心（CQC） and
    "中国质量认证中心 (cqc)" are the same unit."""
    text = unicodedata.normalize("NFKC", name or "").casefold()
    return "".join(c for c in text if c.isalnum())


# -- Facts the rules read ------------------------------------------------------------------


@dataclass(frozen=True)
class ExpertFacts:
    id: int
    credit_code: str
    #: name_key of the expert's unit
    unit_key: str
    province_code: str | None
    #: WorkCategory values the expert scores; empty: all
    categories: frozenset[str]


@dataclass(frozen=True)
class WorkFacts:
    #: the WorkCategory's value
    category: str
    unit_code: str
    unit_key: str
    province_code: str
    #: name_keys of the units that recommended the work
    recommenders: frozenset[str]


def _expert_facts(expert: Expert, user: User) -> ExpertFacts:
    return ExpertFacts(
        id=user.id,
        credit_code=credit_codes.normalize(expert.credit_code),
        unit_key=name_key(user.organisation),
        province_code=user.province_code,
        categories=frozenset(expert.categories or ()),
    )


class _Recommenders:
    """The recommending units' name keys; the department's name is looked up once per province."""

    def __init__(self):
        self._department: dict[str, str] = {}

    def keys(self, province_code: str, staff_organisation: str | None) -> set[str]:
        if province_code not in self._department:
            self._department[province_code] = name_key(recommender_name(province_code))
        return {k for k in (self._department[province_code], name_key(staff_organisation)) if k}


def _reason(expert: ExpertFacts, work: WorkFacts, same_province: bool, by_category: bool) -> str | None:
    """The one statement of the rules, on facts in memory (``conflict_reason`` explains);
    ``same_province`` and ``by_category`` are the round's settings."""
    if expert.credit_code:
        if expert.credit_code == work.unit_code:
            return "own_unit"
    elif expert.unit_key and expert.unit_key == work.unit_key:
        return "own_unit"
    if expert.unit_key and expert.unit_key in work.recommenders:
        return "recommender"
    if same_province and expert.province_code == work.province_code:
        return "same_province"
    if by_category and expert.categories and work.category not in expert.categories:
        return "category"
    return None


def conflict_reason(expert: Expert, work: Work, round_: Round) -> str | None:
    """Why ``expert`` may not score ``work`` in ``round_`` ("own_unit", "recommender",
    "same_province", "category"), or None when the expert may."""
    recommenders = _Recommenders()
    keys: set[str] = set()
    for r in work.recommendations:
        if r.state is RecommendationState.RECOMMENDED:
            keys |= recommenders.keys(r.province_code, r.decided_by.organisation if r.decided_by else "")
    facts = WorkFacts(
        category=work.category.value,
        unit_code=credit_codes.normalize(work.unit.credit_code),
        unit_key=name_key(work.unit.name),
        province_code=work.unit.province_code,
        recommenders=frozenset(keys),
    )
    return _reason(_expert_facts(expert, expert.user), facts, round_.exclude_same_province, round_.by_category)


def _decided(entry) -> sa.ColumnElement[bool]:
    """The entry's current pass has an applied decision: its experts are no longer wanted."""
    return sa.exists().where(
        Decision.entry_id == entry.id, Decision.pass_no == entry.pass_no, Decision.applied_at.is_not(None)
    )


def active_experts(round_: Round | None = None) -> list[Expert]:
    """The experts who may be assigned: reviewer accounts that are active, by id. (Every
    round draws on the same experts; ``round_`` is accepted for the callers that have one.)"""
    stmt = (
        sa.select(Expert)
        .join(Expert.user)
        .options(contains_eager(Expert.user))
        .where(User.role == Role.REVIEWER, User.active.is_(True))
        .order_by(Expert.user_id)
    )
    return list(db.session.scalars(stmt))


# -- The round's assignments, read once -----------------------------------------------------


@dataclass
class _Place:
    """An entry's current pass, as the algorithm sees it."""

    entry_id: int
    pass_no: int
    facts: WorkFacts
    #: experts with an active assignment on this pass
    assigned: set[int] = field(default_factory=set)
    #: experts who declared a conflict on the entry, or whom the secretariat removed from it
    barred: set[int] = field(default_factory=set)
    declared: set[int] = field(default_factory=set)


class Pool:
    """What an assignment needs of a round, read in four queries: the active experts, the
    entries' facts (optionally only some entries), their assignments, and every expert's
    load over the whole round."""

    def __init__(self, round_: Round, entry_ids: Iterable[int] | None = None):
        self.round = round_
        # the settings the rules read, out of the ORM object: read for every pair
        self.rules = (round_.exclude_same_province, round_.by_category)
        self.wanted = round_.experts_per_work
        rows = db.session.execute(
            sa.select(Expert, User)
            .join(User, User.id == Expert.user_id)
            .where(User.role == Role.REVIEWER, User.active.is_(True))
        ).all()
        self.experts: dict[int, ExpertFacts] = {u.id: _expert_facts(e, u) for e, u in rows}
        self.users: dict[int, User] = {u.id: u for _, u in rows}

        only = None if entry_ids is None else list(entry_ids)
        entries = (
            sa.select(
                Entry.id, Entry.pass_no, Entry.work_id, Work.category, Unit.credit_code, Unit.name, Unit.province_code
            )
            .join(Work, Work.id == Entry.work_id)
            .join(Unit, Unit.id == Work.unit_id)
            # a work decided for good on its current pass needs no more experts
            .where(Entry.round_id == round_.id, ~_decided(Entry))
        )
        if only is not None:
            entries = entries.where(Entry.id.in_(only))
        entry_rows = db.session.execute(entries).all()

        # the works' recommenders, for the same entries
        decider = aliased(User)
        recs = (
            sa.select(Recommendation.work_id, Recommendation.province_code, decider.organisation)
            .join(Entry, Entry.work_id == Recommendation.work_id)
            .outerjoin(decider, decider.id == Recommendation.decided_by_id)
            .where(Entry.round_id == round_.id, Recommendation.state == RecommendationState.RECOMMENDED)
        )
        if only is not None:
            recs = recs.where(Entry.id.in_(only))
        names = _Recommenders()
        recommended: dict[int, set[str]] = defaultdict(set)
        for work_id, province_code, organisation in db.session.execute(recs):
            recommended[work_id] |= names.keys(province_code, organisation)

        self.places: dict[int, _Place] = {}
        for entry_id, pass_no, work_id, category, code, unit_name, province_code in entry_rows:
            facts = WorkFacts(
                category=category.value,
                unit_code=credit_codes.normalize(code),
                unit_key=name_key(unit_name),
                province_code=province_code,
                recommenders=frozenset(recommended.get(work_id, ())),
            )
            self.places[entry_id] = _Place(entry_id, pass_no, facts)

        # loads over the whole round; the entries' own assignments in detail
        self.load: Counter[int] = Counter({expert_id: 0 for expert_id in self.experts})
        held = sa.select(Assignment.entry_id, Assignment.expert_id, Assignment.pass_no, Assignment.state).where(
            Assignment.round_id == round_.id,
            Assignment.state.in_((ACTIVE, AssignmentState.CONFLICT, AssignmentState.REMOVED)),
        )
        for entry_id, expert_id, pass_no, state in db.session.execute(held):
            place = self.places.get(entry_id)
            if state is ACTIVE:
                self.load[expert_id] += 1
                if place is not None and pass_no == place.pass_no:
                    place.assigned.add(expert_id)
            elif place is not None:
                place.barred.add(expert_id)
                if state is AssignmentState.CONFLICT:
                    place.declared.add(expert_id)

    def reason(self, expert_id: int, entry_id: int) -> str | None:
        return _reason(self.experts[expert_id], self.places[entry_id].facts, *self.rules)

    def eligible(self, entry_id: int, *, by_hand: bool = False) -> list[int]:
        """The experts who may be added to the entry now: not assigned to it already, no
        conflict of any kind; ``by_hand`` admits those the secretariat removed before."""
        place = self.places.get(entry_id)
        if place is None:  # decided for good on its current pass: nobody is added any more
            return []
        barred = place.declared if by_hand else place.barred
        facts, rules = place.facts, self.rules
        return [
            e
            for e, expert in self.experts.items()
            if e not in place.assigned and e not in barred and _reason(expert, facts, *rules) is None
        ]

    def missing(self, entry_id: int) -> int:
        return max(0, self.wanted - len(self.places[entry_id].assigned))

    def fill(self, *, now: datetime) -> tuple[list[dict], dict[int, int]]:
        """Choose experts for every place that lacks some. Returns the rows to insert and
        {entry id: places still empty} for the entries that could not be filled.

        Which entries lack experts does not depend on the order (nothing limits an
        expert's load); the balance does. The entries with almost no expert to spare
        choose first, the others in turn, so that experts who may score only some works
        (a category, another province) are not left behind; each takes the least loaded
        of its eligible experts. Then ``_balance`` moves new assignments from the most to
        the least loaded experts wherever the rules allow."""
        wanted = []
        for entry_id in self.places:
            need = self.missing(entry_id)
            if need:
                candidates = self.eligible(entry_id)
                spare = len(candidates) - need
                wanted.append((min(spare, self.wanted), entry_id, need, candidates))
        wanted.sort(key=lambda w: (w[0], w[1]))
        load = self.load
        chosen: dict[int, list[int]] = {}
        short: dict[int, int] = {}
        options: dict[int, list[int]] = {}
        for _, entry_id, need, candidates in wanted:
            place = self.places[entry_id]
            picked = heapq.nsmallest(need, candidates, key=lambda e: (load[e], e))
            for expert_id in picked:
                load[expert_id] += 1
                place.assigned.add(expert_id)
            chosen[entry_id], options[entry_id] = picked, candidates
            if len(picked) < need:
                short[entry_id] = need - len(picked)
        self._balance(chosen, options)
        rows = [
            dict(
                entry_id=entry_id,
                round_id=self.round.id,
                expert_id=expert_id,
                pass_no=self.places[entry_id].pass_no,
                state=ACTIVE,
                assigned_at=now,
                assigned_by_id=None,
            )
            for entry_id, picked in chosen.items()
            for expert_id in picked
        ]
        return rows, short

    def _balance(self, chosen: dict[int, list[int]], options: dict[int, list[int]]) -> None:
        """Move new assignments (never those made before: an expert may have scored them)
        from a most loaded expert to a least loaded eligible one, until loads differ by at
        most one or no move is left. A move goes only to an expert with at least two fewer,
        so the sum of squared loads falls with each and this ends."""
        load = self.load
        given: dict[int, set[int]] = defaultdict(set)
        for entry_id, picked in chosen.items():
            for expert_id in picked:
                given[expert_id].add(entry_id)
        while True:
            by_load = sorted(self.experts, key=load.__getitem__)
            lowest = load[by_load[0]] if by_load else 0
            move = None
            for source in reversed(by_load):
                if load[source] - lowest < 2:
                    break
                for entry_id in given[source]:
                    assigned, ceiling = self.places[entry_id].assigned, load[source] - 2
                    target = min(
                        (e for e in options[entry_id] if e not in assigned and load[e] <= ceiling),
                        key=lambda e: (load[e], e),
                        default=None,
                    )
                    if target is not None:
                        move = (source, target, entry_id)
                        break
                if move:
                    break
            if move is None:
                return
            source, target, entry_id = move
            place = self.places[entry_id]
            place.assigned.discard(source)
            place.assigned.add(target)
            load[source] -= 1
            load[target] += 1
            given[source].discard(entry_id)
            given[target].add(entry_id)
            chosen[entry_id] = [target if e == source else e for e in chosen[entry_id]]


# -- The automatic assignment ----------------------------------------------------------------


@dataclass
class AssignResult:
    #: assignments made
    added: int
    #: entries still lacking experts, and how many each lacks
    unfilled: list[tuple[Entry, int]]


def lock(round_: Round) -> None:
    """Hold the round's row until the transaction ends: changes to its assignments queue."""
    db.session.execute(sa.select(Round.id).where(Round.id == round_.id).with_for_update())


def _entries(ids: Iterable[int]) -> dict[int, Entry]:
    ids = list(ids)
    if not ids:
        return {}
    stmt = sa.select(Entry).where(Entry.id.in_(ids))
    return {e.id: e for e in db.session.scalars(stmt)}


def assign(
    round_: Round, *, now: datetime, actor=None, ip: str = "", entry_ids: Iterable[int] | None = None
) -> AssignResult:
    """Fill every entry's current pass up to ``experts_per_work`` with eligible active
    experts, loads balanced over the round. Running it again adds nothing unless something
    changed (an expert added, a conflict declared, an entry re-entered). Any state of the
    round: opening it and a work's re-entry call it; the secretariat's button is
    ``assign_now``. ``entry_ids``: fill only these entries (a re-entry), loads still counted
    over the whole round."""
    lock(round_)
    pool = Pool(round_, entry_ids)
    rows, short = pool.fill(now=now)
    if rows:
        db.session.execute(sa.insert(Assignment.__table__), rows)
        audit.record(
            "screening.assign",
            now=now,
            actor=actor,
            actor_name="" if actor is not None else "system",
            target=round_,
            ip=ip,
            assigned=len(rows),
            unfilled=len(short),
        )
    found = _entries(short)
    return AssignResult(added=len(rows), unfilled=[(found[i], n) for i, n in sorted(short.items())])


def assign_now(round_: Round, *, actor, now: datetime, ip: str = "") -> AssignResult:
    """The secretariat's "assign now": only while the round is open.

    :raises RuleError: round_not_open.
    """
    if round_.state is not RoundState.OPEN:
        raise _fail("round_not_open")
    return assign(round_, now=now, actor=actor, ip=ip)


def unfilled(round_: Round) -> list[tuple[Entry, int]]:
    """The entries whose current pass has fewer active experts than the round wants, with
    how many each lacks, in the order of their works' numbers."""
    count = sa.func.count(Assignment.id)
    stmt = (
        sa.select(Entry, count)
        .join(Work, Work.id == Entry.work_id)
        .outerjoin(
            Assignment,
            sa.and_(Assignment.entry_id == Entry.id, Assignment.pass_no == Entry.pass_no, Assignment.state == ACTIVE),
        )
        .where(Entry.round_id == round_.id, ~_decided(Entry))
        .group_by(Entry.id, Work.number)
        .having(count < round_.experts_per_work)
        .order_by(Work.number, Entry.id)
    )
    return [(entry, round_.experts_per_work - n) for entry, n in db.session.execute(stmt)]


# -- Conflicts and changes by hand ------------------------------------------------------------


def _reason_text(reason: str | None, required: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise _fail(required)
    if len(text) > REASON_MAX_CHARS:
        raise _fail("reason_too_long", max=REASON_MAX_CHARS)
    return text


def _open(round_: Round) -> None:
    if round_.state is not RoundState.OPEN:
        raise _fail("round_not_open")


def _end(assignment: Assignment, state: AssignmentState, reason: str, now: datetime) -> None:
    """End an active assignment once: a second click, or a removal racing a declared
    conflict, finds it ended."""
    done = db.session.execute(
        sa.update(Assignment)
        .where(Assignment.id == assignment.id, Assignment.state == ACTIVE)
        .values(state=state, end_reason=reason, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise _fail("ended")
    db.session.refresh(assignment)


def _who(user: User) -> str:
    return user.display_name or user.username


def declare_conflict(assignment: Assignment, reason: str, *, actor, now: datetime, ip: str = "") -> Assignment | None:
    """The expert declares a conflict of interest with the work: the assignment ends
    (``conflict``, with the reason, its scores kept as history) and the least loaded
    eligible expert takes the place. Returns the replacement (None when nobody is
    eligible: the entry is then listed as lacking experts).

    :raises RuleError: not_yours, conflict_reason_required, reason_too_long,
        round_not_open, ended.
    """
    if actor is None or actor.id != assignment.expert_id:
        raise _fail("not_yours")
    text = _reason_text(reason, "conflict_reason_required")
    round_ = assignment.round
    _open(round_)
    lock(round_)
    _end(assignment, AssignmentState.CONFLICT, text, now)
    entry = assignment.entry
    pool = Pool(round_, [entry.id])
    # the declarer's place, and any other the entry lacked
    made = [Assignment(**row) for row in pool.fill(now=now)[0]]
    db.session.add_all(made)
    db.session.flush()
    replacement = made[0] if made else None
    audit.record(
        "screening.conflict",
        now=now,
        actor=actor,
        target=entry.work,
        ip=ip,
        reason=text,
        round=round_.id,
        number=entry.work.number,
        replacement=_who(pool.users[replacement.expert_id]) if replacement else "",
    )
    return replacement


def add_by_hand(entry: Entry, expert_user: User, *, actor, now: datetime, ip: str = "") -> Assignment:
    """The secretariat assigns an expert to an entry's current pass, beyond the round's
    number if it wishes; the rules of conflict still hold. An expert it removed before
    may be added again; one who declared a conflict may not.

    :raises RuleError: round_not_open, not_an_expert, already_assigned,
        declared_conflict, ineligible.
    """
    round_ = entry.round
    _open(round_)
    lock(round_)
    pool = Pool(round_, [entry.id])
    if expert_user is None or expert_user.id not in pool.experts:
        raise _fail("not_an_expert")
    name = _who(expert_user)
    place = pool.places[entry.id]
    if expert_user.id in place.assigned:
        raise _fail("already_assigned", name=name)
    if expert_user.id in place.declared:
        raise _fail("declared_conflict", name=name)
    reason = pool.reason(expert_user.id, entry.id)
    if reason is not None:
        raise _fail("ineligible", name=name, reason=REASONS[reason])
    assignment = Assignment(
        entry_id=entry.id,
        round_id=round_.id,
        expert_id=expert_user.id,
        pass_no=entry.pass_no,
        state=ACTIVE,
        assigned_at=now,
        assigned_by_id=actor.id,
    )
    db.session.add(assignment)
    db.session.flush()
    audit.record(
        "screening.assignment_add",
        now=now,
        actor=actor,
        target=entry.work,
        ip=ip,
        expert=expert_user.username,
        round=round_.id,
        number=entry.work.number,
    )
    return assignment


def remove_by_hand(assignment: Assignment, reason: str, *, actor, now: datetime, ip: str = "") -> None:
    """The secretariat takes an expert off a work, with the reason (kept on the
    assignment, and its scores as history). The place is not filled again by itself: the
    entry shows as lacking an expert until the secretariat adds one or assigns again,
    which never brings back the expert removed.

    :raises RuleError: remove_reason_required, reason_too_long, round_not_open, ended.
    """
    text = _reason_text(reason, "remove_reason_required")
    round_ = assignment.round
    _open(round_)
    lock(round_)
    _end(assignment, AssignmentState.REMOVED, text, now)
    work = assignment.entry.work
    audit.record(
        "screening.assignment_remove",
        now=now,
        actor=actor,
        target=work,
        ip=ip,
        expert=assignment.expert.username,
        reason=text,
        round=round_.id,
        number=work.number,
    )


def release(expert_user: User, *, reason: str, now: datetime) -> int:
    """An expert made inactive: their unscored assignments in open rounds end (REMOVED,
    with ``reason``) and each round gives those works to other experts. Scored ones stay:
    the scores were given. Returns how many were released."""
    held = list(
        db.session.scalars(
            sa.select(Assignment)
            .join(Round, Round.id == Assignment.round_id)
            .where(
                Assignment.expert_id == expert_user.id,
                Assignment.state == ACTIVE,
                Assignment.scored_at.is_(None),
                Round.state == RoundState.OPEN,
            )
        )
    )
    for round_id in sorted({a.round_id for a in held}):
        round_ = db.session.get(Round, round_id)
        lock(round_)
        mine = [a for a in held if a.round_id == round_id]
        for a in mine:
            _end(a, AssignmentState.REMOVED, reason, now)
        db.session.flush()
        assign(round_, now=now, entry_ids=[a.entry_id for a in mine])
    return len(held)


# the details' names in the audit log (core knows no capability's keys)
for _key, _label in (
    ("expert", _l("Expert")),
    ("replacement", _l("Replacement expert")),
    ("round", _l("Screening round")),
    ("assigned", _l("Assignments made")),
    ("unfilled", _l("Works lacking experts")),
):
    audit.DETAIL_LABELS.setdefault(_key, _label)
