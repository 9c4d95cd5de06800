"""An expert's scores: saving them, the next work to score, and how far the scoring is.

An expert scores each criterion of the round with a whole number from 0 to the round's
``scale_max`` and may add a comment. A save may leave criteria unscored (the expert
comes back to them); the assignment counts as scored (``scored_at``) once every criterion
has a score. Scores change only while the round is open and the assignment is the
expert's (a declared conflict or a removal ends it); after the round closes they are
final and the pages show them read-only.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from experience.core.errors import RuleError
from experience.extensions import db
from experience.screening.models import (
    Assignment,
    AssignmentState,
    CriterionScore,
    Decision,
    Entry,
    Round,
    RoundState,
)
from experience.works.models import WorkState

COMMENT_MAX = 2000

MESSAGES = {
    "round_not_open": _l("Scoring is closed for this round: the scores can no longer change."),
    "assignment_ended": _l("This work is no longer assigned to you: nothing was saved."),
    "not_yours": _l("Only the expert of this assignment can score it."),
    "out_of_range": _l("Scores are whole numbers from 0 to %(max)s."),
    "unknown_criterion": _l("The scores sent do not match this round's criteria. Please reload the page."),
    "comment_too_long": _l("The comment has %(count)s characters; at most %(max)s are possible."),
    "decided": _l("The secretariat has decided on this work: its scores can no longer change."),
    "work_taken_back": _l(
        "The unit has taken this work back to change it: nothing was saved. It comes back to you when the unit "
        "sends it again."
    ),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


def _current(stmt: sa.Select) -> sa.Select:
    """Only active assignments of their entries' current passes."""
    return stmt.join(Entry, Entry.id == Assignment.entry_id).where(
        Assignment.state == AssignmentState.ACTIVE, Assignment.pass_no == Entry.pass_no
    )


def check_scores(round_: Round, values: dict[int, int]) -> None:
    """:raises RuleError: unknown_criterion, out_of_range (``criterion_id`` says which)."""
    criteria = {c.id for c in round_.criteria}
    for criterion_id, value in values.items():
        if criterion_id not in criteria:
            raise _fail("unknown_criterion")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= round_.scale_max:
            raise _fail("out_of_range", max=round_.scale_max, criterion_id=criterion_id)


def save(assignment: Assignment, values: dict[int, int], comment: str, *, actor, now: datetime) -> Assignment:
    """Save the expert's scores and comment on the work of ``assignment``.

    :param values: criterion id → score, for the criteria the expert has scored: a
        criterion left out has no score after the save (the expert emptied it, or has not
        come to it yet); the assignment is scored when every criterion has one.
    :raises RuleError: not_yours, unknown_criterion, out_of_range, comment_too_long,
        round_not_open, assignment_ended, work_taken_back.
    """
    _check_may_score(assignment, actor)
    round_ = assignment.round
    check_scores(round_, values)
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise _fail("comment_too_long", count=len(comment), max=COMMENT_MAX)
    complete = all(c.id in values for c in round_.criteria)
    _claim(assignment, comment, (assignment.scored_at or now) if complete else None)
    kept = {s.criterion_id: s for s in assignment.scores}
    for criterion_id, score in kept.items():
        if criterion_id not in values:
            db.session.delete(score)
    for criterion_id, value in values.items():
        score = kept.get(criterion_id)
        if score is None:
            db.session.add(
                CriterionScore(assignment_id=assignment.id, criterion_id=criterion_id, value=value, updated_at=now)
            )
        elif score.value != value:
            score.value, score.updated_at = value, now
    db.session.flush()
    db.session.refresh(assignment)
    return assignment


def _check_may_score(assignment: Assignment, actor) -> None:
    """:raises RuleError: not_yours, round_not_open, assignment_ended, work_taken_back."""
    if actor is None or actor.id != assignment.expert_id:
        raise _fail("not_yours")
    if assignment.round.state is not RoundState.OPEN:
        raise _fail("round_not_open")
    if assignment.state is not AssignmentState.ACTIVE:
        raise _fail("assignment_ended")
    if assignment.entry.work.state is not WorkState.SUBMITTED:
        # a work returned for revision, sent again and taken back within its window
        raise _fail("work_taken_back")


def _claim(assignment: Assignment, comment: str, scored_at: datetime | None) -> None:
    """Write the assignment's comment and scored time with one conditional update: a round
    closed, or a conflict declared, since the page was read leaves the row alone, and the
    save is refused (the caller rolls back).

    :raises RuleError: assignment_ended, round_not_open.
    """
    saved = db.session.execute(
        sa.update(Assignment)
        .where(
            Assignment.id == assignment.id,
            Assignment.state == AssignmentState.ACTIVE,
            sa.exists().where(Round.id == Assignment.round_id, Round.state == RoundState.OPEN),
            # a decision applied on this pass is final: a round opened again for a work sent
            # back leaves the scores of the works decided alone
            ~sa.exists().where(
                Decision.entry_id == Assignment.entry_id,
                Decision.pass_no == Assignment.pass_no,
                Decision.applied_at.is_not(None),
            ),
        )
        .values(comment=comment, scored_at=scored_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if saved != 1:
        db.session.refresh(assignment)
        if assignment.state is not AssignmentState.ACTIVE:
            raise _fail("assignment_ended")
        if assignment.round.state is not RoundState.OPEN:
            raise _fail("round_not_open")
        raise _fail("decided")


def scores_of(assignment: Assignment) -> dict[int, int]:
    """criterion id → the expert's score so far."""
    return {s.criterion_id: s.value for s in assignment.scores}


def assignments_of(expert_id: int, round_: Round) -> list[Assignment]:
    """The expert's works to score in the round, in the order they are listed and scored
    (the order the works entered the round)."""
    stmt = _current(sa.select(Assignment)).where(Assignment.expert_id == expert_id, Assignment.round_id == round_.id)
    stmt = stmt.options(selectinload(Assignment.entry).selectinload(Entry.work))
    return list(db.session.scalars(stmt.order_by(Assignment.entry_id, Assignment.id)))


def next_assignment(expert_user, round_: Round, after: Assignment | None) -> Assignment | None:
    """The expert's next work still to score in the round: the first unscored one after
    ``after`` in the list's order, else from the top of the list (``after`` itself never);
    None when every work is scored."""
    unscored = [a for a in assignments_of(expert_user.id, round_) if a.scored_at is None]
    if after is not None:
        unscored = [a for a in unscored if a.id != after.id]
        mark = (after.entry_id, after.id)
        later = [a for a in unscored if (a.entry_id, a.id) > mark]
        if later:
            return later[0]
    return unscored[0] if unscored else None


def progress(round_: Round, expert_id: int | None = None) -> tuple[int, int]:
    """(scored, total) of the round's active assignments of the entries' current passes:
    of one expert, or of every expert."""
    stmt = _current(
        sa.select(sa.func.count(Assignment.scored_at), sa.func.count(Assignment.id)).where(
            Assignment.round_id == round_.id
        )
    )
    if expert_id is not None:
        stmt = stmt.where(Assignment.expert_id == expert_id)
    scored, total = db.session.execute(stmt).one()
    return int(scored), int(total)


def progress_by_expert(round_: Round) -> dict[int, tuple[int, int]]:
    """``progress`` of every expert of the round, in one query: expert id → (scored, total)."""
    stmt = _current(
        sa.select(Assignment.expert_id, sa.func.count(Assignment.scored_at), sa.func.count(Assignment.id)).where(
            Assignment.round_id == round_.id
        )
    ).group_by(Assignment.expert_id)
    return {expert_id: (int(scored), int(total)) for expert_id, scored, total in db.session.execute(stmt)}


def rounds_of(expert_id: int) -> list[Round]:
    """The rounds, opened or closed, in which the expert has works to score, newest first."""
    stmt = _current(sa.select(Round).join(Assignment, Assignment.round_id == Round.id)).where(
        Assignment.expert_id == expert_id, Round.state != RoundState.DRAFT
    )
    return list(db.session.scalars(stmt.distinct().order_by(Round.id.desc())))
