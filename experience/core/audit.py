"""The audit log: who did what to what, when and from where.

Rows are only ever inserted. The migration installs triggers that make UPDATE and
DELETE fail on SQLite and PostgreSQL, so no page or command can rewrite history; the
app has no purge for it, so it keeps far longer than the 180 days required.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from experience.extensions import db


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: naive UTC
    at: Mapped[datetime] = mapped_column(index=True)
    #: a stable code such as ``plan.submit`` or ``login.failure``; see ACTIONS
    action: Mapped[str] = mapped_column(sa.String(40), index=True)
    actor_id: Mapped[int | None] = mapped_column(index=True)
    #: kept as text so the entry survives renames and stays readable on its own
    actor_name: Mapped[str] = mapped_column(sa.String(80), default="")
    target_type: Mapped[str] = mapped_column(sa.String(40), default="")
    target_id: Mapped[str] = mapped_column(sa.String(80), default="", index=True)
    province_code: Mapped[str | None] = mapped_column(sa.String(2), index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), default="", index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


#: every action the log knows, in the order HQ's filter lists them
ACTIONS = (
    "login.success", "login.failure", "login.throttled", "logout",
    "password.change", "password.reset",
    "account.create", "account.update", "account.disable", "account.enable",
    "access.denied",
    "campaign.update",
    "event.create", "event.update", "event.cancel", "event.change_after_confirm",
    "plan.save", "plan.submit", "plan.return", "plan.confirm",
    "plan.extension", "event.launch_select", "event.launch_unselect",
    "export.xlsx", "file.download",
    "guest.create", "guest.update", "guest.import", "guest.code_revoke", "guest.delete",
    "checkin.undo", "api_token.create", "api_token.revoke", "event.checkin_settings",
)


def record(action: str, *, now: datetime, actor=None, target=None, target_type: str = "",
           target_id: str = "", province_code: str | None = None, ip: str = "",
           actor_name: str = "", **detail: Any) -> AuditEntry:
    """Add an audit entry to the session; the caller's commit makes it durable."""
    assert action in ACTIONS, action
    if target is not None:
        target_type = target_type or type(target).__name__.lower()
        target_id = target_id or str(target.id)
        province_code = province_code or getattr(target, "province_code", None)
    entry = AuditEntry(
        at=now, action=action,
        actor_id=getattr(actor, "id", None),
        actor_name=actor_name or getattr(actor, "username", "") or "",
        target_type=target_type, target_id=str(target_id)[:80],
        province_code=province_code, ip=ip[:64], detail=detail,
    )
    db.session.add(entry)
    return entry
