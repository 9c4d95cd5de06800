"""The works secretariat's desk: the list of every work, a selection's files as a zip,
the list as .xlsx; and the states in HQ's counts (templates/works/counts.html)."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.campaigns.views import campaign_or_404
from experience.core import clock, jobs, storage
from experience.core.errors import RuleError
from experience.core.permissions import can, client_ip, require
from experience.core.phone import mask_phone
from experience.core.web import download, writes
from experience.extensions import db
from experience.units.models import UnitType
from experience.works import bp, desk, submission
from experience.works.models import RecommendationState, WorkCategory


@bp.get("/works/desk", endpoint="desk")
@require("works_desk")
def desk_list():
    """Every work of the campaign, filtered, searched and paged, with its status and problems."""
    campaign = campaign_or_404()
    filters = desk.Filters.from_args(request.args)
    result = desk.page(campaign, filters, request.args.get("page", 1, type=int))
    reader = current_user._get_current_object()
    provinces = desk.province_names()
    return render_template(
        "works/desk.html",
        campaign=campaign,
        filters=filters,
        result=result,
        # each label translated once per page, not once per row
        labels={m: str(m.label) for m in (*WorkCategory, *submission.Status, *desk.Problem, *RecommendationState)},
        phones={
            r.work.id: r.work.contact_phone
            if can(reader, "see_work_contact", r.work)
            else mask_phone(r.work.contact_phone)
            for r in result.rows
        },
        provinces=provinces,
        categories=list(WorkCategory),
        unit_types=list(UnitType),
        statuses=list(desk.StatusFilter),
        problems=list(desk.Problem),
        any_problem=desk.ANY_PROBLEM,
        sorts=desk.SORT_LABELS,
        zip_max_works=desk.ZIP_MAX_WORKS,
        zip_max_gb=desk.ZIP_MAX_BYTES // 1024**3,
    )


@bp.post("/works/desk/download")
@require("works_desk")
def desk_download():
    """The files of the ticked works, or of all the works the filters keep, as one zip
    written while it is sent."""
    campaign = campaign_or_404()
    filters = desk.Filters.from_args(request.form)
    scope = "filtered" if request.form.get("scope") == "all" else "selected"
    try:
        if scope == "filtered":
            works = desk.filtered_works(campaign, filters)
        else:
            works = desk.selected_works(campaign, request.form.getlist("work_id"))
        entries = desk.zip_entries(works)
        desk.check_zip(entries)
    except RuleError as e:
        db.session.rollback()
        flash(str(e), "error")
        return redirect(url_for("works.desk", **filters.args()))
    desk.record_download(campaign, works, entries, actor=current_user, now=clock.now(), ip=client_ip(), scope=scope)
    db.session.commit()
    # The transaction ends here: the stream that follows holds no database connection.
    stamp = clock.to_beijing(clock.now()).strftime("%Y%m%d-%H%M")
    response = Response(
        desk.stream_zip(storage.current(), entries), mimetype="application/zip", direct_passthrough=True
    )
    response.headers.set("Content-Disposition", "attachment", filename=f"works-{campaign.year}-{stamp}.zip")
    response.headers["Cache-Control"] = "no-store"
    # nginx passes each chunk on as it comes instead of buffering the archive on its disk
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.get("/works/desk/export.xlsx")
@require("works_desk")
@writes
def desk_export():
    """The filtered list as .xlsx, contacts in full: built here up to EXPORT_SYNC_MAX works,
    beyond that by the worker while a page shows its progress."""
    campaign = campaign_or_404()
    filters = desk.Filters.from_args(request.args)
    n = desk.count(campaign, filters)
    if n <= desk.EXPORT_SYNC_MAX:
        data = desk.export_xlsx(campaign, filters)
        desk.record_export(campaign, filters, n, actor=current_user, now=clock.now(), ip=client_ip(), via="request")
        db.session.commit()
        return download(data, desk.export_name(campaign))
    params = dict(campaign_id=campaign.id, filters=filters.args())
    if jobs.pending(desk.EXPORT_JOB, owner=current_user, **params) is None:  # a reload starts no second one
        desk.record_export(campaign, filters, n, actor=current_user, now=clock.now(), ip=client_ip(), via="job")
    job = jobs.start_once(desk.EXPORT_JOB, owner=current_user, now=clock.now(), **params)
    return redirect(jobs.page_url(job))


jobs.TITLES[desk.EXPORT_JOB] = lambda job: (
    _("The works list as a spreadsheet"),
    url_for("works.desk", **(job.params.get("filters") or {})),
)


@bp.app_template_global("works_state_counts")
def works_state_counts(campaign) -> dict[str, dict[str, int]]:
    """For HQ's counts page: each province's works by state's value (no titles, no units)."""
    if campaign is None or not can(current_user, "count_works"):
        return {}
    return {code: {s.value: n for s, n in row.items()} for code, row in desk.state_counts(campaign).items()}
