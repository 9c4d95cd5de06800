from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from experience.extensions import db


class Notice(db.Model):
    """A message inside the app: to one account (``user_id``, a submitting unit's), to
    everyone of a role (``role``, the works secretariat), to a province's staff
    (``province_code``), or, with none of the three, to HQ.

    The text is rendered at display time from ``kind`` and ``params`` so that it follows
    the reader's language.
    """

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    #: the recipient province; NULL (with no user and no role) means HQ
    province_code: Mapped[str | None] = mapped_column(sa.ForeignKey("province.code"), index=True)
    #: the recipient account
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: the recipient role (accounts.models.Role's value): everyone who has it reads it
    role: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: where the notice leads, as an endpoint name and its arguments
    link_endpoint: Mapped[str] = mapped_column(sa.String(60), default="")
    link_args: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    #: when the reader they were loaded for read it: set by notices.services.notices_for
    #: (each reader has their own read state, in notice_read), never stored here
    read_at = None

    __table_args__ = (
        sa.CheckConstraint(
            "(CASE WHEN province_code IS NULL THEN 0 ELSE 1 END) + (CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN role IS NULL THEN 0 ELSE 1 END) <= 1",
            name="one_recipient",
        ),
    )


class NoticeRead(db.Model):
    """That one reader read one notice, and when. A notice to a province or a role has
    several readers; each has their own unread mark."""

    __tablename__ = "notice_read"

    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notice.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime]
