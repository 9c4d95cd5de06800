"""The audit log: who did what to what, when and from where.

Rows are only ever inserted. The migration installs triggers that make UPDATE and
DELETE fail on SQLite and PostgreSQL, so no page or command can rewrite history; the
app has no purge for it, so it keeps far longer than the 180 days required.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
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

    __table_args__ = (
        # The login throttle counts an account's and an IP's recent failures on every
        # attempt (accounts.services): the action, then the key, then a range of time.
        sa.Index("ix_audit_entry_action_target_id_at", "action", "target_id", "at"),
        sa.Index("ix_audit_entry_action_ip_at", "action", "ip", "at"),
    )

    @property
    def label(self):
        return ACTION_LABELS.get(self.action, self.action)


#: every action the log knows, in the order HQ's filter lists them
ACTIONS = (
    "login.success",
    "login.failure",
    "login.throttled",
    "logout",
    "password.change",
    "password.reset",
    "account.create",
    "account.update",
    "account.disable",
    "account.enable",
    "access.denied",
    "campaign.update",
    "event.create",
    "event.update",
    "event.cancel",
    "event.change_after_confirm",
    "plan.save",
    "plan.submit",
    "plan.return",
    "plan.confirm",
    "plan.extension",
    "event.launch_select",
    "event.launch_unselect",
    "export.xlsx",
    "file.download",
    "guest.create",
    "guest.update",
    "guest.import",
    "guest.code_revoke",
    "guest.delete",
    "checkin.undo",
    "api_token.create",
    "api_token.revoke",
    "event.checkin_settings",
    "rating.approve",
    "rating.withdraw",
    "dimension.update",
    "summary.save",
    "summary.submit",
    "summary.return",
    "summary.extension",
    "personal_data.purge",
)


#: what HQ reads in the log's filter and table
ACTION_LABELS = {
    "login.success": _l("Login"),
    "login.failure": _l("Failed login"),
    "login.throttled": _l("Login throttled"),
    "logout": _l("Logout"),
    "password.change": _l("Password changed"),
    "password.reset": _l("Password reset"),
    "account.create": _l("Account created"),
    "account.update": _l("Account changed"),
    "account.disable": _l("Account disabled"),
    "account.enable": _l("Account enabled"),
    "access.denied": _l("Access refused"),
    "campaign.update": _l("Campaign changed"),
    "event.create": _l("Event created"),
    "event.update": _l("Event changed"),
    "event.cancel": _l("Event cancelled"),
    "event.change_after_confirm": _l("Event changed after submission"),
    "plan.save": _l("Plan saved"),
    "plan.submit": _l("Plan submitted"),
    "plan.return": _l("Plan returned"),
    "plan.confirm": _l("Plan confirmed"),
    "plan.extension": _l("Deadline extended"),
    "event.launch_select": _l("Launch-ceremony project selected"),
    "event.launch_unselect": _l("Launch-ceremony project withdrawn"),
    "export.xlsx": _l("Spreadsheet downloaded"),
    "file.download": _l("File downloaded"),
    "guest.create": _l("Guest added"),
    "guest.update": _l("Guest changed"),
    "guest.import": _l("Guests imported"),
    "guest.code_revoke": _l("Invitation withdrawn and reissued"),
    "guest.delete": _l("Guest removed"),
    "checkin.undo": _l("Check-in undone"),
    "api_token.create": _l("API token created"),
    "api_token.revoke": _l("API token revoked"),
    "event.checkin_settings": _l("Check-in settings changed"),
    "rating.approve": _l("Comment or photo approved"),
    "rating.withdraw": _l("Approval withdrawn"),
    "dimension.update": _l("Rating questions changed"),
    "summary.save": _l("Summary saved"),
    "summary.submit": _l("Summary submitted"),
    "summary.return": _l("Summary returned"),
    "summary.extension": _l("Summary deadline extended"),
    "personal_data.purge": _l("Personal data retired"),
}


def record(
    action: str,
    *,
    now: datetime,
    actor=None,
    target=None,
    target_type: str = "",
    target_id: str = "",
    province_code: str | None = None,
    ip: str = "",
    actor_name: str = "",
    **detail: Any,
) -> AuditEntry:
    """Add an audit entry to the session; the caller's commit makes it durable."""
    assert action in ACTIONS and action in ACTION_LABELS, action
    if target is not None:
        target_type = target_type or type(target).__name__.lower()
        target_id = target_id or str(target.id)
        province_code = province_code or getattr(target, "province_code", None)
    entry = AuditEntry(
        at=now,
        action=action,
        actor_id=getattr(actor, "id", None),
        actor_name=actor_name or getattr(actor, "username", "") or "",
        target_type=target_type,
        target_id=str(target_id)[:80],
        province_code=province_code,
        ip=ip[:64],
        detail=detail,
    )
    db.session.add(entry)
    return entry
