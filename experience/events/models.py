from __future__ import annotations

import enum
import re
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.accounts.models import Province, User
from experience.campaigns.models import Campaign
from experience.core.models import enum_column
from experience.core.tokens import new_code
from experience.extensions import db


class GuestCategory(enum.Enum):
    """Who the notice invites (一.(二)); "other" catches the rest."""

    NPC_DEPUTY = "npc_deputy"
    CPPCC_MEMBER = "cppcc_member"
    CONSUMER = "consumer"
    MEDIA = "media"
    ENTERPRISE = "enterprise"
    ASSOCIATION = "association"
    OTHER = "other"

    @property
    def label(self):
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {
    GuestCategory.NPC_DEPUTY: _l("NPC deputies"),
    GuestCategory.CPPCC_MEMBER: _l("CPPCC members"),
    GuestCategory.CONSUMER: _l("Consumers"),
    GuestCategory.MEDIA: _l("Journalists"),
    GuestCategory.ENTERPRISE: _l("Service enterprise representatives"),
    GuestCategory.ASSOCIATION: _l("Industry association representatives"),
    GuestCategory.OTHER: _l("Others"),
}


class EventStatus(enum.Enum):
    PLANNED = "planned"
    CANCELLED = "cancelled"


class EventPhase(enum.Enum):
    """What a person reads as the event's state; derived from the time (Event.phase), not stored."""

    UPCOMING = "upcoming"
    ONGOING = "ongoing"
    HELD = "held"
    CANCELLED = "cancelled"

    @property
    def label(self):
        return PHASE_LABELS[self]


PHASE_LABELS = {
    EventPhase.UPCOMING: _l("Not started"),
    EventPhase.ONGOING: _l("On now"),
    EventPhase.HELD: _l("Held"),
    EventPhase.CANCELLED: _l("Cancelled"),
}


event_organizer = sa.Table(
    "event_organizer",
    db.metadata,
    sa.Column("event_id", sa.ForeignKey("event.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
)


class Event(db.Model):
    """An on-site experience event (现场体验活动) of one province in one campaign."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id"), index=True)
    province_code: Mapped[str] = mapped_column(sa.ForeignKey("province.code"), index=True)
    status: Mapped[EventStatus] = enum_column("status", EventStatus, default=EventStatus.PLANNED)

    title: Mapped[str] = mapped_column(sa.String(200))
    #: 认证服务项目: the certified service guests experience
    service_name: Mapped[str] = mapped_column(sa.String(200))
    #: 获证组织 and its certificate number
    certified_org: Mapped[str] = mapped_column(sa.String(200))
    certificate_no: Mapped[str] = mapped_column(sa.String(80))
    #: 认证机构
    certification_body: Mapped[str] = mapped_column(sa.String(200))
    sector: Mapped[str] = mapped_column(sa.String(40))
    venue_name: Mapped[str] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(60))
    address: Mapped[str] = mapped_column(sa.String(300))
    #: naive UTC
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    #: expected guests per GuestCategory value
    expected_guests: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    highlights: Mapped[str] = mapped_column(sa.Text, default="")
    agenda: Mapped[str] = mapped_column(sa.Text, default="")
    #: 主办单位, printed on the invitations; the creating account's organisation when left blank
    host_unit: Mapped[str] = mapped_column(sa.String(200), default="")
    contact_name: Mapped[str] = mapped_column(sa.String(60))
    #: normalised: a mobile as 11 digits, a landline as 0AA-NNNNNNNN
    contact_phone: Mapped[str] = mapped_column(sa.String(30))
    #: an optional PDF or DOCX; the stored name is generated, the original kept for download
    attachment_key: Mapped[str | None] = mapped_column(sa.String(80))
    attachment_name: Mapped[str | None] = mapped_column(sa.String(200))

    cancel_reason: Mapped[str] = mapped_column(sa.Text, default="")
    cancelled_at: Mapped[datetime | None]
    #: chosen by HQ as a launch-ceremony project (启动仪式项目), with HQ's note
    launch_selected: Mapped[bool] = mapped_column(default=False)
    launch_note: Mapped[str] = mapped_column(sa.Text, default="")
    #: set when the province changes the event after HQ confirmed its plan
    changed_after_confirm_at: Mapped[datetime | None]

    #: check-in opens this many minutes before the start and closes this many after the end
    checkin_opens_minutes: Mapped[int] = mapped_column(default=120)
    checkin_closes_minutes: Mapped[int] = mapped_column(default=0)
    walk_ins_enabled: Mapped[bool] = mapped_column(default=True)
    #: the most people checked in at once the venue takes; walk-ins stop there (None: no limit)
    capacity: Mapped[int | None]
    #: guests may rate (and change their rating) until this many hours after the end
    feedback_hours: Mapped[int] = mapped_column(default=48)
    #: the secret in the walk-in poster's QR; unguessable so nobody registers from afar
    walk_in_code: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_code)

    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (sa.CheckConstraint("starts_at < ends_at", name="time_order"),)

    campaign: Mapped[Campaign] = relationship()
    province: Mapped[Province] = relationship()
    created_by: Mapped[User] = relationship()
    organizers: Mapped[list[User]] = relationship(secondary=event_organizer)

    @property
    def is_cancelled(self) -> bool:
        return self.status is EventStatus.CANCELLED

    def is_held(self, now: datetime) -> bool:
        """已举办: not cancelled and its end has passed. Derived from the time, never stored,
        so an event becomes held without anyone marking it."""
        return not self.is_cancelled and self.ends_at <= now

    @classmethod
    def held_clause(cls, now: datetime) -> sa.ColumnElement[bool]:
        """The same rule as :meth:`is_held`, for queries that count held events."""
        return sa.and_(cls.status == EventStatus.PLANNED, cls.ends_at <= now)

    def phase(self, now: datetime) -> EventPhase:
        """Where the event stands at ``now``: cancelled, held (see :meth:`is_held`), on now,
        or still to come. Derived from the time like :meth:`is_held`, never stored."""
        if self.is_cancelled:
            return EventPhase.CANCELLED
        if self.is_held(now):
            return EventPhase.HELD
        if self.starts_at <= now:
            return EventPhase.ONGOING
        return EventPhase.UPCOMING

    @property
    def full_address(self) -> str:
        """City and address as one line, the city written once (see :func:`join_address`)."""
        return join_address(self.city, self.address)

    @property
    def checkin_opens_at(self) -> datetime:
        return checkin_window(self.starts_at, self.ends_at, self.checkin_opens_minutes, self.checkin_closes_minutes)[0]

    @property
    def checkin_closes_at(self) -> datetime:
        return checkin_window(self.starts_at, self.ends_at, self.checkin_opens_minutes, self.checkin_closes_minutes)[1]

    @property
    def feedback_closes_at(self) -> datetime:
        return self.ends_at + timedelta(hours=self.feedback_hours)

    @property
    def expected_total(self) -> int:
        return sum(int(v or 0) for v in self.expected_guests.values())


def checkin_window(starts_at: datetime, ends_at: datetime, opens_minutes: int, closes_minutes: int):
    """(opens, closes): check-in opens ``opens_minutes`` before the start and closes
    ``closes_minutes`` after the end. The one rule, for invitations and walk-ins alike;
    a function of columns so that the hot path can use it without loading the event."""
    return starts_at - timedelta(minutes=opens_minutes), ends_at + timedelta(minutes=closes_minutes)


#: where a unit of China's administrative divisions ends (北京市, 朝阳区, 望京街道, …)
_UNIT_END = re.compile(r"(?:特别行政区|自治区|自治州|自治县|自治旗|地区|街道|省|市|州|盟|区|县|旗|镇|乡)")


def join_address(city: str, address: str) -> str:
    """``city`` followed by ``address``, without writing a place twice when the address
    already begins with it: 北京市 + 北京市朝阳区… is 北京市朝阳区…, and 北京市朝阳区 +
    朝阳区望京街道… is 北京市朝阳区望京街道…. Only whole units are matched (a part of the
    city ending in 市, 区, 县, …), so 北京市 + 市场街 stays 北京市市场街; an address that
    starts with its province before the city (浙江省杭州市…) is already whole."""
    city, address = (city or "").strip(), (address or "").strip()
    if not city or not address:
        return city or address
    starts = [0] + [m.end() for m in _UNIT_END.finditer(city) if m.end() < len(city)]
    for start in starts:  # the longest part of the city the address begins with
        if address.startswith(city[start:]):
            return city[:start] + address
    province = re.match(r"^.{2,}?(?:省|自治区)", address)
    if province and address[province.end() :].startswith(city):
        return address
    return city + address
