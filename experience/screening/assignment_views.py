"""The secretariat's page of a round's assignments: each expert's load and progress, the
works lacking experts first (and why), every work's experts with changes by hand, and the
button that assigns again."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import contains_eager

from experience.accounts.models import Province, Role, User
from experience.core import clock
from experience.core.permissions import client_ip, load, require
from experience.core.web import apply_rule, small_int
from experience.extensions import db
from experience.screening import assignment, bp, scoring
from experience.screening.models import Assignment, AssignmentState, Entry, Round, RoundState
from experience.units.models import Unit
from experience.works.models import Work

#: works on a page of the list of every work
PAGE_SIZE = 50
#: works lacking experts listed at the top, at most (the count says how many in all)
SHORT_SHOWN = 100

#: why an expert is not among those who may still be added, beyond conflict_reason's codes
NOT_AVAILABLE = {
    "assigned": _l("already assigned"),
    "declared": _l("declared a conflict"),
    "removed": _l("removed by the secretariat"),
    **{code: label for code, label in assignment.REASONS.items()},
}


def _search() -> tuple[int, str, int | None]:
    """The list's page, its search text and the expert it is narrowed to, from a GET's
    arguments or a POST's hidden fields (to land back where the secretary was)."""
    source = request.form if request.method == "POST" else request.args
    page = min(max(1, small_int(source.get("page")) or 1), 10_000)
    q = (source.get("q") or "").strip()[:100]
    return page, q, small_int(source.get("expert"))


def _back(round_id: int, entry_id: int | None = None):
    page, q, expert = _search()
    return redirect(
        url_for(
            "screening.assignments",
            round_id=round_id,
            page=page if page > 1 else None,
            q=q or None,
            expert=expert,
            _anchor=f"entry-{entry_id}" if entry_id else None,
        )
    )


def _entry_rows(round_: Round, entry_ids: list[int]) -> dict[int, Entry]:
    """The entries with their works and units, in one query."""
    if not entry_ids:
        return {}
    stmt = (
        sa.select(Entry)
        .join(Entry.work)
        .join(Work.unit)
        .options(contains_eager(Entry.work).contains_eager(Work.unit))
        .where(Entry.id.in_(entry_ids))
    )
    return {e.id: e for e in db.session.scalars(stmt)}


def _held(entry_ids: list[int]) -> dict[int, list[Assignment]]:
    """Each entry's assignments of its current pass, ended ones included (the page says
    why they ended), with their experts, in one query."""
    held: dict[int, list[Assignment]] = {i: [] for i in entry_ids}
    if not entry_ids:
        return held
    stmt = (
        sa.select(Assignment)
        .join(Entry, sa.and_(Entry.id == Assignment.entry_id, Entry.pass_no == Assignment.pass_no))
        .join(Assignment.expert)
        .options(contains_eager(Assignment.expert))
        .where(Assignment.entry_id.in_(entry_ids))
        .order_by(Assignment.entry_id, Assignment.state != AssignmentState.ACTIVE, Assignment.id)
    )
    for a in db.session.scalars(stmt):
        held[a.entry_id].append(a)
    return held


def _why_short(pool: assignment.Pool, entry_id: int) -> list[tuple[str, int]]:
    """Why the experts who could not be added are out, counted by reason."""
    place = pool.places[entry_id]
    why: Counter[str] = Counter()
    for expert_id in pool.experts:
        if expert_id in place.assigned:
            why["assigned"] += 1
        elif expert_id in place.declared:
            why["declared"] += 1
        elif expert_id in place.barred:
            why["removed"] += 1
        else:
            reason = pool.reason(expert_id, entry_id)
            if reason is not None:
                why[reason] += 1
    return [(str(NOT_AVAILABLE[code]), n) for code, n in why.most_common()]


def _page_of_entries(round_: Round, page: int, q: str, expert: int | None) -> tuple[list[int], int]:
    """The ids of one page of the round's entries in the order of the works' numbers,
    searched by number, title or unit, or narrowed to one expert's; and their count."""
    stmt = sa.select(Entry.id).join(Work, Work.id == Entry.work_id).where(Entry.round_id == round_.id)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.join(Unit, Unit.id == Work.unit_id).where(
            sa.or_(
                Work.number.ilike(like, escape="\\"),
                Work.title.ilike(like, escape="\\"),
                Unit.name.ilike(like, escape="\\"),
            )
        )
    if expert is not None:
        stmt = stmt.where(
            sa.exists().where(
                Assignment.entry_id == Entry.id,
                Assignment.pass_no == Entry.pass_no,
                Assignment.expert_id == expert,
                Assignment.state == AssignmentState.ACTIVE,
            )
        )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    ids = db.session.scalars(stmt.order_by(Work.number, Entry.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return list(ids), total


@bp.get("/screening/rounds/<int:round_id>/assignments")
@require("manage_screening")
def assignments(round_id: int):
    """A round's assignments: experts' loads and progress, works lacking experts, every work's experts."""
    round_ = load(Round, round_id, "manage_screening")
    page, q, expert = _search()
    narrowed = db.session.get(User, expert) if expert is not None else None
    if narrowed is None or narrowed.role is not Role.REVIEWER:
        narrowed, expert = None, None
    lacking = assignment.unfilled(round_)
    short = lacking[:SHORT_SHOWN]
    page_ids, total = _page_of_entries(round_, page, q, expert)
    short_ids = [e.id for e, _ in short]
    wanted = list(dict.fromkeys(short_ids + page_ids))
    pool = assignment.Pool(round_, wanted)
    entries = _entry_rows(round_, wanted)
    held = _held(wanted)

    # the active experts, and any other with works in the round (an account disabled since)
    holding = db.session.scalars(
        sa.select(Assignment.expert_id).where(
            Assignment.round_id == round_.id, Assignment.state == AssignmentState.ACTIVE
        )
    )
    experts = sorted(
        db.session.scalars(sa.select(User).where(User.id.in_(set(pool.experts) | set(holding)))),
        key=lambda u: (not u.active, u.organisation, u.display_name or u.username),
    )
    counted = scoring.progress_by_expert(round_)
    progress = {u.id: counted.get(u.id, (0, 0)) for u in experts}
    provinces = dict(db.session.execute(sa.select(Province.code, Province.name)).all())

    def options(entry_id: int) -> list[User]:
        return [pool.users[e] for e in sorted(pool.eligible(entry_id, by_hand=True), key=lambda e: (pool.load[e], e))]

    return render_template(
        "screening/assignments.html",
        round=round_,
        open=round_.state is RoundState.OPEN,
        experts=experts,
        progress=progress,
        overall=scoring.progress(round_),
        load=pool.load,
        short=[(entries[e.id], missing, len(pool.eligible(e.id)), _why_short(pool, e.id)) for e, missing in short],
        short_total=len(lacking),
        rows=[entries[i] for i in page_ids],
        held=held,
        options=options,
        provinces=provinces,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        q=q,
        expert=narrowed,
        search={"page": page if page > 1 else "", "q": q, "expert": expert or ""},
        index="screening.index" in current_app.view_functions,
        reason_max=assignment.REASON_MAX_CHARS,
    )


@bp.post("/screening/rounds/<int:round_id>/assign")
@require("manage_screening")
def assign_now(round_id: int):
    """Assign experts to every work that lacks some (only while the round is open)."""
    round_ = load(Round, round_id, "manage_screening")
    result = []

    def run():
        result.append(assignment.assign_now(round_, actor=current_user, now=clock.now(), ip=client_ip()))

    if apply_rule(run):
        done = result[0]
        message = _(
            "Assignments added: %(added)s. Works still lacking experts: %(unfilled)s.",
            added=done.added,
            unfilled=len(done.unfilled),
        )
        flash(message, "warning" if done.unfilled else "success")
    return _back(round_id)


@bp.post("/screening/entries/<int:entry_id>/experts")
@require("manage_screening")
def add_expert(entry_id: int):
    """Assign an expert to a work by hand."""
    entry = load(Entry, entry_id, "manage_screening")
    expert_id = small_int(request.form.get("expert_id"))
    expert = db.session.get(User, expert_id) if expert_id else None
    apply_rule(
        lambda: assignment.add_by_hand(entry, expert, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The expert was assigned to the work."),
    )
    return _back(entry.round_id, entry.id)


@bp.post("/screening/assignments/<int:assignment_id>/remove")
@require("manage_screening")
def remove_expert(assignment_id: int):
    """Take an expert off a work by hand, with the reason."""
    held = load(Assignment, assignment_id, "manage_screening")
    apply_rule(
        lambda: assignment.remove_by_hand(
            held, request.form.get("reason", ""), actor=current_user, now=clock.now(), ip=client_ip()
        ),
        done=_("The expert was taken off the work. Add another expert or assign again to fill the place."),
    )
    return _back(held.round_id, held.entry_id)
