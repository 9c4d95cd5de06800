from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.accounts.models import Province
from experience.campaigns.models import Campaign
from experience.core.models import enum_column
from experience.core.submissions import Submission
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


#: the plan's wording of the submission refusals (core.submissions.MESSAGES has the rest)
SUBMISSION_MESSAGES = {
    "past_deadline": _l("The deadline for plans was %(deadline)s 23:59 Beijing time. Please ask HQ for an extension."),
    "wrong_state": _l("This action is not possible in the plan's current state (%(state)s)."),
    "comment_required": _l("Please say what the province should change."),
}


class Plan(Submission, db.Model):
    """A province's plan (活动方案) for the on-site events of one campaign.

    Its events are the province's events of the campaign that are not cancelled. It is
    sent to HQ by the plan deadline (core.submissions); HQ returns or confirms it.
    """

    __tablename__ = "plan"
    State = PlanState
    messages = SUBMISSION_MESSAGES

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"))
    province_code: Mapped[str] = mapped_column(sa.ForeignKey("province.code"))

    #: the province's own text, following notice 二: leadership, coordination, publicity, safety
    organisation_text: Mapped[str] = mapped_column(sa.Text, default="")
    coordination_text: Mapped[str] = mapped_column(sa.Text, default="")
    publicity_text: Mapped[str] = mapped_column(sa.Text, default="")
    safety_text: Mapped[str] = mapped_column(sa.Text, default="")
    #: the sealed official document, scanned as PDF
    document_key: Mapped[str | None] = mapped_column(sa.String(80))
    document_name: Mapped[str | None] = mapped_column(sa.String(200))

    confirmed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]

    campaign: Mapped[Campaign] = relationship()
    province: Mapped[Province] = relationship()

    __table_args__ = (sa.UniqueConstraint("campaign_id", "province_code", name="uq_plan_campaign_province"),)


class DeadlineKind(enum.Enum):
    """Which of the campaign's deadlines an extension moves (Campaign.deadlines())."""

    PLAN = "plan"
    SUMMARY = "summary"
    WORKS = "works"


class DeadlineExtension(db.Model):
    """HQ's grant of a later deadline to one sender, for one kind of submission.

    The sender is a province (plans, summaries) or, for works, a submitting unit: two
    nullable columns, exactly one set (a CHECK), rather than a generic (type, id) pair, so
    that each keeps its foreign key. The extension covers all the sender's submissions of that kind (a unit's
    works), and several may be granted in turn: the latest counts.
    """

    __tablename__ = "deadline_extension"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"))
    province_code: Mapped[str | None] = mapped_column(sa.ForeignKey("province.code"))
    #: a submitting unit of works
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("submitting_unit.id", ondelete="CASCADE"))
    #: the deadline it moves
    kind: Mapped[DeadlineKind] = enum_column("kind", DeadlineKind)
    new_deadline: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    granted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    granted_at: Mapped[datetime]

    __table_args__ = (
        sa.CheckConstraint(
            "(province_code IS NOT NULL AND unit_id IS NULL) OR (province_code IS NULL AND unit_id IS NOT NULL)",
            name="one_subject",
        ),
        sa.Index("ix_deadline_extension_lookup", "campaign_id", "province_code", "kind"),
        sa.Index("ix_deadline_extension_unit_lookup", "campaign_id", "unit_id", "kind"),
    )
