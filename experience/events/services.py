"""On-site experience events: create, edit, cancel, and the rules around them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from experience.accounts.models import User
from experience.campaigns.models import Campaign
from experience.core import audit, clock, uploads
from experience.core.errors import RuleError
from experience.core.permissions import can
from experience.events.models import Event, EventStatus, GuestCategory
from experience.events.permissions import organizer_candidates
from experience.events.signals import event_changed
from experience.extensions import db

#: the fields a person edits on the event form, in form order
FIELDS = (
    "title",
    "service_name",
    "certified_org",
    "certificate_no",
    "certification_body",
    "sector",
    "venue_name",
    "city",
    "address",
    "starts_at",
    "ends_at",
    "expected_guests",
    "highlights",
    "agenda",
    "host_unit",
    "contact_name",
    "contact_phone",
)

MESSAGES = {
    "time_order": _l("The event must end after it starts."),
    "cancelled": _l("This event was cancelled and can no longer be changed."),
    "reason_required": _l("Please give the reason for cancelling."),
    "bad_sector": _l("Please choose a sector from the list."),
    "wrong_year": _l("The event must take place in %(year)s, the campaign's year."),
}


def outside_week(campaign: Campaign, starts_at: datetime, ends_at: datetime) -> bool:
    """True when the event is not wholly inside the experience week (Beijing dates)."""
    start, end = clock.to_beijing(starts_at).date(), clock.to_beijing(ends_at).date()
    return start < campaign.week_start or end > campaign.week_end


def _validate(campaign: Campaign, data: dict[str, Any], *, creator: User) -> None:
    data.setdefault("highlights", "")
    data.setdefault("agenda", "")
    data.setdefault("expected_guests", {})
    # 主办单位: left blank, the unit of the account that created the event
    data["host_unit"] = (data.get("host_unit") or "").strip() or (creator.organisation or "").strip()
    if data["starts_at"] >= data["ends_at"]:
        raise RuleError("time_order", MESSAGES["time_order"])
    if clock.to_beijing(data["starts_at"]).year != campaign.year:
        raise RuleError("wrong_year", MESSAGES["wrong_year"], year=campaign.year)
    if data["sector"] not in campaign.sector_list:
        raise RuleError("bad_sector", MESSAGES["bad_sector"])
    data["expected_guests"] = {c.value: max(0, int(data["expected_guests"].get(c.value) or 0)) for c in GuestCategory}


def create_event(campaign: Campaign, *, actor: User, now: datetime, ip: str = "", province_code: str, **data) -> Event:
    """Create an event in ``province_code``; an organiser who creates one manages it.
    A blank ``host_unit`` becomes the organisation of ``actor``."""
    _validate(campaign, data, creator=actor)
    event = Event(
        campaign=campaign,
        province_code=province_code,
        created_by=actor,
        created_at=now,
        updated_at=now,
        **{k: data[k] for k in FIELDS},
    )
    if can(actor, "organise_event", event):
        event.organizers.append(actor)
    db.session.add(event)
    db.session.flush()
    audit.record("event.create", now=now, actor=actor, target=event, ip=ip)
    _flag_to_hq(event, "event_added", actor=actor, now=now, ip=ip)
    return event


def update_event(event: Event, *, actor: User, now: datetime, ip: str = "", **data) -> dict[str, Any]:
    """Apply the edit; returns what changed. After the plan went to HQ the change is
    still allowed, but audit-logged as such and flagged to HQ with a notice. A blank
    ``host_unit`` becomes the organisation of the account that created the event; a
    missing one keeps the event's."""
    if event.is_cancelled:
        raise RuleError("cancelled", MESSAGES["cancelled"])
    data.setdefault("host_unit", event.host_unit)
    _validate(event.campaign, data, creator=event.created_by)
    changed = {k: data[k] for k in FIELDS if getattr(event, k) != data[k]}
    if not changed:
        return {}
    for k, v in changed.items():
        setattr(event, k, v)
    event.updated_at = now
    audit.record("event.update", now=now, actor=actor, target=event, ip=ip, fields=sorted(changed))
    _flag_to_hq(event, "event_changed", actor=actor, now=now, ip=ip, fields=sorted(changed))
    return changed


def _flag_to_hq(event: Event, kind: str, *, actor: User, now: datetime, ip: str, **detail) -> None:
    """Tell whoever listens (plans: once the plan is with HQ, the change is flagged)."""
    event_changed.send(event, kind=kind, actor=actor, now=now, ip=ip, detail=detail)


def set_attachment(event: Event, key: str, name: str, *, actor: User, now: datetime, ip: str = "") -> str | None:
    """Attach a stored upload; returns the key it replaced (the caller deletes it after commit)."""
    old = event.attachment_key
    event.attachment_key, event.attachment_name = key, name
    event.updated_at = now
    audit.record("event.update", now=now, actor=actor, target=event, ip=ip, fields=["attachment"])
    return old


def cancel_event(event: Event, reason: str, *, actor: User, now: datetime, ip: str = "") -> None:
    """Cancel but keep the event, with the reason; it leaves the plan's event list."""
    if event.is_cancelled:
        raise RuleError("cancelled", MESSAGES["cancelled"])
    if not reason.strip():
        raise RuleError("reason_required", MESSAGES["reason_required"])
    was_launch = event.launch_selected
    event.status = EventStatus.CANCELLED
    event.cancel_reason = reason.strip()
    event.cancelled_at = now
    event.launch_selected = False
    audit.record("event.cancel", now=now, actor=actor, target=event, ip=ip, reason=reason.strip())
    _flag_to_hq(
        event,
        "event_cancelled_launch" if was_launch else "event_cancelled",
        actor=actor,
        now=now,
        ip=ip,
        reason=reason.strip(),
    )


def assign_organizers(event: Event, user_ids: list[int], *, actor: User, now: datetime, ip: str = "") -> None:
    """Province staff choose the organisers who manage the event; anyone else named is ignored."""
    chosen = set(user_ids or ())
    event.organizers = [u for u in organizer_candidates(event) if u.id in chosen]
    event.updated_at = now
    audit.record(
        "event.update",
        now=now,
        actor=actor,
        target=event,
        ip=ip,
        fields=["organizers"],
        organizers=[u.username for u in event.organizers],
    )


def record_attachment_download(event: Event, *, actor: User, now: datetime, ip: str = "") -> None:
    """Note in the audit log who downloaded the event's attachment."""
    audit.record("file.download", now=now, actor=actor, target=event, ip=ip, file=event.attachment_name)


@uploads.keeps
def _attachments(now: float):
    return db.session.scalars(sa.select(Event.attachment_key).where(Event.attachment_key.is_not(None)))
