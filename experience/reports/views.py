"""Summaries as pages, PDFs and spreadsheets: an event's, a province's, the nation's."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from experience.accounts.models import Province
from experience.campaigns.views import campaign_or_404
from experience.core import audit, clock, files, uploads, xlsx
from experience.core.charts import bar_chart, column_chart
from experience.core.errors import RuleError
from experience.core.images import clean_photo
from experience.core.pdf import render_pdf
from experience.core.permissions import can, client_ip, deny, load, require
from experience.core.phone import mask_phone
from experience.core.web import apply_rule, beijing, download, small_int, writes
from experience.events.models import CATEGORY_LABELS, Event, GuestCategory
from experience.extensions import db
from experience.guests.models import Guest
from experience.ratings import services as ratings
from experience.ratings.models import Rating
from experience.reports import bp, figures, services
from experience.reports.models import SUMMARY_STATE_LABELS, ProvinceSummary, SummaryState

# -- what every summary shows ----------------------------------------------------------------


def category_rows(by_category: dict | list) -> list[dict]:
    items = by_category if isinstance(by_category, list) else [{"category": k, **v} for k, v in by_category.items()]
    return [{**i, "label": str(CATEGORY_LABELS[GuestCategory(i["category"])])} for i in items]


def event_charts(f: dict) -> dict:
    return {
        "arrivals_chart": column_chart(
            [n for _, n in f["arrivals"]],
            [t for t, _ in f["arrivals"]],
            title=_("Arrivals per 15 minutes"),
            width=max(260, 34 * len(f["arrivals"])),
        )
        if f["arrivals"]
        else None,
        "averages_chart": bar_chart(
            [(d["name"], d["average"]) for d in f["dimensions"]], maximum=5, title=_("Average stars per question")
        )
        if f["ratings"]
        else None,
        "distribution_charts": [
            (d["name"], column_chart(d["distribution"], ["1★", "2★", "3★", "4★", "5★"], title=d["name"]))
            for d in f["dimensions"]
            if d["count"]
        ],
    }


def _event_context(event: Event, *, for_pdf: bool) -> dict:
    f = figures.event_figures(event, now=clock.now())
    summary = services.event_summary(event, create=not for_pdf)
    by_id = {
        r.id: r
        for r in db.session.scalars(
            sa.select(Rating).options(selectinload(Rating.guest)).where(Rating.event_id == event.id)
        )
    }
    highlights = [
        (by_id[i].comment, ratings.public_name(by_id[i]))
        for i in summary.highlight_ids
        if i in by_id and by_id[i].comment_approved_at and by_id[i].comment
    ]
    photos, keys = [], []
    for i in summary.photo_rating_ids:
        r = by_id.get(i)
        if r is not None and r.photo_approved_at and r.photo_web_key:
            photos.append(
                {
                    "src": f"allowed:{r.photo_web_key}"
                    if for_pdf
                    else url_for("ratings.photo", rating_id=r.id, v=files.version(r.photo_web_key)),
                    "caption": ratings.public_name(r),
                }
            )
            keys.append(r.photo_web_key)
    for p in summary.own_photos:
        photos.append(
            {
                "src": f"allowed:{p['web']}"
                if for_pdf
                else url_for("reports.own_photo", event_id=event.id, key=p["web"]),
                "caption": p["caption"],
            }
        )
        keys.append(p["web"])
    return {
        "event": event,
        "f": f,
        "summary": summary,
        "highlights": highlights,
        "photos": photos,
        "photo_keys": keys,
        "categories": category_rows(f["categories"]),
        **event_charts(f),
    }


def _pdf_response(template: str, name: str, files=None, **context):
    html = render_template(template, generated=beijing(clock.now(), "yyyy-MM-dd"), **context)
    return download(render_pdf(html, base_url=request.url_root, allowed_files=files or {}), name)


# -- the event summary -----------------------------------------------------------------------


def _save_event_summary(event_: Event, stored: list[str]) -> None:
    """The organiser's form: a new photo (its files' keys go in ``stored``, to be deleted
    if the save is refused), the texts and the chosen highlights and photos."""
    now = clock.now()
    file = request.files.get("photo")
    if file and file.filename:
        cleaned = clean_photo(file.read(10 * 1024 * 1024 + 1), filename=file.filename)
        stored.append(uploads.store_bytes(cleaned.original, "photo", cleaned.extension))
        stored.append(uploads.store_bytes(cleaned.web, "photo", "jpg"))
        services.add_own_photo(event_, *stored, request.form.get("caption", ""), actor=current_user, now=now)
    services.save_event_summary(
        event_,
        actor=current_user,
        now=now,
        ip=client_ip(),
        highlight_ids=[i for i in map(small_int, request.form.getlist("highlight")) if i is not None],
        photo_rating_ids=[i for i in map(small_int, request.form.getlist("photo_rating")) if i is not None],
        **{k: request.form.get(k, "")[:5000] for k in services.EVENT_TEXTS},
    )


@bp.route("/events/<int:event_id>/summary", methods=["GET", "POST"])
@writes
def event(event_id: int):
    """The event summary: figures, the organiser's texts, highlights and photos."""
    event_ = load(Event, event_id, "view_event")
    editable = can(current_user, "edit_event", event_)
    if request.method == "POST":
        if not editable:
            deny("event", event_id, permission="edit_event")
        stored: list[str] = []

        def refused(e: RuleError) -> None:
            services.delete_files(stored)  # the photo's files, written before the rule said no
            flash(str(e), "error")

        apply_rule(lambda: _save_event_summary(event_, stored), done=_("The summary was saved."), refused=refused)
        return redirect(url_for("reports.event", event_id=event_id))
    context = _event_context(event_, for_pdf=False)
    db.session.commit()  # the summary row made on first visit
    candidates = db.session.scalars(
        sa.select(Rating).where(
            Rating.event_id == event_.id,
            sa.or_(Rating.comment_approved_at.is_not(None), Rating.photo_approved_at.is_not(None)),
        )
    ).all()
    return render_template(
        "reports/event.html",
        editable=editable and not services._locked(event_),
        candidates=candidates,
        public_name=ratings.public_name,
        **context,
    )


@bp.get("/events/<int:event_id>/summary.pdf")
def event_pdf(event_id: int):
    """The event summary as an A4 PDF."""
    event_ = load(Event, event_id, "view_event")
    context = _event_context(event_, for_pdf=True)
    db.session.rollback()
    with contextlib.ExitStack() as copies:
        photos = {}
        for key in context.pop("photo_keys"):
            with contextlib.suppress(FileNotFoundError):  # swept meanwhile: the PDF goes without it
                photos[key] = copies.enter_context(uploads.local_copy(key))
        return _pdf_response("reports/pdf/event.html", f"summary-{event_id}.pdf", files=photos, **context)


@bp.get("/events/<int:event_id>/summary/photos/<key>")
def own_photo(event_id: int, key: str):
    event_ = load(Event, event_id, "view_event")
    if key not in {p["web"] for p in services.event_summary(event_, create=False).own_photos}:
        abort(404)
    db.session.rollback()
    return files.serve(key, mimetype=uploads.mimetype_of(key), immutable=True)  # the key is in the URL


@bp.get("/events/<int:event_id>/summary.xlsx")
@writes
def event_xlsx(event_id: int):
    """The figures behind the summary; the province and organisers also get the guest list (masked)."""
    event_ = load(Event, event_id, "view_event")
    f = figures.event_figures(event_, now=clock.now())
    sheets = _figure_sheets(f)
    if can(current_user, "edit_event", event_):
        guests = db.session.scalars(sa.select(Guest).where(Guest.event_id == event_.id).order_by(Guest.id)).all()
        sheets.append(
            (
                _("Guests"),
                [_("Name"), _("Category"), _("Organisation"), _("Mobile"), _("Checked in at")],
                [
                    [
                        g.name,
                        str(g.category.label),
                        g.organisation,
                        mask_phone(g.phone),
                        beijing(g.checked_in_at),
                    ]
                    for g in guests
                ],
            )
        )
    audit.record(
        "export.xlsx", now=clock.now(), actor=current_user, target=event_, ip=client_ip(), export="event_summary"
    )
    db.session.commit()
    return _xlsx(sheets, f"summary-{event_id}.xlsx")


def _figure_sheets(f: dict) -> list:
    return [
        (
            _("Guests by category"),
            [_("Category"), _("Invited"), _("Arrived"), _("Walk-ins")],
            [[c["label"], c["invited"], c["arrived"], c["walk_ins"]] for c in category_rows(f["categories"])],
        ),
        (_("Arrivals"), [_("Time"), _("Check-ins")], [list(a) for a in f["arrivals"]]),
        (
            _("Ratings"),
            [_("Question"), _("Average"), _("Answers"), "1★", "2★", "3★", "4★", "5★"],
            [
                [d["name"], round(d["average"], 2) if d["average"] is not None else "", d["count"], *d["distribution"]]
                for d in f["dimensions"]
            ],
        ),
    ]


def _xlsx(sheets, name: str):
    return download(xlsx.workbook(sheets), name)


# -- the provincial summary ------------------------------------------------------------------


#: how much of a province's 经验做法 the national report quotes before its link to the full text
EXCERPT = 120


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[:EXCERPT].rstrip() + "…"


def _province_context(campaign, code: str, *, create: bool = False) -> dict:
    summary = services.province_summary(campaign, code, create=create) or ProvinceSummary(
        campaign_id=campaign.id, province_code=code, state=SummaryState.NOT_SUBMITTED
    )
    province = db.session.get(Province, code)
    f = figures.province_figures(campaign, code, now=clock.now())
    return {
        "campaign": campaign,
        "province": province,
        "summary": summary,
        "f": f,
        "categories": category_rows(f["categories"]),
        "averages_chart": bar_chart(
            [(d["name"], d["average"]) for d in f["dimensions"]], maximum=5, title=_("Average stars per question")
        )
        if f["totals"]["ratings"]
        else None,
        "events_chart": bar_chart(
            [(e["title"][:14], e["arrived"]) for e in f["events"]],
            maximum=max([e["arrived"] for e in f["events"]] + [1]),
            title=_("Guests arrived per event"),
            decimals=0,
        )
        if f["events"]
        else None,
        "deadline": services.summary_deadline(campaign, code),
        # the reporting unit on the cover: the province's market regulation department
        "unit": _("%(province)s Administration for Market Regulation", province=province.name),
    }


@bp.route("/summary", methods=["GET", "POST"])
@writes
def province():
    """The province's summary of the campaign: its texts, the figures, submission."""
    if not can(current_user, "province_staff"):
        abort(403)
    campaign = campaign_or_404()
    context = _province_context(campaign, current_user.province_code, create=True)
    summary = context["summary"]
    if request.method == "POST":
        now, ip = clock.now(), client_ip()
        send = bool(request.form.get("send"))
        draft = bool(request.form.get("draft"))
        texts = {k: request.form.get(k, "")[:10000] for k in services.PROVINCE_TEXTS}
        saved = apply_rule(
            lambda: services.save_province_summary(summary, actor=current_user, now=now, ip=ip, **texts),
            done=None if send or draft else _("The summary was saved."),
        )
        if saved and send:
            apply_rule(
                lambda: services.submit_province_summary(summary, actor=current_user, now=now, ip=ip),
                done=_("The summary was submitted to HQ."),
            )
        elif saved and draft:
            _draft_from_events(summary, campaign, now=now, ip=ip)
        return redirect(url_for("reports.province"))
    db.session.commit()
    deadline = context.pop("deadline")
    sources = services.event_texts(campaign, current_user.province_code)
    return render_template(
        "reports/province.html",
        deadline=deadline.day,
        deadline_passed=deadline.passed(clock.now()),
        sources={
            field: [(e, getattr(es, source)) for e, es in sources if getattr(es, source).strip()]
            for field, source in services.DRAFT_SOURCES.items()
        },
        **context,
    )


def _draft_from_events(summary: ProvinceSummary, campaign, *, now, ip: str) -> None:
    """The button 以本省活动总结为底稿: fill the empty fields, say which, replace nothing."""
    filled: list[str] = []

    def draft() -> None:
        filled.extend(services.draft_from_events(summary, actor=current_user, now=now, ip=ip))

    if not apply_rule(draft):
        return
    if filled:
        names = {"results_text": _("Results"), "practices_text": _("Practices worth sharing")}
        names["suggestions_text"] = _("Problems and suggestions")
        flash(
            _(
                "Your texts were saved, and %(fields)s started from the event summaries. Please read and edit them "
                "before submitting.",
                fields="、".join(str(names[f]) for f in filled),
            ),
            "success",
        )
    elif services.event_texts(campaign, summary.province_code):
        flash(
            _(
                "Your texts were saved. Nothing was filled in: those fields already hold text, which is never "
                "replaced. The event summaries are shown under each field to copy from."
            ),
            "info",
        )
    else:
        flash(_("Your texts were saved. No event summary of the province has text yet."), "info")


def _province_or_deny(code: str) -> None:
    province = db.session.get(Province, code)
    if province is None:
        abort(404)
    if not can(current_user, "view_summary", province):
        deny("province", code, permission="view_summary")


@bp.get("/provinces/<code>/summary.pdf")
def province_pdf(code: str):
    """The provincial summary as PDF: the province itself and HQ."""
    if db.session.get(Province, code) is None:
        abort(404)
    _province_or_deny(code)
    context = _province_context(campaign_or_404(), code)
    db.session.rollback()
    return _pdf_response("reports/pdf/province.html", f"summary-{code}.pdf", **context)


@bp.get("/provinces/<code>/summary.xlsx")
@writes
def province_xlsx(code: str):
    """The figures behind the provincial summary: events, categories, questions (no guests)."""
    if db.session.get(Province, code) is None:
        abort(404)
    _province_or_deny(code)
    campaign = campaign_or_404()
    f = figures.province_figures(campaign, code, now=clock.now())
    dims = [d["name"] for d in f["dimensions"]]
    sheets = [
        (
            _("Events"),
            [_("Event"), _("Invited"), _("Arrived"), _("Walk-ins"), _("Ratings")] + dims + [_("Held")],
            [
                [e["title"], e["invited"], e["arrived"], e["walk_ins"], e["ratings"]]
                + [round(d["average"], 2) if d["average"] is not None else "" for d in e["dimensions"]]
                + [_("yes") if e["held"] else _("not yet")]
                for e in f["events"]
            ],
        ),
        (
            _("Guests by category"),
            [_("Category"), _("Invited"), _("Arrived"), _("Walk-ins")],
            [[c["label"], c["invited"], c["arrived"], c["walk_ins"]] for c in category_rows(f["categories"])],
        ),
        (
            _("Ratings"),
            [_("Question"), _("Average"), _("Answers")],
            [
                [d["name"], round(d["average"], 2) if d["average"] is not None else "", d["count"]]
                for d in f["dimensions"]
            ],
        ),
    ]
    audit.record(
        "export.xlsx",
        now=clock.now(),
        actor=current_user,
        target_type="province",
        target_id=code,
        province_code=code,
        ip=client_ip(),
        export="province_summary",
    )
    db.session.commit()
    return _xlsx(sheets, f"summary-{code}-{campaign.year}.xlsx")


# -- the national report -----------------------------------------------------------------------


def _national_context(campaign) -> dict:
    f = figures.national_figures(campaign, now=clock.now())
    dims = ratings.dimensions(campaign.id)
    return {
        "campaign": campaign,
        "f": f,
        "dims": dims,
        "summary_labels": {k.value: v for k, v in SUMMARY_STATE_LABELS.items()},
        "summaries": {
            s.province_code: s
            for s in db.session.scalars(sa.select(ProvinceSummary).where(ProvinceSummary.campaign_id == campaign.id))
        },
        "practices": [(s, _excerpt(s.practices_text)) for s in services.practices_for_hq(campaign)],
        "launch_events": services.launch_projects(campaign),
        "arrived_chart": bar_chart(
            [(str(CATEGORY_LABELS[GuestCategory(k)]), v) for k, v in f["categories"].items()],
            maximum=max(list(f["categories"].values()) + [1]),
            title=_("Guests arrived by category"),
            decimals=0,
        ),
        "averages_chart": bar_chart(
            [(d["name"], d["average"]) for d in f["dimensions"]], maximum=5, title=_("Average stars per question")
        )
        if any(d["count"] for d in f["dimensions"])
        else None,
    }


@bp.get("/hq/summaries")
@require("hq")
def national():
    """HQ's national report: every provincial unit's summary state and figures."""
    campaign = campaign_or_404()
    return render_template(
        "reports/national.html", **_national_context(campaign), retention=services.retention_date(campaign)
    )


@bp.get("/hq/summaries.pdf")
@require("hq")
def national_pdf():
    campaign = campaign_or_404()
    return _pdf_response("reports/pdf/national.html", f"national-{campaign.year}.pdf", **_national_context(campaign))


@bp.get("/hq/summaries.xlsx")
@require("hq")
@writes
def national_xlsx():
    """One sheet per table, figures only: HQ works without guests' personal data."""
    campaign = campaign_or_404()
    c = _national_context(campaign)
    categories = list(GuestCategory)
    header = (
        [_("Code"), _("Province"), _("Summary"), _("Late"), _("Events held"), _("Events planned")]
        + [_("Launch-ceremony projects")]
        + [str(CATEGORY_LABELS[k]) for k in categories]
        + [d.name for d in c["dims"]]
    )
    rows = [
        [
            r["code"],
            r["name"],
            _("Overdue, not submitted") if r["overdue"] else str(SummaryState(r["state"]).label),
            _("yes") if r["late"] else "",
            r["held"],
            r["planned"],
            r["launch"],
        ]
        + [r["arrived"][k.value] for k in categories]
        + [round(a, 2) if a is not None else "" for a in r["averages"]]
        for r in c["f"]["rows"]
    ]
    sheets = [
        (_("Provinces"), header, rows),
        (
            _("Guests by category"),
            [_("Category"), _("Arrived")],
            [[str(CATEGORY_LABELS[GuestCategory(k)]), v] for k, v in c["f"]["categories"].items()],
        ),
        (
            _("Ratings"),
            [_("Question"), _("Average"), _("Answers")],
            [
                [d["name"], round(d["average"], 2) if d["average"] is not None else "", d["count"]]
                for d in c["f"]["dimensions"]
            ],
        ),
    ]
    audit.record(
        "export.xlsx", now=clock.now(), actor=current_user, target=campaign, ip=client_ip(), export="national_summaries"
    )
    db.session.commit()
    return _xlsx(sheets, f"national-{campaign.year}.xlsx")


@bp.post("/hq/summaries/<int:summary_id>/return")
@require("hq")
def return_summary(summary_id: int):
    summary = db.session.get(ProvinceSummary, summary_id)
    if summary is None:
        abort(404)
    apply_rule(
        lambda: services.return_province_summary(
            summary, request.form.get("comment", ""), actor=current_user, now=clock.now(), ip=client_ip()
        ),
        done=_("The summary was returned to the province."),
    )
    return redirect(url_for("reports.national"))


@bp.post("/hq/purge")
@require("hq")
def purge():
    """Retire the campaign's personal data (after its retention date)."""
    campaign = campaign_or_404()
    if request.form.get("confirm") != str(campaign.year):
        flash(_("Type the campaign's year to confirm."), "error")
        return redirect(url_for("reports.national"))
    result: dict = {}

    def purge() -> None:
        result.update(services.purge_personal_data(campaign, now=clock.now(), actor=current_user, ip=client_ip()))

    if apply_rule(purge):
        services.delete_purged_files(result["keys"])
        flash(
            _(
                "Personal data retired: %(guests)s guests anonymised, %(photos)s photos deleted.",
                guests=result["guests"],
                photos=result["photos"],
            ),
            "success",
        )
    return redirect(url_for("reports.national"))
