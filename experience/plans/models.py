from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.accounts.models import Province
from experience.campaigns.models import Campaign
from experience.core.models import enum_column
from experience.extensions import db


class PlanState(enum.Enum):
    NOT_SUBMITTED = "not_submitted"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    CONFIRMED = "confirmed"

    @property
    def label(self):
        return STATE_LABELS[self]


STATE_LABELS = {
    PlanState.NOT_SUBMITTED: _l("Not submitted"),
    PlanState.SUBMITTED: _l("Submitted"),
    PlanState.RETURNED: _l("Returned for changes"),
    PlanState.CONFIRMED: _l("Confirmed"),
}


class Plan(db.Model):
    """A province's plan (活动方案) for the on-site events of one campaign.

    Its events are the province's events of the campaign that are not cancelled.
    """

    __tablename__ = "plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"))
    province_code: Mapped[str] = mapped_column(sa.ForeignKey("province.code"))
    state: Mapped[PlanState] = enum_column("state", PlanState, default=PlanState.NOT_SUBMITTED)

    #: the province's own text, following notice 二: leadership, coordination, publicity, safety
    organisation_text: Mapped[str] = mapped_column(sa.Text, default="")
    coordination_text: Mapped[str] = mapped_column(sa.Text, default="")
    publicity_text: Mapped[str] = mapped_column(sa.Text, default="")
    safety_text: Mapped[str] = mapped_column(sa.Text, default="")
    #: the sealed official document, scanned as PDF
    document_key: Mapped[str | None] = mapped_column(sa.String(80))
    document_name: Mapped[str | None] = mapped_column(sa.String(200))

    #: lateness is judged on the first submission, whatever happens after
    first_submitted_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(default=False)
    returned_at: Mapped[datetime | None]
    return_comment: Mapped[str] = mapped_column(sa.Text, default="")
    confirmed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]

    campaign: Mapped[Campaign] = relationship()
    province: Mapped[Province] = relationship()

    __table_args__ = (sa.UniqueConstraint("campaign_id", "province_code", name="uq_plan_campaign_province"),)

    @property
    def editable(self) -> bool:
        return self.state in (PlanState.NOT_SUBMITTED, PlanState.RETURNED)


class DeadlineExtension(db.Model):
    """HQ's grant of a later deadline to one province, for one kind of submission."""

    __tablename__ = "deadline_extension"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"))
    province_code: Mapped[str] = mapped_column(sa.ForeignKey("province.code"))
    #: the deadline it moves: "plan" or "summary"
    kind: Mapped[str] = mapped_column(sa.String(20))
    new_deadline: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    granted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    granted_at: Mapped[datetime]

    __table_args__ = (sa.Index("ix_deadline_extension_lookup", "campaign_id", "province_code", "kind"),)
