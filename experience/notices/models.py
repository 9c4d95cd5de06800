from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from experience.extensions import db


class Notice(db.Model):
    """A message inside the app, to a province's staff or to HQ.

    The text is rendered at display time from ``kind`` and ``params`` so that it follows
    the reader's language.
    """

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    #: the recipient province; NULL means HQ
    province_code: Mapped[str | None] = mapped_column(sa.ForeignKey("province.code"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: where the notice leads, as an endpoint name and its arguments
    link_endpoint: Mapped[str] = mapped_column(sa.String(60), default="")
    link_args: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    read_at: Mapped[datetime | None]
