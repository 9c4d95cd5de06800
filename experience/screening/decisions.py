"""Decisions on the works of a round, held pending and applied together; and what happens
when a work returned for revision (退回修改) is sent again.

The secretariat decides per entry (进入下一轮 / 入选 / 未入选 / 退回修改). A decision
belongs to the entry's current pass and stays *pending*: it can be changed, and nobody
outside the secretariat hears of it. One bulk action (``apply_pending``) applies every
pending decision of the round at once, after a preview that lists how many works each
outcome changes and their numbers; it refuses when the pending decisions are no longer
those the preview showed. Applying stamps the decisions (an applied one never changes),
returns the works to be revised through the collection's own return (``works.submission
.send_back``, which tells the unit), and leaves the other units their notices.

A returned work that its unit submits again re-enters the same round (``_reenter``,
listening to ``works.submission.resubmitted``): the entry's next pass, the earlier
assignments kept with their scores as history, the same experts again where they are
still eligible, others to fill up, and blind copies of the new files.

Rules as plain functions; each writes its audit entry, and the caller commits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from experience.campaigns.models import Campaign
from experience.core import audit, clock
from experience.core.errors import RuleError
from experience.extensions import db
from experience.notices.services import notify
from experience.screening import assignment, blind
from experience.screening.models import (
    Assignment,
    AssignmentState,
    Decision,
    Entry,
    Expert,
    Outcome,
    Round,
    RoundState,
)
from experience.works import submission
from experience.works.models import Work, WorkCategory, WorkState

#: longest reason kept (the unit reads a return's reason in its notice and on its work)
REASON_MAX = 1000

MESSAGES = {
    "round_draft": _l("The round is still being set up: there is nothing to decide yet."),
    "already_applied": _l("The decision on this work was already applied and cannot be changed."),
    "reason_required": _l("Please give the reason for returning the work: its unit reads it."),
    "reason_too_long": _l("The reason is too long (at most %(max)s characters)."),
    "reopen_until_required": _l("Please give the last day on which the unit may send the work again."),
    "reopen_past": _l("The last day to send the work again must come after today (Beijing time)."),
    "not_submitted": _l("Only a submitted work can be returned for revision."),
    "pass_changed": _l(
        "The work was sent again after a return in the meantime: please look at it again before deciding."
    ),
    "decided_meanwhile": _l("Someone else decided on this work at the same moment: please look at it again."),
    "nothing_pending": _l("There are no pending decisions to apply."),
    "decisions_changed": _l("The decisions changed since you looked: please check the list again before applying."),
    "apply_failed": _l("The work %(number)s could not be returned: %(error)s"),
    "later_round_open": _l("A later round has opened: the decisions of this round can no longer change."),
}

#: the unit's notice when a decision on its work is applied (a return: the collection's
#: own "work_returned", sent by send_back)
NOTICE_KINDS = {
    Outcome.ADVANCE: "screening_advanced",
    Outcome.SELECTED: "screening_selected",
    Outcome.NOT_SELECTED: "screening_not_selected",
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


# -- Deciding --------------------------------------------------------------------------------


def current_decision(entry: Entry) -> Decision | None:
    """The decision on the entry's current pass, pending or applied."""
    return db.session.scalar(
        sa.select(Decision).where(Decision.entry_id == entry.id, Decision.pass_no == entry.pass_no)
    )


def decide(
    entry: Entry,
    outcome: Outcome,
    reason: str,
    reopen_until: date | None,
    *,
    actor,
    now: datetime,
    ip: str = "",
    pass_no: int | None = None,
) -> Decision:
    """Decide on the entry's current pass, or change the pending decision on it.

    :param reopen_until: 退回修改 only: the last Beijing day the unit may send the work
        again (ignored for the other outcomes).
    :param pass_no: the pass the deciding page showed; refused when the work re-entered
        since.
    :raises RuleError: round_draft, later_round_open, pass_changed, already_applied, reason_required,
        reason_too_long, reopen_until_required, reopen_past, not_submitted,
        decided_meanwhile.
    """
    _check_may_decide(entry.round)
    if pass_no is not None and pass_no != entry.pass_no:
        raise _fail("pass_changed")
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise _fail("reason_too_long", max=REASON_MAX)
    if outcome is Outcome.RETURN:
        _check_return(entry, reason, reopen_until, now)
    else:
        reopen_until = None
    decision = current_decision(entry)
    if decision is not None and not decision.pending:
        raise _fail("already_applied")
    if decision is None:
        decision = Decision(entry_id=entry.id, pass_no=entry.pass_no)
        decision.entry = entry
        try:
            with db.session.begin_nested():
                _fill(decision, outcome, reason, reopen_until, actor, now)
                db.session.add(decision)
        except IntegrityError:  # another secretary's first decision on this pass came first
            raise _fail("decided_meanwhile") from None
    else:
        # only while still pending, as the database sees it: an apply committed since this
        # request read the decision leaves it alone
        changed = db.session.execute(
            sa.update(Decision)
            .where(Decision.id == decision.id, Decision.applied_at.is_(None))
            .values(outcome=outcome, reason=reason, reopen_until=reopen_until, decided_by_id=actor.id, decided_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            raise _fail("already_applied")
        db.session.refresh(decision)
    audit.record(
        "screening.decide",
        now=now,
        actor=actor,
        target=entry,
        ip=ip,
        number=entry.work.number,
        pass_no=entry.pass_no,
        outcome=outcome.value,
        reason=reason,
        reopen_until=reopen_until.isoformat() if reopen_until else None,
    )
    return decision


def _check_may_decide(round_: Round) -> None:
    """Decisions are made once a round has opened, and stay open to change (pending) or to
    apply until a later round opens: that round has taken the works as they stood.

    :raises RuleError: round_draft, later_round_open.
    """
    if round_.state is RoundState.DRAFT:
        raise _fail("round_draft")
    later = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Round)
        .where(
            Round.campaign_id == round_.campaign_id,
            Round.position > round_.position,
            Round.state != RoundState.DRAFT,
        )
    )
    if later:
        raise _fail("later_round_open")


def _check_return(entry: Entry, reason: str, reopen_until: date | None, now: datetime) -> None:
    """退回修改 is the collection's return: a reason for the unit, a day still to come,
    and a work that is with the secretariat."""
    if not reason:
        raise _fail("reason_required")
    if reopen_until is None:
        raise _fail("reopen_until_required")
    if reopen_until <= clock.beijing_today(now):
        raise _fail("reopen_past")
    if entry.work.state is not WorkState.SUBMITTED:
        raise _fail("not_submitted")


def _fill(decision: Decision, outcome: Outcome, reason: str, reopen_until: date | None, actor, now: datetime):
    decision.outcome, decision.reason, decision.reopen_until = outcome, reason, reopen_until
    decision.decided_by_id, decision.decided_at = actor.id, now


def undecide(entry: Entry, *, actor, now: datetime, ip: str = "", pass_no: int | None = None) -> bool:
    """Take back the pending decision on the entry's current pass (none is then pending).

    :returns: whether there was one
    :raises RuleError: round_draft, later_round_open, pass_changed, already_applied.
    """
    _check_may_decide(entry.round)
    if pass_no is not None and pass_no != entry.pass_no:
        raise _fail("pass_changed")
    decision = current_decision(entry)
    if decision is None:
        return False
    if not decision.pending:
        raise _fail("already_applied")
    deleted = db.session.execute(
        sa.delete(Decision)
        .where(Decision.id == decision.id, Decision.applied_at.is_(None))
        .execution_options(synchronize_session=False)
    ).rowcount
    if deleted != 1:  # applied meanwhile
        raise _fail("already_applied")
    db.session.expunge(decision)
    audit.record(
        "screening.decide",
        now=now,
        actor=actor,
        target=entry,
        ip=ip,
        number=entry.work.number,
        pass_no=entry.pass_no,
        outcome=None,
    )
    return True


# -- Applying together -------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """What applying the round's pending decisions would change, as shown before it runs."""

    #: pending decisions of the current passes, by outcome then work number
    decisions: list[Decision]
    #: a short hash of every pending decision's content: a decision changed in place
    #: (same id, another outcome) changes it too
    digest: str
    #: decisions that would be refused now, with why (a return whose day has passed…)
    problems: list[tuple[Decision, str]]

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(d.id for d in self.decisions)

    @property
    def count(self) -> int:
        return len(self.decisions)

    def by_outcome(self) -> list[tuple[Outcome, list[Decision]]]:
        """Each outcome with a pending decision, in Outcome's order, with its decisions."""
        groups = [(o, [d for d in self.decisions if d.outcome is o]) for o in Outcome]
        return [(o, ds) for o, ds in groups if ds]


def _pending(round_: Round, *, lock: bool = False) -> list[Decision]:
    stmt = (
        sa.select(Decision)
        .join(Entry, sa.and_(Entry.id == Decision.entry_id, Entry.pass_no == Decision.pass_no))
        .where(Entry.round_id == round_.id, Decision.applied_at.is_(None))
        .options(joinedload(Decision.entry).joinedload(Entry.work).joinedload(Work.unit))
    )
    if lock:
        stmt = stmt.with_for_update(of=Decision)
    rows = list(db.session.scalars(stmt).unique())
    order = {o: i for i, o in enumerate(Outcome)}
    rows.sort(key=lambda d: (order[d.outcome], d.entry.work.number or "", d.id))
    return rows


def _digest(decisions: list[Decision]) -> str:
    parts = sorted(f"{d.id}|{d.entry_id}|{d.pass_no}|{d.outcome.value}|{d.reopen_until}|{d.reason}" for d in decisions)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _problem(decision: Decision, now: datetime) -> str | None:
    if decision.outcome is not Outcome.RETURN:
        return None
    if decision.entry.work.state is not WorkState.SUBMITTED:
        return str(MESSAGES["not_submitted"])
    if decision.reopen_until < clock.beijing_today(now):
        return str(MESSAGES["reopen_past"])
    return None


def preview(round_: Round, *, now: datetime | None = None) -> Preview:
    """The round's pending decisions, and (given ``now``) those that would be refused."""
    decisions = _pending(round_)
    problems = []
    if now is not None:
        problems = [(d, p) for d in decisions if (p := _problem(d, now)) is not None]
    return Preview(decisions=decisions, digest=_digest(decisions), problems=problems)


def apply_pending(
    round_: Round, *, actor, now: datetime, expected: set[int], digest: str | None = None, ip: str = ""
) -> int:
    """Apply every pending decision of the round together, as the preview showed them.

    A return goes through the collection's return (the unit is told, with the reason and
    its day); the other outcomes leave the unit a notice. Nothing is applied unless all
    are: the caller rolls back on a RuleError.

    :param expected: the ids of the decisions the preview showed
    :param digest: the preview's digest, if it had one: also refuses a decision changed in place
    :returns: how many decisions were applied
    :raises RuleError: round_draft, later_round_open, nothing_pending, decisions_changed,
        apply_failed.
    """
    _check_may_decide(round_)
    decisions = _pending(round_, lock=True)
    if not decisions and not expected:
        raise _fail("nothing_pending")
    ids = {d.id for d in decisions}
    if ids != set(expected) or (digest is not None and digest != _digest(decisions)):
        raise _fail("decisions_changed")
    # Exactly once, as the database's guarantee: a second apply racing this one finds
    # the rows already stamped and stops here before anything reaches a unit.
    stamped = db.session.execute(
        sa.update(Decision)
        .where(Decision.id.in_(ids), Decision.applied_at.is_(None))
        .values(applied_at=now, applied_by_id=actor.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if stamped != len(ids):
        raise _fail("decisions_changed")
    for d in decisions:
        # what the UPDATE wrote, told to the loaded object without writing it again
        set_committed_value(d, "applied_at", now)
        set_committed_value(d, "applied_by_id", actor.id)
        work = d.entry.work
        if d.outcome is Outcome.RETURN:
            try:
                submission.send_back(work, d.reason, d.reopen_until, actor=actor, now=now, ip=ip)
            except RuleError as e:
                raise _fail("apply_failed", number=work.number or "", error=str(e)) from e
        elif work.unit.account is not None:
            notify(
                None,
                NOTICE_KINDS[d.outcome],
                user_id=work.unit.account.id,
                now=now,
                link=("works.view", {"work_id": work.id}),
                number=work.number,
                title=work.title,
                round=round_.name,
            )
    counts = {o.value: sum(1 for d in decisions if d.outcome is o) for o in Outcome}
    audit.record(
        "screening.apply",
        now=now,
        actor=actor,
        target=round_,
        ip=ip,
        count=len(decisions),
        outcomes={k: v for k, v in counts.items() if v},
    )
    return len(decisions)


# -- Where the works stand ---------------------------------------------------------------------


def selected_works(campaign: Campaign) -> list[Work]:
    """The works selected (入选, applied) in the latest round each work took part in, by
    category then number."""
    latest = (
        sa.select(Entry.work_id, sa.func.max(Round.position).label("position"))
        .join(Round, Round.id == Entry.round_id)
        .where(Round.campaign_id == campaign.id)
        .group_by(Entry.work_id)
        .subquery()
    )
    works = list(
        db.session.scalars(
            sa.select(Work)
            .join(Entry, Entry.work_id == Work.id)
            .join(Round, Round.id == Entry.round_id)
            .join(latest, sa.and_(latest.c.work_id == Entry.work_id, latest.c.position == Round.position))
            .join(Decision, sa.and_(Decision.entry_id == Entry.id, Decision.pass_no == Entry.pass_no))
            .where(
                Round.campaign_id == campaign.id,
                Decision.outcome == Outcome.SELECTED,
                Decision.applied_at.is_not(None),
            )
            .options(joinedload(Work.unit))
        )
    )
    order = {c: i for i, c in enumerate(WorkCategory)}
    works.sort(key=lambda w: (order[w.category], w.number or "", w.id))
    return works


# -- A work sent again ----------------------------------------------------------------------------


def reentering_entry(work: Work) -> Entry | None:
    """The entry a work sent again goes back to: its latest round's, once that round has
    opened, unless the secretariat already applied a final word on its current pass there
    (入选, 未入选, 进入下一轮: a return is not final, it is why the work comes back)."""
    entry = db.session.scalar(
        sa.select(Entry)
        .join(Round, Round.id == Entry.round_id)
        .where(Entry.work_id == work.id, Round.state != RoundState.DRAFT)
        .order_by(Round.position.desc())
        .limit(1)
    )
    if entry is None:
        return None
    decision = current_decision(entry)
    if decision is not None and not decision.pending and decision.outcome is not Outcome.RETURN:
        return None
    return entry


def reenter(entry: Entry, *, now: datetime) -> None:
    """The entry's work came back, changed (after 退回修改, or taken back and sent again):
    its next pass in the same round. Every score given so far was on another version, so
    the pass's assignments become history with their scores and a pending decision on it
    no longer counts; the same experts score again where they still may, the automatic
    assignment fills this entry's other places, and its files get their blind copies. Only
    this entry is touched (a unit's click does not rework the round)."""
    round_ = entry.round
    assignment.lock(round_)
    old = list(
        db.session.scalars(
            sa.select(Assignment).where(
                Assignment.entry_id == entry.id,
                Assignment.pass_no == entry.pass_no,
                Assignment.state == AssignmentState.ACTIVE,
            )
        )
    )
    entry.pass_no += 1
    for a in old:
        a.state, a.ended_at = AssignmentState.SUPERSEDED, now
    db.session.flush()
    eligible = {e.user_id: e for e in assignment.active_experts(round_)}
    experts = db.session.scalars(sa.select(Expert).where(Expert.user_id.in_([a.expert_id for a in old])))
    for expert in experts:
        if expert.user_id in eligible and assignment.conflict_reason(expert, entry.work, round_) is None:
            db.session.add(
                Assignment(
                    entry_id=entry.id,
                    round_id=round_.id,
                    expert_id=expert.user_id,
                    pass_no=entry.pass_no,
                    state=AssignmentState.ACTIVE,
                    assigned_at=now,
                    assigned_by_id=None,
                )
            )
    db.session.flush()
    assignment.assign(round_, now=now, entry_ids=[entry.id])
    blind.request_copies(round_, now=now, work_ids=[entry.work_id])


@submission.resubmitted.connect
def _reenter(work: Work, *, actor=None, now: datetime, **_) -> None:
    entry = reentering_entry(work)
    if entry is not None:
        reenter(entry, now=now)
