from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.core.models import enum_column
from experience.core.tokens import new_code
from experience.events.models import Event, GuestCategory
from experience.extensions import db

LEVEL_LABELS = {"national": _l("national"), "province": _l("provincial"), "city": _l("city"), "county": _l("county")}


class Salutation(enum.Enum):
    """先生 / 女士 after the name on an invitation: only as the organiser chose it, never
    guessed from the name. NPC deputies and CPPCC members are addressed by their seat."""

    MR = "mr"
    MS = "ms"

    @property
    def label(self):
        return SALUTATION_LABELS[self]


SALUTATION_LABELS = {Salutation.MR: _l("Mr"), Salutation.MS: _l("Ms")}

#: how an invitation addresses a guest, by what we know of them (see Guest.form_of_address)
_ADDRESS_BY_CATEGORY = {
    GuestCategory.NPC_DEPUTY: _l("Deputy %(name)s"),
    GuestCategory.CPPCC_MEMBER: _l("CPPCC member %(name)s"),
}
_ADDRESS_BY_SALUTATION = {Salutation.MR: _l("Mr %(name)s"), Salutation.MS: _l("Ms %(name)s")}


class CheckInVia(enum.Enum):
    PHONE = "phone"
    DESK = "desk"
    API = "api"
    WALK_IN = "walk_in"


class Guest(db.Model):
    """A person invited to (or walking into) one event. No account: the code is the key."""

    __tablename__ = "guest"

    id: Mapped[int] = mapped_column(primary_key=True)
    # no index of its own: ix_guest_event_id_checked_in_at_category and uq_guest_event_phone both
    # begin with it, and a check-in (a non-HOT update on PostgreSQL) writes every index
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id"))
    name: Mapped[str] = mapped_column(sa.String(60))
    #: 称谓, optional: 先生 / 女士 as the organiser gave it
    salutation: Mapped[Salutation | None] = enum_column("salutation", Salutation)
    category: Mapped[GuestCategory] = enum_column("category", GuestCategory)
    #: for NPC deputies and CPPCC members: national / province / city / county
    level: Mapped[str | None] = mapped_column(sa.String(10))
    organisation: Mapped[str] = mapped_column(sa.String(120), default="")
    title: Mapped[str] = mapped_column(sa.String(60), default="")
    #: normalised 11-digit mobile; shown masked everywhere but the guest's edit form
    phone: Mapped[str | None] = mapped_column(sa.String(11))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    #: the current invitation code; revoked ones are kept in RevokedCode
    code: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_code)
    walk_in: Mapped[bool] = mapped_column(default=False)
    #: when the guest agreed to the personal-information notice
    consent_at: Mapped[datetime | None]
    #: set exactly once by a conditional UPDATE (see checkin.services); NULL again after an undo
    checked_in_at: Mapped[datetime | None]
    checked_in_via: Mapped[CheckInVia | None] = enum_column("checked_in_via", CheckInVia)
    checked_in_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    #: set when personal data is retired after the campaign
    anonymised_at: Mapped[datetime | None]

    event: Mapped[Event] = relationship()

    __table_args__ = (
        # The same mobile twice on one event's list is the same person.
        sa.UniqueConstraint("event_id", "phone", name="uq_guest_event_phone"),
        # An event's arrivals: counted on every scan screen, the latest shown first, and
        # by category on the display screens from the index alone (migration 0018).
        sa.Index("ix_guest_event_id_checked_in_at_category", "event_id", "checked_in_at", "category"),
    )

    @property
    def province_code(self) -> str:
        return self.event.province_code

    @property
    def level_label(self):
        return LEVEL_LABELS.get(self.level or "", "")

    @property
    def form_of_address(self) -> str:
        """The name as an invitation writes it: 张三代表 for an NPC deputy, 李四委员 for a
        CPPCC member (their seat comes first), else 王芳女士 / 赵六先生 when the organiser
        chose a salutation, else the name alone."""
        template = _ADDRESS_BY_CATEGORY.get(self.category)
        if template is None and self.salutation is not None:
            template = _ADDRESS_BY_SALUTATION[self.salutation]
        return str(template) % {"name": self.name} if template is not None else self.name


class RevokedCode(db.Model):
    """A code that was revoked and reissued: scanning it answers ``revoked``, not ``unknown``."""

    __tablename__ = "revoked_code"

    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    guest_id: Mapped[int] = mapped_column(sa.ForeignKey("guest.id"), index=True)
    revoked_at: Mapped[datetime]
