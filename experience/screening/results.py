"""What a round's scores add up to: per entry, each expert's weighted total, the mean and
the median of the complete totals, their spread, whether the experts disagree strongly,
and the entry's rank in its category; per entry and criterion, the mean score; per entry,
the detail of every pass (the current one and the history of earlier ones).

Only an entry's *current* pass counts, and in it only ``active`` assignments whose every
criterion is scored (``models.weighted_total`` is None otherwise): an expert still scoring
is listed, but moves neither the mean nor the rank. Earlier passes (a work returned for
revision and sent again) are history, shown on the entry's page.

A round's results are a fixed number of queries whatever its size: the round's criteria,
its entries with their works and units, the active assignments of the current passes
with their experts, every score of those assignments, and the decisions of the current
passes. Everything else is arithmetic in Python.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask import render_template
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from experience.accounts.models import User
from experience.core import audit, clock, jobs, xlsx
from experience.core.pdf import render_pdf
from experience.extensions import db
from experience.screening.models import (
    Assignment,
    AssignmentState,
    Criterion,
    CriterionScore,
    Decision,
    Entry,
    Round,
    weighted_total,
)
from experience.works.models import Work, WorkCategory

CENT = Decimal("0.01")


def two_places(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class ExpertTotal:
    """One expert's part in one pass of an entry."""

    assignment: Assignment
    expert: User
    #: criterion id → score given (possibly some criteria only)
    scores: dict[int, int]
    #: 0–100, or None until every criterion is scored
    total: Decimal | None

    @property
    def complete(self) -> bool:
        return self.total is not None


@dataclass
class EntryResult:
    """An entry's current pass, added up."""

    entry: Entry
    experts: list[ExpertTotal]
    #: the decision on this pass (pending or applied), if any
    decision: Decision | None = None
    #: mean score per criterion id over the complete experts (None: none complete)
    criterion_means: dict[int, Decimal | None] = field(default_factory=dict)
    #: 1 for the best mean of its category; equal means share a rank (1, 1, 3); None
    #: while no expert has completed
    rank: int | None = None

    @property
    def work(self) -> Work:
        return self.entry.work

    @property
    def totals(self) -> list[Decimal]:
        return [e.total for e in self.experts if e.total is not None]

    @property
    def complete(self) -> int:
        return len(self.totals)

    @property
    def mean(self) -> Decimal | None:
        totals = self.totals
        return two_places(sum(totals) / len(totals)) if totals else None

    @property
    def median(self) -> Decimal | None:
        totals = self.totals
        return two_places(statistics.median(totals)) if totals else None

    @property
    def spread(self) -> Decimal | None:
        totals = self.totals
        return max(totals) - min(totals) if totals else None

    @property
    def disagrees(self) -> bool:
        """The experts' totals are further apart than the round allows without a look."""
        spread = self.spread
        return spread is not None and spread > self.entry.round.disagreement_points


def _expert_total(a: Assignment, given: dict[int, int], criteria: list[Criterion], round_: Round) -> ExpertTotal:
    return ExpertTotal(a, a.expert, given, weighted_total(given, criteria, round_.scale_max))


def _criterion_means(experts: Iterable[ExpertTotal], criteria: list[Criterion]) -> dict[int, Decimal | None]:
    complete = [e for e in experts if e.complete]
    return {
        c.id: two_places(Decimal(sum(e.scores[c.id] for e in complete)) / len(complete)) if complete else None
        for c in criteria
    }


def rank(results: list[EntryResult]) -> None:
    """Set each result's rank within its work's category: by mean, highest first; equal
    means share a rank and the next rank skips (1, 1, 3); no mean, no rank."""
    by_category: dict[WorkCategory, list[EntryResult]] = defaultdict(list)
    for r in results:
        r.rank = None
        if r.mean is not None:
            by_category[r.work.category].append(r)
    for ranked in by_category.values():
        ranked.sort(key=lambda r: r.mean, reverse=True)
        for i, r in enumerate(ranked):
            r.rank = ranked[i - 1].rank if i and ranked[i - 1].mean == r.mean else i + 1


#: the order categories are listed in (附件1's order)
CATEGORY_ORDER = {c: i for i, c in enumerate(WorkCategory)}


def _sort_key(r: EntryResult):
    # within a category: ranked first, best first; then the unranked by number
    return (CATEGORY_ORDER[r.work.category], r.rank is None, r.rank or 0, r.work.number or "", r.entry.id)


def _scores_of(assignment_ids: list[int]) -> dict[int, dict[int, int]]:
    scores: dict[int, dict[int, int]] = defaultdict(dict)
    if not assignment_ids:
        return scores
    # one statement per round: the ids go in as a subquery-free IN list in chunks that
    # every driver accepts (SQLite's default limit of bound parameters is 32,766)
    for start in range(0, len(assignment_ids), 10_000):
        chunk = assignment_ids[start : start + 10_000]
        for a_id, c_id, value in db.session.execute(
            sa.select(CriterionScore.assignment_id, CriterionScore.criterion_id, CriterionScore.value).where(
                CriterionScore.assignment_id.in_(chunk)
            )
        ):
            scores[a_id][c_id] = value
    return scores


def entry_results(round_: Round, *, category: WorkCategory | None = None) -> list[EntryResult]:
    """Every entry of the round (or of one category), its current pass added up and
    ranked, sorted by category then rank."""
    criteria = list(round_.criteria)
    stmt = (
        sa.select(Entry)
        .join(Work, Work.id == Entry.work_id)
        .where(Entry.round_id == round_.id)
        .options(joinedload(Entry.work).joinedload(Work.unit))
    )
    if category is not None:
        stmt = stmt.where(Work.category == category)
    # (an entry's round is round_, found in the session's identity map without a query)
    entries = list(db.session.scalars(stmt))
    current = sa.and_(Assignment.entry_id == Entry.id, Assignment.pass_no == Entry.pass_no)
    astmt = (
        sa.select(Assignment)
        .join(Entry, current)
        .join(Work, Work.id == Entry.work_id)
        .where(Assignment.round_id == round_.id, Assignment.state == AssignmentState.ACTIVE)
        .options(joinedload(Assignment.expert))
        .order_by(Assignment.id)
    )
    if category is not None:
        astmt = astmt.where(Work.category == category)
    assignments = list(db.session.scalars(astmt))
    scores = _scores_of([a.id for a in assignments])
    by_entry: dict[int, list[ExpertTotal]] = defaultdict(list)
    for a in assignments:
        by_entry[a.entry_id].append(_expert_total(a, scores.get(a.id, {}), criteria, round_))
    decisions = current_decisions(round_)
    results = []
    for entry in entries:
        experts = by_entry.get(entry.id, [])
        results.append(
            EntryResult(
                entry=entry,
                experts=experts,
                decision=decisions.get(entry.id),
                criterion_means=_criterion_means(experts, criteria),
            )
        )
    rank(results)
    results.sort(key=_sort_key)
    return results


def current_decisions(round_: Round) -> dict[int, Decision]:
    """entry id → the decision on its current pass (pending or applied)."""
    rows = db.session.scalars(
        sa.select(Decision)
        .join(Entry, sa.and_(Entry.id == Decision.entry_id, Entry.pass_no == Decision.pass_no))
        .where(Entry.round_id == round_.id)
    )
    return {d.entry_id: d for d in rows}


# -- One entry, every pass ------------------------------------------------------------------


@dataclass
class PassDetail:
    """One pass of an entry: who scored what, and what was decided."""

    pass_no: int
    current: bool
    #: the assignments that count: active ones (current pass) or superseded ones (history)
    experts: list[ExpertTotal]
    #: the ones that ended otherwise (a declared conflict, a removal): listed, not counted
    ended: list[Assignment]
    decision: Decision | None
    result: EntryResult


@dataclass
class EntryDetail:
    entry: Entry
    criteria: list[Criterion]
    #: newest pass first
    passes: list[PassDetail]


def entry_detail(entry: Entry) -> EntryDetail:
    """Every pass of one entry with each expert's scores per criterion and comment; the
    earlier passes are the history of a work returned for revision and sent again."""
    round_ = entry.round
    criteria = list(round_.criteria)
    assignments = list(
        db.session.scalars(
            sa.select(Assignment)
            .where(Assignment.entry_id == entry.id)
            .options(joinedload(Assignment.expert))
            .order_by(Assignment.pass_no, Assignment.id)
        )
    )
    scores = _scores_of([a.id for a in assignments])
    decisions = {
        d.pass_no: d
        for d in db.session.scalars(
            sa.select(Decision).where(Decision.entry_id == entry.id).options(joinedload(Decision.decided_by))
        )
    }
    passes = []
    for pass_no in range(entry.pass_no, 0, -1):
        current = pass_no == entry.pass_no
        counted_state = AssignmentState.ACTIVE if current else AssignmentState.SUPERSEDED
        mine = [a for a in assignments if a.pass_no == pass_no]
        experts = [_expert_total(a, scores.get(a.id, {}), criteria, round_) for a in mine if a.state is counted_state]
        result = EntryResult(
            entry=entry,
            experts=experts,
            decision=decisions.get(pass_no),
            criterion_means=_criterion_means(experts, criteria),
        )
        passes.append(
            PassDetail(
                pass_no=pass_no,
                current=current,
                experts=experts,
                ended=[a for a in mine if a.state is not counted_state],
                decision=decisions.get(pass_no),
                result=result,
            )
        )
    return EntryDetail(entry=entry, criteria=criteria, passes=passes)


def entry_rank(entry: Entry) -> int | None:
    """The entry's rank in its category (the whole category is added up to know it)."""
    for r in entry_results(entry.round, category=entry.work.category):
        if r.entry.id == entry.id:
            return r.rank
    return None


# -- Exports ------------------------------------------------------------------------------------

#: a score sheet of up to this many rows is built in the request; more by the worker
#: (2,000 works × 3 experts × 5 criteria is 30,000 rows)
EXPORT_SYNC_MAX = 5000
SCORES_JOB = "screening_scores_export"
#: a result list of up to this many works is laid out in the request; WeasyPrint took
#: about 10 s for 2,000 rows (101 pages) on the 2-core machine, so a longer one goes to
#: the worker
PDF_SYNC_MAX = 300
RESULT_LIST_JOB = "screening_result_list"


def score_row_count(round_: Round) -> int:
    """How many rows the score sheet has: one per criterion of each counted assignment."""
    assignments = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Assignment)
        .join(Entry, sa.and_(Assignment.entry_id == Entry.id, Assignment.pass_no == Entry.pass_no))
        .where(Assignment.round_id == round_.id, Assignment.state == AssignmentState.ACTIVE)
    )
    return (assignments or 0) * len(round_.criteria)


def _expert_name(user: User) -> str:
    return user.display_name or user.username


def _number(value: Decimal | None):
    return float(value) if value is not None else None


def score_sheet_rows(results: list[EntryResult], criteria: list[Criterion]):
    """One row per expert and criterion of each entry's current pass: the work, the expert
    (by name: the sheet is the secretariat's), the criterion, the score, the comment."""
    for r in results:
        work = r.work
        for e in r.experts:
            for c in criteria:
                yield (
                    work.number or "",
                    work.title,
                    str(work.category.label),
                    work.unit.name,
                    _expert_name(e.expert),
                    e.expert.organisation,
                    c.name,
                    c.weight,
                    e.scores.get(c.id),
                    e.assignment.comment,
                )


def results_sheet_rows(results: list[EntryResult]):
    for r in results:
        d = r.decision
        yield (
            str(r.work.category.label),
            r.rank,
            r.work.number or "",
            r.work.title,
            r.work.unit.name,
            r.complete,
            len(r.experts),
            _number(r.mean),
            _number(r.median),
            _number(r.spread),
            "!" if r.disagrees else "",
            str(d.outcome.label) if d else "",
            "" if d is None else str(_("Pending")) if d.pending else str(_("Applied")),
            d.reason if d else "",
        )


def scores_xlsx(round_: Round, *, progress=lambda done, total: None) -> bytes:
    """The round's score sheet (every score of the current passes) and its results."""
    criteria = list(round_.criteria)
    results = entry_results(round_)
    progress(len(results) // 2, len(results))
    scores_header = (
        _("Work number"),
        _("Title of the work"),
        _("Category"),
        _("Submitting unit"),
        _("Expert"),
        _("Expert's unit"),
        _("Criterion"),
        _("Weight (%)"),
        _("Score (0–%(max)s)", max=round_.scale_max),
        _("Expert's comment"),
    )
    results_header = (
        _("Category"),
        _("Rank"),
        _("Work number"),
        _("Title of the work"),
        _("Submitting unit"),
        _("Experts done"),
        _("Experts assigned"),
        _("Mean"),
        _("Median"),
        _("Spread"),
        _("Strong disagreement"),
        _("Decision"),
        _("Decision state"),
        _("Reason given"),
    )
    data = xlsx.workbook(
        [
            (_("Scores"), scores_header, score_sheet_rows(results, criteria)),
            (_("Screening results"), results_header, results_sheet_rows(results)),
        ]
    )
    progress(len(results), len(results))
    return data


def export_name(round_: Round, extension: str) -> str:
    return f"screening-{round_.campaign.year}-{round_.position}.{extension}"


def record_export(round_: Round, kind: str, *, actor, now, ip: str = "", **detail) -> None:
    """The audit entry of an export: scores and experts' names leave the system."""
    audit.record("screening.export", now=now, actor=actor, target=round_, ip=ip, kind=kind, **detail)


@jobs.handler(SCORES_JOB)
def _scores_job(job: jobs.Job, progress) -> tuple[bytes, str]:
    round_ = db.session.get(Round, job.params["round_id"])
    return scores_xlsx(round_, progress=progress), export_name(round_, "xlsx")


def entry_count(round_: Round) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Entry).where(Entry.round_id == round_.id)) or 0


def result_list_html(round_: Round, *, now) -> str:
    """The result list to print and sign (templates/screening/result_list.html): per
    category, rank, work, unit, the experts' totals added up, and the decision."""
    results = entry_results(round_)
    groups = [(c, [r for r in results if r.work.category is c]) for c in WorkCategory]
    return render_template(
        "screening/result_list.html",
        round=round_,
        campaign=round_.campaign,
        groups=[(c, rs) for c, rs in groups if rs],
        generated=now,
    )


def result_list_pdf(round_: Round, *, now, base_url: str | None = None) -> bytes:
    return render_pdf(result_list_html(round_, now=now), base_url=base_url)


@jobs.handler(RESULT_LIST_JOB)
def _result_list_job(job: jobs.Job, progress) -> tuple[bytes, str]:
    round_ = db.session.get(Round, job.params["round_id"])
    progress(0, 1)
    return result_list_pdf(round_, now=clock.now()), export_name(round_, "pdf")
