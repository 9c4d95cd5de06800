from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.accounts.models import Province
from experience.core.submissions import Submission
from experience.extensions import db


class EventSummary(db.Model):
    """What only people know about an event, written by its organisers, and their choice
    of highlights and photos. The figures come from the data, not from here."""

    __tablename__ = "event_summary"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id"), unique=True)
    #: 工作成果, 经验做法, 问题与建议
    results_text: Mapped[str] = mapped_column(sa.Text, default="")
    practices_text: Mapped[str] = mapped_column(sa.Text, default="")
    problems_text: Mapped[str] = mapped_column(sa.Text, default="")
    #: ids of approved ratings whose comment is a highlight, in the organiser's order
    highlight_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    #: ids of ratings whose approved photo goes in the summary
    photo_rating_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    #: photos the organiser uploaded: [{"key": ..., "web": ..., "caption": ...}]
    own_photos: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    updated_at: Mapped[datetime | None]


class SummaryState(enum.Enum):
    NOT_SUBMITTED = "not_submitted"
    SUBMITTED = "submitted"
    RETURNED = "returned"

    @property
    def label(self):
        return SUMMARY_STATE_LABELS[self]


SUMMARY_STATE_LABELS = {
    SummaryState.NOT_SUBMITTED: _l("Not submitted"),
    SummaryState.SUBMITTED: _l("Submitted"),
    SummaryState.RETURNED: _l("Returned for changes"),
}


#: the summary's wording of the submission refusals (core.submissions.MESSAGES has the rest)
SUBMISSION_MESSAGES = {
    "past_deadline": _l(
        "The deadline for summaries was %(deadline)s 23:59 Beijing time. Please ask HQ for an extension."
    ),
    "wrong_state": _l("This action is not possible in the summary's current state."),
    "comment_required": _l("Please say what the province should change."),
}


class ProvinceSummary(Submission, db.Model):
    """A province's summary of the whole campaign (活动总结), due at HQ by the deadline
    (core.submissions); HQ may return it."""

    __tablename__ = "province_summary"
    State = SummaryState
    messages = SUBMISSION_MESSAGES

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"))
    province_code: Mapped[str] = mapped_column(sa.ForeignKey("province.code"))
    organisation_text: Mapped[str] = mapped_column(sa.Text, default="")
    #: works mobilisation and publicity (notice 二.(三) and 三)
    publicity_text: Mapped[str] = mapped_column(sa.Text, default="")
    results_text: Mapped[str] = mapped_column(sa.Text, default="")
    practices_text: Mapped[str] = mapped_column(sa.Text, default="")
    suggestions_text: Mapped[str] = mapped_column(sa.Text, default="")
    #: the figures as they stood at the last submission; they outlive the personal data
    figures: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    updated_at: Mapped[datetime | None]

    province: Mapped[Province] = relationship()

    __table_args__ = (sa.UniqueConstraint("campaign_id", "province_code", name="uq_province_summary"),)
