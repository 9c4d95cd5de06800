"""The secretariat's results of a round: the ranking per category with each decision, one
entry's scores over its passes, the preview and the bulk action that applies the pending
decisions, and the exports (the score sheet as .xlsx, the result list as a PDF to sign).

Importing this module (views.py does) also imports ``decisions``, whose listener puts a
work returned for revision back in its round when its unit sends it again.
"""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.core import clock, jobs
from experience.core.permissions import client_ip, require
from experience.core.web import apply_rule, download, read_phase, small_int, writes
from experience.extensions import db
from experience.screening import bp, decisions, results
from experience.screening.models import Entry, Outcome, Round
from experience.works.models import WorkCategory

#: what the results page can narrow to, beside a category
SHOW = {
    "all": lambda r: True,
    "disagree": lambda r: r.disagrees,
    "undecided": lambda r: r.decision is None,
    "pending": lambda r: r.decision is not None and r.decision.pending,
}


def _round_or_404(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        abort(404)
    return round_


def _entry_or_404(entry_id: int) -> Entry:
    entry = db.session.get(Entry, entry_id)
    if entry is None:
        abort(404)
    return entry


def _show_labels() -> dict[str, str]:
    return {
        "all": _("All works"),
        "disagree": _("Experts disagree strongly"),
        "undecided": _("No decision yet"),
        "pending": _("Decision pending"),
    }


@bp.get("/screening/rounds/<int:round_id>/results", endpoint="results")
@require("manage_screening")
def results_page(round_id: int):
    """The round's works ranked per category with the experts' totals, and a decision
    form on each row."""
    round_ = _round_or_404(round_id)
    category = next((c for c in WorkCategory if c.value == request.args.get("category")), None)
    show = request.args.get("show") if request.args.get("show") in SHOW else "all"
    rows = results.entry_results(round_, category=category)
    shown = [r for r in rows if SHOW[show](r)]
    groups = [(c, [r for r in shown if r.work.category is c]) for c in WorkCategory]
    preview = decisions.preview(round_)
    return render_template(
        "screening/results.html",
        round=round_,
        groups=[(c, rs) for c, rs in groups if rs],
        total=len(rows),
        shown=len(shown),
        complete=sum(1 for r in rows if r.experts and r.complete == len(r.experts)),
        disagreeing=sum(1 for r in rows if r.disagrees),
        pending=preview.count,
        category=category,
        categories=list(WorkCategory),
        show=show,
        show_labels=_show_labels(),
        outcomes=list(Outcome),
        tomorrow=clock.beijing_today(clock.now()) + clock.ONE_DAY,
        criteria=list(round_.criteria),
    )


@bp.get("/screening/entries/<int:entry_id>", endpoint="entry")
@require("manage_screening")
def entry_page(entry_id: int):
    """One work in a round: each expert's score per criterion and comment, the decision,
    and the earlier passes of a work returned for revision."""
    entry = _entry_or_404(entry_id)
    return render_template(
        "screening/results_entry.html",
        entry=entry,
        round=entry.round,
        work=entry.work,
        detail=results.entry_detail(entry),
        rank=results.entry_rank(entry),
        outcomes=list(Outcome),
        tomorrow=clock.beijing_today(clock.now()) + clock.ONE_DAY,
    )


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text and text.strip() else None
    except ValueError:
        return None


@bp.post("/screening/entries/<int:entry_id>/decision", endpoint="decide")
@require("manage_screening")
def decide(entry_id: int):
    """Decide on a work (pending until applied together), change the pending decision,
    or take it back (no outcome chosen)."""
    entry = _entry_or_404(entry_id)
    back = (
        url_for("screening.entry", entry_id=entry.id)
        if request.form.get("back") == "entry"
        else url_for("screening.results", round_id=entry.round_id, _anchor=f"entry-{entry.id}")
    )
    value = request.form.get("outcome", "")
    pass_no = small_int(request.form.get("pass_no"))
    if not value:
        taken: list[bool] = []
        if (
            apply_rule(
                lambda: taken.append(
                    decisions.undecide(entry, actor=current_user, now=clock.now(), ip=client_ip(), pass_no=pass_no)
                )
            )
            and taken[0]
        ):
            flash(_("The pending decision was taken back."), "success")
        return redirect(back)
    outcome = next((o for o in Outcome if o.value == value), None)
    if outcome is None:
        flash(_("Please choose one of the decisions offered."), "error")
        return redirect(back)
    text = request.form.get("reopen_until", "")
    reopen_until = _parse_day(text)
    if outcome is Outcome.RETURN and text.strip() and reopen_until is None:
        flash(_("Please give the last day as a date (YYYY-MM-DD)."), "error")
        return redirect(back)
    apply_rule(
        lambda: decisions.decide(
            entry,
            outcome,
            request.form.get("reason", ""),
            reopen_until,
            actor=current_user,
            now=clock.now(),
            ip=client_ip(),
            pass_no=pass_no,
        ),
        done=_(
            "Decision saved for %(number)s. It stays pending until the decisions are applied together.",
            number=entry.work.number or "",
        ),
    )
    return redirect(back)


@bp.route("/screening/rounds/<int:round_id>/apply", methods=["GET", "POST"], endpoint="apply")
@require("manage_screening")
def apply(round_id: int):
    """GET: what applying the pending decisions will change (how many works, which
    numbers). POST: apply them all, as the preview showed them."""
    round_ = _round_or_404(round_id)
    if request.method == "POST":
        expected = {small_int(v) for v in request.form.get("ids", "").split(",") if v}
        if None in expected:
            abort(400)
        applied: list[int] = []
        if apply_rule(
            lambda: applied.append(
                decisions.apply_pending(
                    round_,
                    actor=current_user,
                    now=clock.now(),
                    expected=expected,
                    digest=request.form.get("digest") or None,
                    ip=client_ip(),
                )
            )
        ):
            flash(_("%(count)s decisions were applied; the units have been told.", count=applied[0]), "success")
            return redirect(url_for("screening.results", round_id=round_id))
        return redirect(url_for("screening.apply", round_id=round_id))
    preview = decisions.preview(round_, now=clock.now())
    return render_template(
        "screening/decisions_apply.html",
        round=round_,
        preview=preview,
        groups=preview.by_outcome(),
        ids=",".join(str(i) for i in sorted(preview.ids)),
    )


# -- Exports -------------------------------------------------------------------------------------


@bp.get("/screening/rounds/<int:round_id>/scores.xlsx", endpoint="scores_xlsx")
@require("manage_screening")
@writes
def scores_xlsx(round_id: int):
    """The round's score sheet (work, expert, criterion, score, comment) and its results,
    as .xlsx: built here up to EXPORT_SYNC_MAX rows, beyond that by the worker."""
    round_ = _round_or_404(round_id)
    rows = results.score_row_count(round_)
    if rows <= results.EXPORT_SYNC_MAX:
        results.record_export(
            round_, "scores", actor=current_user, now=clock.now(), ip=client_ip(), rows=rows, via="request"
        )
        db.session.commit()
        # the audit entry is written: the workbook is built without holding SQLite's write lock
        with read_phase():
            round_ = db.session.get(Round, round_id)
            data = results.scores_xlsx(round_)
            name = results.export_name(round_, "xlsx")
        return download(data, name)
    params = dict(round_id=round_.id)
    if jobs.pending(results.SCORES_JOB, owner=current_user, **params) is None:  # a reload starts no second one
        results.record_export(
            round_, "scores", actor=current_user, now=clock.now(), ip=client_ip(), rows=rows, via="job"
        )
    job = jobs.start_once(results.SCORES_JOB, owner=current_user, now=clock.now(), **params)
    return redirect(jobs.page_url(job))


jobs.TITLES[results.SCORES_JOB] = lambda job: (
    _("The score sheet of a screening round"),
    url_for("screening.results", round_id=job.params["round_id"]),
)


@bp.get("/screening/rounds/<int:round_id>/results.pdf", endpoint="results_pdf")
@require("manage_screening")
@writes
def results_pdf(round_id: int):
    """The result list per category with the totals and decisions, A4, with lines for the
    head of the jury's signature and the date: laid out here up to PDF_SYNC_MAX works,
    beyond that by the worker."""
    round_ = _round_or_404(round_id)
    works = results.entry_count(round_)
    if works > results.PDF_SYNC_MAX:
        params = dict(round_id=round_.id)
        if jobs.pending(results.RESULT_LIST_JOB, owner=current_user, **params) is None:
            results.record_export(
                round_, "result_list", actor=current_user, now=clock.now(), ip=client_ip(), works=works, via="job"
            )
        job = jobs.start_once(results.RESULT_LIST_JOB, owner=current_user, now=clock.now(), **params)
        return redirect(jobs.page_url(job))
    results.record_export(
        round_, "result_list", actor=current_user, now=clock.now(), ip=client_ip(), works=works, via="request"
    )
    db.session.commit()
    # the audit entry is written: the PDF is laid out without holding SQLite's write lock
    with read_phase():
        round_ = db.session.get(Round, round_id)
        data = results.result_list_pdf(round_, now=clock.now(), base_url=request.url_root)
        name = results.export_name(round_, "pdf")
    response = download(data, name)
    response.headers["Cache-Control"] = "no-store"
    return response


jobs.TITLES[results.RESULT_LIST_JOB] = lambda job: (
    _("The result list of a screening round"),
    url_for("screening.results", round_id=job.params["round_id"]),
)
