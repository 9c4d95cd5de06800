"""Summaries: the organisers' and the provinces' texts, submission by the deadline, HQ's
review, and retiring personal data when the campaign's purpose is served."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from experience.accounts.models import Province
from experience.campaigns.models import Campaign
from experience.core import audit, clock, uploads
from experience.core.errors import RuleError
from experience.core.submissions import Deadline
from experience.events.models import Event, EventStatus
from experience.extensions import db
from experience.guests.models import Guest
from experience.guests.services import drop_previews
from experience.notices.services import notify
from experience.plans.models import DeadlineKind
from experience.plans.services import deadline_for
from experience.ratings.models import Rating
from experience.reports.figures import province_figures
from experience.reports.models import SUBMISSION_MESSAGES, EventSummary, ProvinceSummary, SummaryState

EVENT_TEXTS = ("results_text", "practices_text", "problems_text")
PROVINCE_TEXTS = ("organisation_text", "publicity_text", "results_text", "practices_text", "suggestions_text")
ANONYMOUS = "（已匿名）"

MESSAGES = {
    **SUBMISSION_MESSAGES,
    "locked": _l("The province has submitted its summary; the texts can change again if HQ returns it."),
    "missing_text": _l("Please write every part of the summary first."),
    "not_yet": _l("Personal data is kept until %(date)s; it can be retired after that day."),
    "not_approved": _l("Only approved comments and photos can be chosen."),
}


def retention_date(campaign: Campaign) -> date:
    """Personal data is kept until this day: 90 days after the summaries are due, unless set."""
    return campaign.personal_data_until or campaign.summary_deadline + timedelta(days=90)


def event_summary(event: Event, *, create: bool = True) -> EventSummary:
    """The event's summary; without ``create`` a blank one is returned but not stored
    (a PDF or a photo is a read: it must not write)."""
    summary = db.session.scalar(sa.select(EventSummary).where(EventSummary.event_id == event.id))
    if summary is None:
        summary = EventSummary(
            event_id=event.id,
            highlight_ids=[],
            photo_rating_ids=[],
            own_photos=[],
            results_text="",
            practices_text="",
            problems_text="",
        )
        if create:
            db.session.add(summary)
            db.session.flush()
    return summary


def province_summary(campaign: Campaign, province_code: str, *, create: bool = True) -> ProvinceSummary | None:
    summary = db.session.scalar(
        sa.select(ProvinceSummary).where(
            ProvinceSummary.campaign_id == campaign.id, ProvinceSummary.province_code == province_code
        )
    )
    if summary is None and create:
        summary = ProvinceSummary(campaign_id=campaign.id, province_code=province_code, figures={})
        db.session.add(summary)
        db.session.flush()
    return summary


def summary_deadline(campaign: Campaign, province_code: str) -> Deadline:
    """The province's summary deadline, with HQ's extension if any."""
    return deadline_for(campaign, DeadlineKind.SUMMARY, province_code=province_code)


def _locked(event: Event) -> bool:
    s = province_summary(event.campaign, event.province_code, create=False)
    return s is not None and not s.editable


def save_event_summary(
    event: Event, *, actor, now: datetime, ip: str = "", highlight_ids=(), photo_rating_ids=(), **texts: str
) -> EventSummary:
    """The organiser's texts and choices; editable until the province submits.

    :raises RuleError: locked, or not_approved for a comment or photo not approved.
    """
    if _locked(event):
        raise RuleError("locked", MESSAGES["locked"])
    approved = {r.id: r for r in db.session.scalars(sa.select(Rating).where(Rating.event_id == event.id))}
    if any(i not in approved or approved[i].comment_approved_at is None for i in highlight_ids) or any(
        i not in approved or approved[i].photo_approved_at is None for i in photo_rating_ids
    ):
        raise RuleError("not_approved", MESSAGES["not_approved"])
    summary = event_summary(event)
    for field in EVENT_TEXTS:
        if field in texts:
            setattr(summary, field, (texts[field] or "").strip())
    summary.highlight_ids = list(highlight_ids)
    summary.photo_rating_ids = list(photo_rating_ids)
    summary.updated_at = now
    audit.record("summary.save", now=now, actor=actor, target=event, ip=ip)
    return summary


def add_own_photo(event: Event, key: str, web_key: str, caption: str, *, actor, now: datetime) -> None:
    if _locked(event):
        raise RuleError("locked", MESSAGES["locked"])
    summary = event_summary(event)
    summary.own_photos = [*summary.own_photos, {"key": key, "web": web_key, "caption": caption.strip()[:200]}]
    summary.updated_at = now


def save_province_summary(summary: ProvinceSummary, *, actor, now: datetime, ip: str = "", **texts: str) -> None:
    if not summary.editable:
        raise RuleError("locked", MESSAGES["locked"])
    for field in PROVINCE_TEXTS:
        if field in texts:
            setattr(summary, field, (texts[field] or "").strip())
    _saved(summary, actor=actor, now=now, ip=ip)


def _saved(summary: ProvinceSummary, *, actor, now: datetime, ip: str, **detail) -> None:
    summary.updated_at = now
    audit.record(
        "summary.save",
        now=now,
        actor=actor,
        target_type="province_summary",
        target_id=str(summary.id),
        province_code=summary.province_code,
        ip=ip,
        **detail,
    )


#: the provincial summary's fields that the event summaries can start: from which of their texts
DRAFT_SOURCES = {
    "results_text": "results_text",
    "practices_text": "practices_text",
    "suggestions_text": "problems_text",
}


def event_texts(campaign: Campaign, province_code: str) -> list[tuple[Event, EventSummary]]:
    """The province's event summaries that have some text, by the events' start: what its
    own summary can start from (events cancelled are left out)."""
    rows = db.session.execute(
        sa.select(Event, EventSummary)
        .join(EventSummary, EventSummary.event_id == Event.id)
        .where(
            Event.campaign_id == campaign.id,
            Event.province_code == province_code,
            Event.status == EventStatus.PLANNED,
        )
        .order_by(Event.starts_at, Event.id)
    ).all()
    return [(e, s) for e, s in rows if any((getattr(s, f) or "").strip() for f in EVENT_TEXTS)]


def draft_from_events(summary: ProvinceSummary, *, actor, now: datetime, ip: str = "") -> list[str]:
    """Start the empty fields of the provincial summary (工作成果, 经验做法, 问题与建议) from
    its events' summaries, each under the event's title. A field with text of the province's
    own is never touched. Returns the fields filled (none when nothing was empty or there
    is nothing to start from).

    :raises RuleError: locked once submitted.
    """
    if not summary.editable:
        raise RuleError("locked", MESSAGES["locked"])
    sources = event_texts(db.session.get(Campaign, summary.campaign_id), summary.province_code)
    filled = []
    for field, source in DRAFT_SOURCES.items():
        if (getattr(summary, field) or "").strip():
            continue
        parts = [_under_title(event.title, getattr(es, source)) for event, es in sources if getattr(es, source).strip()]
        if parts:
            setattr(summary, field, "\n\n".join(parts))
            filled.append(field)
    if filled:
        _saved(summary, actor=actor, now=now, ip=ip, fields=filled)
    return filled


def _under_title(title: str, text: str) -> str:
    return str(_l("[%(title)s]", title=title)) + "\n" + text.strip()


def practices_for_hq(campaign: Campaign) -> list[ProvinceSummary]:
    """The provinces' summaries with HQ (submitted), by province code: their 经验做法 go in
    the national report."""
    return list(
        db.session.scalars(
            sa.select(ProvinceSummary)
            .where(ProvinceSummary.campaign_id == campaign.id, ProvinceSummary.state == SummaryState.SUBMITTED)
            .order_by(ProvinceSummary.province_code)
        )
    )


def launch_projects(campaign: Campaign) -> list[Event]:
    """HQ's launch-ceremony picks (启动仪式项目), by province and start."""
    return list(
        db.session.scalars(
            sa.select(Event)
            .where(
                Event.campaign_id == campaign.id,
                Event.status == EventStatus.PLANNED,
                Event.launch_selected.is_(True),
            )
            .order_by(Event.province_code, Event.starts_at, Event.id)
        )
    )


def submit_province_summary(summary: ProvinceSummary, *, actor, now: datetime, ip: str = "") -> None:
    """Send the summary to HQ; first time by the deadline (or HQ's extension), again any time
    after a return (core.submissions). The figures are kept as they stand now.

    :raises RuleError: wrong_state, missing_text, past_deadline.
    """
    if not summary.editable:
        raise summary.wrong_state()
    if any(not getattr(summary, f).strip() for f in PROVINCE_TEXTS):
        raise RuleError("missing_text", MESSAGES["missing_text"])
    campaign = db.session.get(Campaign, summary.campaign_id)
    first = summary.submit(now, summary_deadline(campaign, summary.province_code))
    summary.figures = province_figures(campaign, summary.province_code, now=now)
    audit.record(
        "summary.submit",
        now=now,
        actor=actor,
        target_type="province_summary",
        target_id=str(summary.id),
        province_code=summary.province_code,
        ip=ip,
        first=first,
        late=summary.late,
    )
    notify(None, "summary_submitted", now=now, link=("reports.national", {}), province=summary.province.name)


def return_province_summary(summary: ProvinceSummary, comment: str, *, actor, now: datetime, ip: str = "") -> None:
    """HQ sends the summary back with what to change; it may come back at any time.

    :raises RuleError: wrong_state, comment_required.
    """
    comment = summary.send_back(comment, now)
    audit.record(
        "summary.return",
        now=now,
        actor=actor,
        target_type="province_summary",
        target_id=str(summary.id),
        province_code=summary.province_code,
        ip=ip,
        comment=comment,
    )
    notify(summary.province_code, "summary_returned", now=now, link=("reports.province", {}), comment=comment)


def purge_personal_data(campaign: Campaign, *, now: datetime, actor=None, ip: str = "") -> dict:
    """Anonymise the guests of the campaign and delete their photos, once the retention
    date has passed. Counts, categories, check-in times and stars stay, so every summary
    still renders with the same figures.

    :raises RuleError: not_yet.
    """
    until = retention_date(campaign)
    if clock.beijing_today(now) <= until:
        raise RuleError("not_yet", MESSAGES["not_yet"], date=until.isoformat())
    event_ids = sa.select(Event.id).where(Event.campaign_id == campaign.id)
    photos = db.session.execute(
        sa.select(Rating.photo_key, Rating.photo_web_key).where(
            Rating.event_id.in_(event_ids), Rating.photo_key.is_not(None)
        )
    ).all()
    own = [
        p
        for s in db.session.scalars(sa.select(EventSummary).where(EventSummary.event_id.in_(event_ids)))
        for p in s.own_photos
    ]
    guests = db.session.execute(
        sa.update(Guest)
        .where(Guest.event_id.in_(event_ids), Guest.anonymised_at.is_(None))
        .values(name=ANONYMOUS, phone=None, organisation="", title="", note="", anonymised_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(
        sa.update(Rating)
        .where(Rating.event_id.in_(event_ids))
        .values(photo_key=None, photo_web_key=None, photo_approved_at=None, photo_approved_by_id=None)
        .execution_options(synchronize_session=False)
    )
    for s in db.session.scalars(sa.select(EventSummary).where(EventSummary.event_id.in_(event_ids))):
        s.photo_rating_ids, s.own_photos = [], []
    campaign.personal_data_purged_at = now
    audit.record(
        "personal_data.purge",
        now=now,
        actor=actor,
        actor_name="" if actor else "cli",
        target=campaign,
        ip=ip,
        guests=guests,
        photos=len(photos) + len(own),
    )
    keys = [k for row in photos for k in row if k] + [p[k] for p in own for k in ("key", "web") if p.get(k)]
    return {"guests": guests, "photos": len(photos) + len(own), "keys": keys}


def delete_files(keys: list[str]) -> None:
    """After the commit: the files of what was purged or replaced."""
    for key in keys:
        uploads.delete_upload(key)


def delete_purged_files(keys: list[str]) -> dict:
    """After the purge's commit: its photos, every waiting import preview (lists of
    names and mobiles), and any stored file no row points to any more."""
    delete_files(keys)
    previews = drop_previews()
    swept = uploads.sweep()
    return {"previews": previews, "swept": len(swept)}


@uploads.keeps
def _own_photos(now: float):
    for photos in db.session.scalars(sa.select(EventSummary.own_photos)):
        for photo in photos or ():
            yield photo.get("key")
            yield photo.get("web")


@audit.names("province_summary")
def _summary_names(ids: set[str]) -> dict[str, str]:
    """A provincial summary is named by its province."""
    numbers = {int(i) for i in ids if i.isdigit() and len(i) <= 18}
    rows = db.session.execute(
        sa.select(ProvinceSummary.id, Province.name)
        .join(Province, Province.code == ProvinceSummary.province_code)
        .where(ProvinceSummary.id.in_(numbers))
    )
    return {str(i): name for i, name in rows}
