from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from experience.extensions import db

DEFAULT_SECTORS = "养老\n物业\n餐饮\n旅游\n金融\n交通\n医疗\n教育\n其他"


class Campaign(db.Model):
    """One year's Service Certification Experience Week; every date belongs here."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(unique=True)
    theme: Mapped[str] = mapped_column(sa.String(200))
    #: provincial plans due at HQ by the end of this Beijing day (notice 四.(1))
    plan_deadline: Mapped[date]
    #: works due at the secretariat (notice 四.(2))
    works_deadline: Mapped[date]
    #: the last 作品编号 given in this campaign (works.submission.assign_number): numbers
    #: are counted here so that a deleted work's number is never given again
    works_last_number: Mapped[int] = mapped_column(default=0, server_default="0")
    #: provincial summaries due at HQ (notice 四.(3))
    summary_deadline: Mapped[date]
    week_start: Mapped[date]
    week_end: Mapped[date]
    #: guests' personal data is kept until this day (None: 90 days after the summary deadline)
    personal_data_until: Mapped[date | None]
    personal_data_purged_at: Mapped[datetime | None]
    #: the service sectors events choose from, one per line, in display order
    sectors: Mapped[str] = mapped_column(sa.Text, default=DEFAULT_SECTORS)

    __table_args__ = (sa.CheckConstraint("week_start <= week_end", name="week_order"),)

    @property
    def sector_list(self) -> list[str]:
        return [s.strip() for s in self.sectors.splitlines() if s.strip()]

    def deadlines(self) -> list[tuple[str, date]]:
        return [("plan", self.plan_deadline), ("works", self.works_deadline), ("summary", self.summary_deadline)]
