"""An event's screens: their secret links, scenes and playlists.

A link works from its creation until it is revoked (or replaced by a new one), or until
LINK_HOURS_AFTER_END hours after the event ends, or the event is cancelled: then the
screen shows nothing of the event. Every change here raises the event's display version
(control.bump), so screens pick it up at their next sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from experience.core import audit
from experience.core.errors import RuleError
from experience.core.tokens import new_code
from experience.displays import control
from experience.displays.models import SECONDS_MAX, SECONDS_MIN, Scene, Screen, ScreenItem
from experience.events.models import Event
from experience.events.signals import event_changed
from experience.extensions import db
from experience.platform.services import ShownWork, works_for_events
from experience.ratings.models import Display, Rating
from experience.ratings.services import public_name
from experience.ratings.signals import rating_moderated
from experience.screening.signals import work_withdrawn

#: a screen's link stops working this long after its event ends: the evening of the
#: event is covered (a ceremony running late, the screen left up for the dinner), the
#: next morning is not; a second day needs a new link, one click
LINK_HOURS_AFTER_END = 12
NAME_MAX = 40
SCREENS_MAX = 20  # per event: a venue has a few screens, not hundreds
PLAYLIST_MAX = 200

MESSAGES = {
    "name_required": _l("Give the screen a name, e.g. 主屏 or 签到处."),
    "name_too_long": _l("A screen's name has at most %(max)d characters."),
    "name_taken": _l("This event already has a screen with that name."),
    "too_many_screens": _l("An event has at most %(max)d screens."),
    "event_cancelled": _l("The event is cancelled: a screen of it would show nothing."),
    "event_over": _l("The event ended more than %(hours)d hours ago: a new screen's link would not work."),
    "revoked": _l("This screen's link has been revoked; make a new screen."),
    "bad_scenes": _l("Each scene stays up between %(min)d and %(max)d seconds."),
    "no_scene": _l("Turn on at least one scene."),
    "not_available": _l("That item cannot be shown: it is not a selected work in 公示 or an approved guest photo."),
    "playlist_full": _l("A playlist has at most %(max)d items."),
    "changed_meanwhile": _l("Someone changed this playlist at the same moment: look at it again and try once more."),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


# -- Links -----------------------------------------------------------------------------------


def link_expires_at(event: Event) -> datetime:
    return event.ends_at + timedelta(hours=LINK_HOURS_AFTER_END)


def link_state(screen: Screen, now: datetime) -> str:
    """ "active", "revoked" or "expired" (past LINK_HOURS_AFTER_END, or the event cancelled)."""
    if screen.revoked_at is not None:
        return "revoked"
    if screen.event.is_cancelled or now > link_expires_at(screen.event):
        return "expired"
    return "active"


def screens_of(event: Event) -> list[Screen]:
    return list(db.session.scalars(sa.select(Screen).where(Screen.event_id == event.id).order_by(Screen.id)))


def _clean_name(event: Event, name: str, *, screen_id: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise _fail("name_required")
    if len(name) > NAME_MAX:
        raise _fail("name_too_long", max=NAME_MAX)
    taken = sa.select(Screen.id).where(Screen.event_id == event.id, Screen.name == name, Screen.revoked_at.is_(None))
    if screen_id is not None:
        taken = taken.where(Screen.id != screen_id)
    if db.session.scalar(taken) is not None:
        raise _fail("name_taken")
    return name


def no_new_screen(event: Event, now: datetime) -> RuleError | None:
    """Why the event can have no new screen (its link would be dead on arrival), or None."""
    if event.is_cancelled:
        return _fail("event_cancelled")
    if now > link_expires_at(event):
        return _fail("event_over", hours=LINK_HOURS_AFTER_END)
    return None


def create_screen(event: Event, name: str, *, actor, now: datetime, ip: str = "") -> Screen:
    """A new screen with every scene on and an empty playlist.

    :raises RuleError: event_cancelled, event_over (its link would be dead on arrival),
        name_required, name_too_long, name_taken, too_many_screens
    """
    refusal = no_new_screen(event, now)
    if refusal is not None:
        raise refusal
    name = _clean_name(event, name)
    live = db.session.scalar(sa.select(sa.func.count()).where(Screen.event_id == event.id, Screen.revoked_at.is_(None)))
    if live >= SCREENS_MAX:
        raise _fail("too_many_screens", max=SCREENS_MAX)
    control.ensure_state(event.id)
    screen = Screen(event_id=event.id, name=name, created_at=now, created_by_id=actor.id)
    db.session.add(screen)
    db.session.flush()
    audit.record("display.screen_created", now=now, actor=actor, target=event, ip=ip, screen=screen.id, name=name)
    return screen


def rename_screen(screen: Screen, name: str, *, actor, now: datetime, ip: str = "") -> None:
    _check_active(screen)
    screen.name = _clean_name(screen.event, name, screen_id=screen.id)
    control.bump([screen.event_id], content=False)
    audit.record("display.screen_renamed", now=now, actor=actor, target=screen.event, ip=ip, screen=screen.id)


def revoke_screen(screen: Screen, *, actor, now: datetime, ip: str = "") -> None:
    """The link stops working at the screen's next sync: it clears what it showed."""
    if screen.revoked_at is not None:
        return
    screen.revoked_at = now
    control.bump([screen.event_id], content=False)
    audit.record("display.screen_revoked", now=now, actor=actor, target=screen.event, ip=ip, screen=screen.id)


def new_link(screen: Screen, *, actor, now: datetime, ip: str = "") -> None:
    """Replace the screen's link (one seen by someone who should not have it); the old
    one stops at once, the screen keeps its scenes and playlist."""
    _check_active(screen)
    screen.token = new_code()
    # every process forgets the old link at its next read of the display state
    control.bump([screen.event_id], content=False)
    audit.record("display.screen_new_link", now=now, actor=actor, target=screen.event, ip=ip, screen=screen.id)


def _check_active(screen: Screen) -> None:
    if screen.revoked_at is not None:
        raise _fail("revoked")


def set_scenes(screen: Screen, scenes: dict[str, dict[str, Any]], *, actor, now: datetime, ip: str = "") -> None:
    """Which scenes the screen rotates through and for how long each.

    :param scenes: {scene value: {"on": bool, "seconds": int}}; missing scenes are off
    :raises RuleError: bad_scenes, no_scene, revoked
    """
    _check_active(screen)
    clean = {}
    for scene in Scene:
        given = scenes.get(scene.value) or {}
        seconds = given.get("seconds", screen.scenes.get(scene.value, {}).get("seconds"))
        if not isinstance(seconds, int) or not SECONDS_MIN <= seconds <= SECONDS_MAX:
            raise _fail("bad_scenes", min=SECONDS_MIN, max=SECONDS_MAX)
        clean[scene.value] = {"on": bool(given.get("on")), "seconds": seconds}
    if not any(s["on"] for s in clean.values()):
        raise _fail("no_scene")
    screen.scenes = clean
    control.bump([screen.event_id])
    audit.record("display.screen_scenes", now=now, actor=actor, target=screen.event, ip=ip, screen=screen.id)


# -- Playlists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestPhoto:
    """A guest's photo approved for public use (先审后发), as screens show it."""

    rating_id: int
    url_key: str
    caption: str

    @property
    def key(self) -> str:
        return f"photo:{self.rating_id}"


def approved_photos(event: Event) -> list[GuestPhoto]:
    """The event's guest photos an organiser approved, newest approval first."""
    rows = db.session.scalars(
        sa.select(Rating)
        .options(selectinload(Rating.guest))
        .where(Rating.event_id == event.id, *control.photo_shown())
        .order_by(Rating.photo_approved_at.desc(), Rating.id.desc())  # ties: one order on every poll
    )
    return [GuestPhoto(r.id, r.photo_web_key, public_name(r) if r.display is not Display.NONE else "") for r in rows]


@dataclass(frozen=True)
class Available:
    """What an event's playlists may hold now: the campaign's works from their 公示 on
    (works_for_events: selected, not withdrawn) and the event's approved guest photos."""

    works: dict[int, ShownWork]
    photos: dict[int, GuestPhoto]

    def has(self, key: str) -> bool:
        kind, _, ident = key.partition(":")
        if not ident.isdigit():
            return False
        return int(ident) in (self.works if kind == "work" else self.photos if kind == "photo" else {})


def available(event: Event, now: datetime) -> Available:
    return Available(
        works={w.id: w for w in works_for_events(event.campaign, now)},
        photos={p.rating_id: p for p in approved_photos(event)},
    )


def add_items(screen: Screen, keys: list[str], *, actor, now: datetime, ip: str = "") -> int:
    """Append items to the playlist, in the order given; those already in it are kept
    where they are. Returns how many were added.

    :raises RuleError: not_available, playlist_full, revoked
    """
    _check_active(screen)
    if any(not control.ITEM_KEY.fullmatch(k) or k.startswith("comment:") for k in keys):
        raise _fail("not_available")  # "work:012", "work:١٢": one spelling per item
    can_show = available(screen.event, now)
    present = {i.key for i in screen.items}
    new = [k for k in dict.fromkeys(keys) if k not in present]
    if any(not can_show.has(k) for k in new):
        raise _fail("not_available")
    if len(present) + len(new) > PLAYLIST_MAX:
        raise _fail("playlist_full", max=PLAYLIST_MAX)
    position = max((i.position for i in screen.items), default=0)
    try:
        with db.session.begin_nested():  # two taps at once: the unique constraints decide
            for key in new:
                kind, _, ident = key.partition(":")
                position += 1
                screen.items.append(
                    ScreenItem(
                        position=position, **({"work_id": int(ident)} if kind == "work" else {"rating_id": int(ident)})
                    )
                )
    except IntegrityError:
        db.session.expire(screen, ["items"])
        raise _fail("changed_meanwhile") from None
    if new:
        control.bump([screen.event_id])
        audit.record(
            "display.playlist_add", now=now, actor=actor, target=screen.event, ip=ip, screen=screen.id, items=new
        )
    return len(new)


def remove_item(screen: Screen, item_id: int, *, actor, now: datetime, ip: str = "") -> None:
    item = next((i for i in screen.items if i.id == item_id), None)
    if item is None:
        return  # removed already (two organisers, or a second click)
    screen.items.remove(item)
    control.bump([screen.event_id])
    audit.record(
        "display.playlist_remove", now=now, actor=actor, target=screen.event, ip=ip, screen=screen.id, item=item.key
    )


def move_item(screen: Screen, item_id: int, offset: int, *, actor, now: datetime, ip: str = "") -> None:
    """Move an item up (offset -1) or down (+1) the playlist."""
    items = list(screen.items)
    at = next((n for n, i in enumerate(items) if i.id == item_id), None)
    if at is None or not 0 <= at + offset < len(items):
        return
    moved = items.pop(at)
    items.insert(at + offset, moved)
    for n, item in enumerate(items, start=1):
        item.position = n
    control.bump([screen.event_id])
    audit.record(
        "display.playlist_move", now=now, actor=actor, target=screen.event, ip=ip, screen=screen.id, item=moved.key
    )


# -- What changes a screen's content from below ----------------------------------------------


@work_withdrawn.connect
def _drop_withdrawn_work(work, now=None, **_) -> None:
    """A withdrawn work leaves every playlist at the screens' next sync (the playlist
    served is filtered through works_for_events; the version tells them to fetch it)."""
    control.bump(
        sa.select(Screen.event_id)
        .join(ScreenItem, ScreenItem.screen_id == Screen.id)
        .where(ScreenItem.work_id == work.id)
    )


@event_changed.connect
def _event_edited(event, **_) -> None:
    """The welcome scene shows the event's title, venue and time."""
    control.bump([event.id])


@rating_moderated.connect
def _rating_moderated(rating, what: str = "", **_) -> None:
    """A photo whose approval was withdrawn leaves the playlists (content); a comment's
    change reaches the live figures, which are kept per version (feed.live)."""
    control.bump([rating.event_id], content=what == "photo")
