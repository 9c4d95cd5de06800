"""The expert's pages (phone first): the works to score, one work with its files and the
criteria, its files (blind copies only), and declaring a conflict of interest.

An expert reaches a work only through their own active assignment (``view_assignment``):
another expert's, an ended one, a work of a round still being set up answer 404 and the
refusal is logged. What a page shows of a work in a blind round never names the unit:
no unit, contact, registration form or recommendation, no photographer (the caption's
创作者), and files only as blind copies under neutral names (``blind``).
"""

from __future__ import annotations

import unicodedata

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.accounts.models import Province
from experience.core import audit, clock, files, jobs
from experience.core.errors import RuleError
from experience.core.permissions import client_ip, deny, load, require
from experience.core.web import apply_rule, small_int
from experience.extensions import db
from experience.screening import assignment as assigning
from experience.screening import blind, bp, scoring
from experience.screening.models import Assignment, BlindCopy, CopyState, Round, RoundState
from experience.works.media import CAPTION_FIELDS
from experience.works.models import FileKind, RecommendationState, Work, WorkCategory
from experience.works.services import photos as work_photos

#: a neutral name's extension, by the copy's content type
EXTENSIONS = {
    "image/jpeg": "jpg",
    blind.DOCX_TYPE: "docx",
    "text/plain; charset=utf-8": "txt",
    "video/mp4": "mp4",
}


# -- The list ----------------------------------------------------------------------------


@bp.get("/review")
@require("review_works")
def review():
    """The expert's rounds, each with its works to score and how many are scored."""
    sections = []
    for round_ in scoring.rounds_of(current_user.id):
        assignments = scoring.assignments_of(current_user.id, round_)
        scored = sum(1 for a in assignments if a.scored_at is not None)
        sections.append((round_, assignments, scored))
    return render_template("screening/review.html", sections=sections, RoundState=RoundState)


# -- One work ----------------------------------------------------------------------------


@bp.route("/review/<int:assignment_id>", methods=["GET", "POST"])
def review_work(assignment_id: int):
    """One assigned work: its text, photos or video (blind copies), the criteria to score,
    the comment; 保存 stays here, 保存并下一个 opens the next work still to score."""
    assignment = load(Assignment, assignment_id, "view_assignment")
    round_ = assignment.round
    if request.method == "GET":
        return _work_page(assignment, scoring.scores_of(assignment), assignment.comment, {})
    values, raw, errors = _posted_scores(round_)
    comment = request.form.get("comment", "")
    if errors:
        return _work_page(assignment, raw, comment, errors)

    refusal: list[RuleError] = []
    if not apply_rule(
        lambda: scoring.save(assignment, values, comment, actor=current_user, now=clock.now()),
        refused=refusal.append,
    ):
        e = refusal[0]
        if e.code in ("round_not_open", "assignment_ended", "not_yours"):
            flash(str(e), "error")  # the page has changed under the expert: show it as it is now
            return redirect(url_for("screening.review_work", assignment_id=assignment_id))
        errors[e.params.get("criterion_id", "form")] = str(e)
        return _work_page(db.session.get(Assignment, assignment_id), raw, comment, errors)
    assignment = db.session.get(Assignment, assignment_id)
    scored, total = scoring.progress(assignment.round, current_user.id)
    if assignment.scored_at is None:
        flash(
            _("Saved. Some criteria have no score yet: the work counts as scored once every criterion has one."),
            "warning",
        )
    else:
        flash(_("Saved. Scored %(scored)s of %(total)s.", scored=scored, total=total), "success")
    if "save_next" in request.form:
        return _to_next(assignment)
    return redirect(url_for("screening.review_work", assignment_id=assignment_id))


def _to_next(after: Assignment):
    """The next work still to score, or the list when every work is scored."""
    following = scoring.next_assignment(current_user, after.round, after)
    if following is None:
        flash(_("Every work assigned to you in this round is scored."), "success")
        return redirect(url_for("screening.review"))
    return redirect(url_for("screening.review_work", assignment_id=following.id))


def _posted_scores(round_: Round) -> tuple[dict[int, int], dict[int, str], dict]:
    """The posted scores: (criterion id → score, criterion id → what was typed, errors by
    criterion id). An empty field is no score; full-width digits count as digits."""
    values, raw, errors = {}, {}, {}
    for criterion in round_.criteria:
        typed = unicodedata.normalize("NFKC", request.form.get(f"score-{criterion.id}", "")).strip()
        raw[criterion.id] = typed
        if not typed:
            continue
        value = small_int(typed)
        try:
            if value is None:
                raise RuleError("out_of_range", scoring.MESSAGES["out_of_range"], max=round_.scale_max)
            scoring.check_scores(round_, {criterion.id: value})
        except RuleError as e:
            errors[criterion.id] = str(e)
            continue
        values[criterion.id] = value
    return values, raw, errors


def _work_page(assignment: Assignment, values: dict, comment: str, errors: dict):
    round_ = assignment.round
    work = assignment.entry.work
    scored, total = scoring.progress(round_, current_user.id)
    status = 200 if not errors else 422
    return (
        render_template(
            "screening/review_work.html",
            assignment=assignment,
            round=round_,
            work=work,
            media=_media(assignment, work),
            unit_facts=_unit_facts(round_, work),
            values=values,
            comment=comment,
            errors=errors,
            editable=round_.state is RoundState.OPEN,
            scored=scored,
            total=total,
            comment_max=scoring.COMMENT_MAX,
            WorkCategory=WorkCategory,
        ),
        status,
    )


def _unit_facts(round_: Round, work: Work) -> dict | None:
    """Who submitted and recommended the work: only in a round that is not blind."""
    if round_.blind:
        return None
    recommendation = work.recommendation
    recommender = None
    if recommendation is not None and recommendation.state is RecommendationState.RECOMMENDED:
        province = db.session.get(Province, recommendation.province_code)
        recommender = province.name if province else recommendation.province_code
    return {"unit": work.unit.name, "recommender": recommender}


def _media(assignment: Assignment, work: Work) -> dict:
    """What the page shows of the work's files, all through blind copies: for each photo
    its caption (without the photographer in a blind round), its screen copy shown and its
    full copy to download; the video's copy and poster; a text's file copy."""
    by_file = {c.file_id: c for c in blind.copies_for(work)}

    def link(work_file, *, download=False):
        copy = by_file.get(work_file.id) if work_file is not None else None
        if copy is None or copy.state is not CopyState.READY:
            return {"state": copy.state if copy else CopyState.PENDING, "url": None}
        url = url_for(
            "screening.review_file",
            assignment_id=assignment.id,
            copy_id=copy.id,
            v=files.version(copy.storage_key),
            **({"download": 1} if download else {}),
        )
        return {"state": copy.state, "url": url, "size": copy.size}

    if work.category is WorkCategory.PHOTO:
        shown = []
        for photo in work_photos(work):
            caption = [
                (f.label, getattr(photo, f.name))
                for f in CAPTION_FIELDS
                if not (f.name == "creator" and assignment.round.blind)
            ]
            shown.append(
                {
                    "screen": link(work.derived(photo, FileKind.PREVIEW_SCREEN)),
                    "full": link(photo, download=True),
                    "caption": caption,
                    "width": photo.width,
                    "height": photo.height,
                }
            )
        return {"photos": shown}
    if work.category is WorkCategory.VIDEO:
        needed = blind.needed_files(work)
        video = needed[0] if needed else None
        poster = next((f for f in needed if f.kind is FileKind.POSTER), None)
        return {
            "video": link(video) if video else None,
            "video_download": link(video, download=True) if video else None,
            "poster": link(poster) if poster else None,
            "duration": next((f.duration_s for f in work.originals()), None),
        }
    text_file = next(iter(work.originals()), None)
    return {"text_file": link(text_file, download=True) if text_file else None}


# -- The files ---------------------------------------------------------------------------


@bp.get("/review/<int:assignment_id>/files/<int:copy_id>")
def review_file(assignment_id: int, copy_id: int):
    """A ready blind copy of a file of the assigned work, never the original: shown in the
    page (a photo, the video, with Range) or, with ``?download=1``, saved under a neutral
    name (logged as ``screening.copy_download``)."""
    assignment = load(Assignment, assignment_id, "view_assignment")
    copy = db.session.get(BlindCopy, copy_id)
    if copy is None:
        abort(404)
    if not files.may_read_file(current_user, "blind_copy", blind.CopyAccess(assignment, copy)):
        if copy.state is not CopyState.READY and copy in blind.copies_for(assignment.entry.work):
            abort(404)  # this work's copy, not made yet: nothing to log
        deny("screening_blind_copy", copy_id, permission="view_assignment")
    key, mimetype = copy.storage_key, copy.content_type or "application/octet-stream"
    if request.args.get("download") != "1":
        return files.serve(key, mimetype=mimetype)
    name = neutral_name(assignment, copy)
    if _first_request_of_download():
        facts = dict(
            actor_id=current_user.id,
            actor_name=current_user.username,
            target_id=str(assignment.id),
            copy=copy.id,
            entry=assignment.entry_id,
            name=name,
        )
        db.session.rollback()  # the write first thing in a fresh transaction (core.web, SQLite)
        audit.record(
            "screening.copy_download", now=clock.now(), target_type="screening_assignment", ip=client_ip(), **facts
        )
        db.session.commit()
    return files.serve(key, mimetype=mimetype, download_name=name)


def _first_request_of_download() -> bool:
    """A download is logged once, not again for each piece of it a browser resumes."""
    ranges = request.range
    return ranges is None or not ranges.ranges or ranges.ranges[0][0] == 0


def neutral_name(assignment: Assignment, copy: BlindCopy) -> str:
    """作品-<entry>-<n>.<ext>: the n-th file of the work; nothing of the unit's file name."""
    copies = blind.copies_for(assignment.entry.work)
    n = next((i for i, c in enumerate(copies, 1) if c.id == copy.id), 0)
    extension = EXTENSIONS.get(copy.content_type, "bin")
    return _("Work-%(entry)s-%(n)s.%(ext)s", entry=assignment.entry_id, n=n, ext=extension)


# -- A conflict of interest ---------------------------------------------------------------


@bp.route("/review/<int:assignment_id>/conflict", methods=["GET", "POST"])
def review_conflict(assignment_id: int):
    """The expert declares a conflict of interest with the work, with the reason: the work
    goes to another expert, and the expert goes on to their next work."""
    assignment = load(Assignment, assignment_id, "view_assignment")
    reason = request.form.get("reason", "") if request.method == "POST" else ""
    error = None
    if request.method == "POST":

        def refused(e: RuleError) -> None:
            nonlocal error
            error = str(e)

        if apply_rule(
            lambda: assigning.declare_conflict(assignment, reason, actor=current_user, now=clock.now(), ip=client_ip()),
            refused=refused,
        ):
            flash(_("You declared a conflict of interest: the work was taken off your list."), "success")
            return _to_next(db.session.get(Assignment, assignment_id))
        assignment = db.session.get(Assignment, assignment_id)
    status = 422 if error else 200
    return (
        render_template(
            "screening/review_conflict.html",
            assignment=assignment,
            work=assignment.entry.work,
            round=assignment.round,
            reason=reason,
            error=error,
            RoundState=RoundState,
        ),
        status,
    )


# -- For the secretariat's pages: how the copies stand -------------------------------------


@bp.app_template_global("blind_copy_status")
def blind_copy_status(round_: Round) -> dict:
    """The copies of the round's files, for the secretariat (templates/screening/
    _review_copies.html): counts by state, and the failed ones with why."""
    return {
        "counts": {state.value: count for state, count in blind.copy_states(round_).items()},
        "problems": [(work, wf, copy, blind.error_message(copy)) for work, wf, copy in blind.copy_problems(round_)],
    }


@bp.post("/screening/rounds/<int:round_id>/copies")
@require("manage_screening")
def retry_copies(round_id: int):
    """The secretariat tries the round's failed copies again (and makes any missing)."""
    round_ = db.session.get(Round, round_id)
    if round_ is None or round_.state is RoundState.DRAFT:
        abort(404)
    apply_rule(
        lambda: blind.request_copies(round_, now=clock.now(), actor=current_user),
        done=_("The experts' copies are being made again; this page shows how they stand."),
    )
    return redirect(url_for("screening.round", round_id=round_id))


jobs.TITLES[blind.COPY_JOB] = lambda job: (_("Making the experts' copies of the works' files"), None)
