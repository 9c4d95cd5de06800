from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from experience.core.models import enum_column
from experience.extensions import db
from experience.guests.models import CheckInVia


class ScanOutcome(enum.StrEnum):
    """Every answer a scan can get, the same on the phone, at the desk and through the API.

    The values are stable codes: the API returns them as ``result`` and the scan log keeps
    them. A str enum, so a member is its code wherever a string is expected (JSON,
    templates, ``== "ok"``).
    """

    OK = "ok"
    ALREADY_CHECKED_IN = "already_checked_in"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    NOT_OPEN = "not_open"
    WRONG_EVENT = "wrong_event"
    WALK_INS_CLOSED = "walk_ins_closed"
    FULL = "full"
    #: not an answer but a log entry: staff undid a check-in
    UNDONE = "undone"


class Scan(db.Model):
    """One scan, successful or not: the audit record of check-ins."""

    __tablename__ = "scan"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    #: the event the scan was made for (the scanner's or the guest's)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("event.id"), index=True)
    guest_id: Mapped[int | None] = mapped_column(sa.ForeignKey("guest.id"), index=True)
    result: Mapped[ScanOutcome] = enum_column("result", ScanOutcome)
    via: Mapped[CheckInVia] = enum_column("via", CheckInVia)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    api_token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_token.id"))
    #: the client's id for an API request; repeating it replays the first answer
    nonce: Mapped[str | None] = mapped_column(sa.String(64))
    #: the first characters of what was scanned, for unknown codes (never a whole valid code)
    code_hint: Mapped[str] = mapped_column(sa.String(12), default="")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")

    __table_args__ = (sa.UniqueConstraint("api_token_id", "nonce", name="uq_scan_token_nonce"),)


class ApiToken(db.Model):
    """A per-event token for scanner devices; only its hash is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    #: sha256 of the token; the token itself is shown once when created
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
