from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.core.models import enum_column
from experience.extensions import db
from experience.guests.models import Guest

#: the 2024 defaults (notice 一.(二) and the week's aim 懂认证、用认证); HQ edits them per campaign
DEFAULT_DIMENSIONS = (
    ("service", "服务感知体验", "您体验到的服务好不好"),
    ("gain", "获得感", "您从这次体验中实际得到了什么"),
    ("understanding", "认证认知", "您现在是否了解服务认证的含义（懂认证）"),
    ("preference", "选用意愿", "今后您是否会优先选择获得认证的服务（用认证）"),
    ("overall", "总体满意度", "总体而言您是否满意"),
)


class Dimension(db.Model):
    """One question guests answer with 1 to 5 stars, in one campaign."""

    __tablename__ = "rating_dimension"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    #: the one short line under the name that says what the stars mean
    hint: Mapped[str] = mapped_column(sa.String(120), default="")
    position: Mapped[int] = mapped_column(default=0)
    #: retired dimensions are no longer asked, but keep the answers given to them
    retired_at: Mapped[datetime | None]


class Display(enum.Enum):
    """How a guest appears if the comment is shown in public."""

    NAME = "name"
    CATEGORY = "category"
    NONE = "none"


DISPLAY_LABELS = {
    Display.NAME: _l("With my name"),
    Display.CATEGORY: _l("As my category only (e.g. “a consumer”)"),
    Display.NONE: _l("Not at all"),
}


class Rating(db.Model):
    """A guest's rating of the event: one per guest, updated until the window closes."""

    __tablename__ = "rating"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: unique: two submissions racing leave one rating (the second updates it)
    guest_id: Mapped[int] = mapped_column(sa.ForeignKey("guest.id"), unique=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id"), index=True)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    display: Mapped[Display] = enum_column("display", Display, default=Display.CATEGORY)
    #: the photo as stored (metadata stripped) and its web-size copy; generated names
    photo_key: Mapped[str | None] = mapped_column(sa.String(80))
    photo_web_key: Mapped[str | None] = mapped_column(sa.String(80))
    #: the guest confirmed that the people shown agree to the photo's use
    photo_consent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    #: 先审后发: nothing is public until an organiser approves it; withdrawing clears it
    comment_approved_at: Mapped[datetime | None]
    comment_approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    photo_approved_at: Mapped[datetime | None]
    photo_approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    guest: Mapped[Guest] = relationship()
    scores: Mapped[list[Score]] = relationship(back_populates="rating", cascade="all, delete-orphan")

    @property
    def province_code(self) -> str:
        return self.guest.event.province_code


class Score(db.Model):
    __tablename__ = "rating_score"

    rating_id: Mapped[int] = mapped_column(sa.ForeignKey("rating.id", ondelete="CASCADE"), primary_key=True)
    dimension_id: Mapped[int] = mapped_column(sa.ForeignKey("rating_dimension.id"), primary_key=True, index=True)
    stars: Mapped[int]

    rating: Mapped[Rating] = relationship(back_populates="scores")

    __table_args__ = (sa.CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),)
