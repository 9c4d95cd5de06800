"""The guest list: adding, editing, importing, and what the desk searches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer

from experience.core import audit, uploads
from experience.core.errors import RuleError
from experience.core.tokens import new_code
from experience.events.models import Event, GuestCategory
from experience.extensions import db
from experience.guests.importer import LEVELLED, ImportRow, mark_duplicates, match_key, parse_guest_file
from experience.guests.models import Guest, RevokedCode, Salutation
from experience.guests.signals import guest_removing

FIELDS = ("name", "salutation", "category", "level", "organisation", "title", "phone", "note")

#: the largest guest list read for an import
IMPORT_LIMIT = 5 * 1024 * 1024

MESSAGES = {
    "duplicate_phone": _l("This mobile number is already on the list (%(name)s)."),
    "duplicate_name": _l("%(name)s of %(organisation)s is already on the list."),
    "checked_in": _l("A guest who has checked in cannot be removed."),
}


def _clean(data: dict) -> dict:
    data = {k: data.get(k) for k in FIELDS}
    data["name"] = (data["name"] or "").strip()
    data["organisation"] = (data["organisation"] or "").strip()
    data["title"] = (data["title"] or "").strip()
    data["note"] = (data["note"] or "").strip()
    data["phone"] = data["phone"] or None
    data["salutation"] = Salutation(data["salutation"]) if data["salutation"] else None
    if data["category"] not in LEVELLED:
        data["level"] = None
    return data


def _check_duplicate(event: Event, data: dict, exclude_id: int | None = None) -> None:
    """The import's rule, for one guest: the same mobile, or the same name and organisation
    compared as the importer compares them (NFKC, case and spaces ignored)."""
    others = sa.select(Guest.name, Guest.organisation, Guest.phone).where(Guest.event_id == event.id)
    if exclude_id is not None:
        others = others.where(Guest.id != exclude_id)
    name, organisation = match_key(data["name"]), match_key(data["organisation"])
    for other in db.session.execute(others):
        if data["phone"] and other.phone == data["phone"]:
            raise RuleError("duplicate_phone", MESSAGES["duplicate_phone"], name=other.name)
        if organisation and match_key(other.name) == name and match_key(other.organisation) == organisation:
            raise RuleError(
                "duplicate_name", MESSAGES["duplicate_name"], name=other.name, organisation=other.organisation
            )


def add_guest(event: Event, *, actor, now: datetime, ip: str = "", **data) -> Guest:
    """:raises RuleError: duplicate_phone or duplicate_name."""
    data = _clean(data)
    _check_duplicate(event, data)
    guest = Guest(event_id=event.id, created_at=now, **data)
    db.session.add(guest)
    db.session.flush()
    audit.record("guest.create", now=now, actor=actor, target=guest, ip=ip, province_code=event.province_code)
    return guest


def update_guest(guest: Guest, *, actor, now: datetime, ip: str = "", **data) -> None:
    data = _clean(data)
    _check_duplicate(guest.event, data, exclude_id=guest.id)
    changed = [k for k, v in data.items() if getattr(guest, k) != v]
    for k in changed:
        setattr(guest, k, data[k])
    if changed:
        audit.record(
            "guest.update",
            now=now,
            actor=actor,
            target=guest,
            ip=ip,
            province_code=guest.event.province_code,
            fields=changed,
        )


def remove_guest(guest: Guest, *, actor, now: datetime, ip: str = "") -> None:
    """Take a guest off the list (before they arrive); the scan log keeps its rows."""
    if guest.checked_in_at is not None:
        raise RuleError("checked_in", MESSAGES["checked_in"])
    audit.record(
        "guest.delete",
        now=now,
        actor=actor,
        target=guest,
        ip=ip,
        province_code=guest.event.province_code,
        name=guest.name,
    )
    guest_removing.send(guest)
    db.session.execute(sa.delete(RevokedCode).where(RevokedCode.guest_id == guest.id))
    db.session.delete(guest)


def existing_keys(event: Event) -> list[tuple[str, str, str | None]]:
    return [
        tuple(r)
        for r in db.session.execute(
            sa.select(Guest.name, Guest.organisation, Guest.phone).where(Guest.event_id == event.id)
        )
    ]


def preview_import(event: Event, data: bytes, filename: str) -> list[ImportRow]:
    """Read an uploaded list and mark each row against the event's list as it is now.
    Writes nothing: the rows are shown first, and imported only when confirmed.

    :raises RuleError: too_large, or the reader's codes for a file it cannot read.
    """
    if len(data) > IMPORT_LIMIT:
        raise RuleError("too_large", uploads.MESSAGES["too_large"], limit=IMPORT_LIMIT // (1024 * 1024))
    rows = parse_guest_file(data, filename)
    mark_duplicates(rows, existing_keys(event))
    return rows


def import_file(event: Event, data: bytes, filename: str, *, actor, now: datetime, ip: str = "") -> tuple[int, int]:
    """Import the confirmed file's good rows (see :func:`import_rows`); returns (imported, skipped).

    :raises RuleError: the reader's codes (only a file changed since its preview).
    """
    rows = parse_guest_file(data, filename)
    imported = import_rows(event, rows, actor=actor, now=now, ip=ip)
    return imported, len(rows) - imported


def import_rows(event: Event, rows, *, actor, now: datetime, ip: str = "") -> int:
    """Insert the rows that passed the preview, all in the caller's one transaction.

    Duplicates are checked again against the list as it is now, so an import confirmed
    twice adds nothing the second time.
    """
    mark_duplicates(rows, existing_keys(event))
    good = [r for r in rows if r.ok]
    db.session.add_all(
        [
            Guest(
                event_id=event.id,
                created_at=now,
                name=r.name,
                salutation=r.salutation,
                category=r.category,
                level=r.level if r.category in LEVELLED else None,
                organisation=r.organisation,
                title=r.title,
                phone=r.phone,
                note=r.note,
            )
            for r in good
        ]
    )
    audit.record(
        "guest.import", now=now, actor=actor, target=event, ip=ip, imported=len(good), skipped=len(rows) - len(good)
    )
    return len(good)


def record_export(event: Event, *, rows: int, actor, now: datetime, ip: str = "") -> None:
    """Note in the audit log who downloaded the event's guest list, and how many rows."""
    audit.record("export.xlsx", now=now, actor=actor, target=event, ip=ip, export="guest_list", rows=rows)


def search(event: Event, query: str, limit: int = 50) -> list[Guest]:
    """The desk's search: by name, by organisation, or by the last four digits of the mobile."""
    stmt = sa.select(Guest).where(Guest.event_id == event.id).order_by(Guest.name).limit(limit)
    q = query.strip()
    if q.isdigit() and len(q) == 4:
        stmt = stmt.where(Guest.phone.like(f"%{q}"))
    elif q:
        pattern = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(sa.or_(Guest.name.like(pattern), Guest.organisation.like(pattern)))
    return list(db.session.scalars(stmt))


@dataclass
class CategoryCount:
    category: GuestCategory
    invited: int = 0
    arrived: int = 0
    walk_ins: int = 0


def counts(event: Event) -> list[CategoryCount]:
    """Invited / arrived / walk-ins per category, in one grouped query."""
    by = {c: CategoryCount(c) for c in GuestCategory}
    rows = db.session.execute(
        sa.select(
            Guest.category,
            sa.func.sum(sa.case((Guest.walk_in.is_(False), 1), else_=0)),
            sa.func.sum(sa.case((Guest.checked_in_at.is_not(None), 1), else_=0)),
            sa.func.sum(sa.case((Guest.walk_in.is_(True), 1), else_=0)),
        )
        .where(Guest.event_id == event.id)
        .group_by(Guest.category)
    )
    for category, invited, arrived, walk_ins in rows:
        by[category] = CategoryCount(category, int(invited or 0), int(arrived or 0), int(walk_ins or 0))
    return list(by.values())


def revoke_code(guest: Guest, *, actor, now: datetime, ip: str = "") -> str:
    """Withdraw the guest's code and issue a new one; the old one answers ``revoked``."""
    db.session.add(RevokedCode(code=guest.code, guest_id=guest.id, revoked_at=now))
    guest.code = new_code()
    audit.record(
        "guest.code_revoke", now=now, actor=actor, target=guest, ip=ip, province_code=guest.event.province_code
    )
    return guest.code


# -- Import previews: a day to confirm, for the one who uploaded, into the one event ---------

#: an uploaded list (names, units, mobiles) waits this long for its confirmation
PREVIEW_TTL = timedelta(days=1)
PREVIEW_PREFIX = "import"


def _tickets() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="guest-import-preview")


def preview_ticket(key: str, event: Event, user) -> str:
    """What the preview page posts back: the stored file's key, signed with the event and
    the uploader, so that it confirms into this event, by this person, within a day."""
    return _tickets().dumps({"k": key, "e": event.id, "u": user.id})


def preview_key(ticket: str, event: Event, user) -> str | None:
    """The stored file's key of a ticket; None when it is forged, expired, or made for
    another event or person."""
    try:
        data = _tickets().loads(ticket or "", max_age=int(PREVIEW_TTL.total_seconds()))
    except BadSignature:  # SignatureExpired included
        return None
    if not isinstance(data, dict) or data.get("e") != event.id or data.get("u") != user.id:
        return None
    return data.get("k") if isinstance(data.get("k"), str) else None


@uploads.keeps
def _live_previews(now: float):
    ttl = PREVIEW_TTL.total_seconds()
    return [n for n, mtime in uploads.stored_files() if n.startswith(PREVIEW_PREFIX + "-") and now - mtime < ttl]


def drop_previews() -> int:
    """Delete every waiting import preview, whatever its age (the personal-data purge)."""
    names = [n for n, _ in uploads.stored_files() if n.startswith(PREVIEW_PREFIX + "-")]
    for name in names:
        uploads.delete_upload(name)
    return len(names)
