"""Display screens (现场大屏): a screen of an event with its secret link, its scenes and
its playlist, and the event's display state that every screen of the event follows.

The display state is one row per event, in the database: a command given through any
app server reaches a screen polling any other, and no process keeps it in memory.
``version`` counts every change a screen must see (a command, a playlist or scene edit,
a revoked link, a withdrawn work); ``content_version`` only those that change what it
plays, so a screen refetches its playlist only then.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from experience.core.tokens import new_code
from experience.events.models import Event
from experience.extensions import db


class Scene(enum.Enum):
    """What a screen shows in turn, in this order."""

    WELCOME = "welcome"
    CHECKIN = "checkin"
    WORKS = "works"
    COMMENTS = "comments"
    RATINGS = "ratings"

    @property
    def label(self):
        return SCENE_LABELS[self]

    @property
    def is_live(self) -> bool:
        """Live scenes show what guests do right now; a screen whose link to the server
        is stale, or a blanked one, never shows them."""
        return self in LIVE_SCENES


SCENE_LABELS = {
    Scene.WELCOME: _l("Welcome"),
    Scene.CHECKIN: _l("Live check-in"),
    Scene.WORKS: _l("Works"),
    Scene.COMMENTS: _l("Comments wall"),
    Scene.RATINGS: _l("Ratings"),
}
LIVE_SCENES = frozenset({Scene.CHECKIN, Scene.COMMENTS, Scene.RATINGS})

#: seconds each scene stays up (for works: each image, or each page of a text; a video
#: plays to its end)
DEFAULT_SECONDS = {Scene.WELCOME: 15, Scene.CHECKIN: 15, Scene.WORKS: 12, Scene.COMMENTS: 20, Scene.RATINGS: 15}
SECONDS_MIN, SECONDS_MAX = 5, 600


def default_scenes() -> dict[str, dict[str, Any]]:
    return {s.value: {"on": True, "seconds": DEFAULT_SECONDS[s]} for s in Scene}


class Screen(db.Model):
    """One display of an event, opened by its secret link on the venue's PC or TV."""

    __tablename__ = "display_screen"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    #: the secret in the screen's link (128 random bits); kept, not hashed, because the
    #: organiser shows the link again to open it on the venue's PC; a new link replaces it
    token: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_code)
    #: {scene value: {"on": bool, "seconds": int}}, every scene present
    scenes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=default_scenes)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    revoked_at: Mapped[datetime | None]
    #: what the screen last said of itself (its heartbeat), written at most every
    #: HEARTBEAT_WRITE_SECONDS unless what it shows changed
    seen_at: Mapped[datetime | None]
    shown: Mapped[str] = mapped_column(sa.String(60), default="")
    shown_version: Mapped[int | None]
    #: the screen's browser (its User-Agent), for the person looking at the console
    agent: Mapped[str] = mapped_column(sa.String(200), default="")
    #: its offline cache as it last said: "none" (a browser without service workers),
    #: "<cached>/<total>" (the playlist's media and the page's files), "" not said yet
    cache_state: Mapped[str] = mapped_column(sa.String(12), default="")
    #: playlist items it could not play (``work:12,photo:7``), as it last said; the
    #: console names them while ``shown_version`` is the playlist's current version
    bad_media: Mapped[str] = mapped_column(sa.String(200), default="")
    #: when it first reported the items in ``bad_media``
    bad_media_at: Mapped[datetime | None]

    event: Mapped[Event] = relationship()
    items: Mapped[list[ScreenItem]] = relationship(
        back_populates="screen", order_by="ScreenItem.position", cascade="all, delete-orphan"
    )

    @property
    def province_code(self) -> str:
        return self.event.province_code


class ScreenItem(db.Model):
    """One entry of a screen's playlist: a selected work, or a guest's approved photo."""

    __tablename__ = "display_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    screen_id: Mapped[int] = mapped_column(sa.ForeignKey("display_screen.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    work_id: Mapped[int | None] = mapped_column(sa.ForeignKey("work.id"), index=True)
    rating_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rating.id", ondelete="CASCADE"), index=True)

    screen: Mapped[Screen] = relationship(back_populates="items")

    __table_args__ = (
        sa.CheckConstraint("(work_id IS NULL) <> (rating_id IS NULL)", name="one_kind"),
        sa.UniqueConstraint("screen_id", "work_id", name="uq_display_item_work"),
        sa.UniqueConstraint("screen_id", "rating_id", name="uq_display_item_rating"),
    )

    @property
    def key(self) -> str:
        """How commands and the screen name the item: ``work:12``, ``photo:7``."""
        return f"work:{self.work_id}" if self.work_id is not None else f"photo:{self.rating_id}"


class DisplayState(db.Model):
    """The event's display commands, followed by each of its screens."""

    __tablename__ = "display_state"

    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id"), primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    content_version: Mapped[int] = mapped_column(default=1)
    paused: Mapped[bool] = mapped_column(default=False)
    blank: Mapped[bool] = mapped_column(default=False)
    #: an item key (``work:12``, ``photo:7``, ``comment:3``) shown until unpinned
    pinned: Mapped[str | None] = mapped_column(sa.String(40))
    #: item keys no screen of the event shows, until shown again
    hidden: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: "go to scene": screens jump once to ``goto_scene`` when ``goto_seq`` grows
    goto_scene: Mapped[str | None] = mapped_column(sa.String(20))
    goto_seq: Mapped[int] = mapped_column(default=0)
    #: "next": screens move on once each time it grows
    next_seq: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime | None]
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
