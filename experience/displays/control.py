"""The organiser's commands to an event's screens, and the version every screen follows.

A command is one UPDATE of the event's ``display_state`` row that also raises its
``version``: screens polling any app server see the new version at their next sync
(feed.SYNC_SECONDS), so a command reaches every screen of the event within 2 seconds,
whichever server took it. Two organisers pressing at once both land (each UPDATE is
relative), the later one winning where they set the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from experience.core import audit
from experience.core.errors import RuleError
from experience.displays import memory
from experience.displays.models import DisplayState, Scene, Screen, ScreenItem
from experience.events.models import Event
from experience.extensions import db
from experience.platform.services import public_work
from experience.ratings.models import Display, Rating

#: what a command may name: a work, a guest's photo, a guest's comment
ITEM_KEY = re.compile(r"(work|photo|comment):[1-9][0-9]{0,9}")  # fullmatch: "$" would pass a newline
#: a hidden list longer than this is a mistake, not a venue (each key is a few bytes)
HIDDEN_MAX = 500

MESSAGES = {
    "unknown_command": _l("That is not a command for the screens."),
    "bad_item": _l("That item does not exist on this event's screens."),
    "no_longer_shown": _l(
        "That item is no longer shown on the screens (withdrawn or removed), so it cannot be pinned."
    ),
    "bad_scene": _l("That scene does not exist."),
    "too_many_hidden": _l("At most %(max)d items can be hidden; show some again first."),
}

COMMANDS = ("pause", "resume", "next", "goto", "pin", "unpin", "hide", "show", "blank", "unblank")


#: what each command sets on the state row (hide and show edit the hidden list instead)
_SETS = {
    "pause": lambda item, scene: {"paused": True},
    "resume": lambda item, scene: {"paused": False},
    "blank": lambda item, scene: {"blank": True},
    "unblank": lambda item, scene: {"blank": False},
    "next": lambda item, scene: {"next_seq": DisplayState.next_seq + 1},
    "goto": lambda item, scene: {"goto_scene": scene, "goto_seq": DisplayState.goto_seq + 1, "pinned": None},
    "pin": lambda item, scene: {"pinned": item},
    "unpin": lambda item, scene: {"pinned": None},
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


def ensure_state(event_id: int) -> None:
    """Create the event's display state if it has none (concurrent callers: one row)."""
    if db.session.get(DisplayState, event_id) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(DisplayState(event_id=event_id))
    except sa.exc.IntegrityError:
        pass  # created by another request meanwhile


def state_of(event_id: int) -> DisplayState:
    ensure_state(event_id)
    return db.session.get(DisplayState, event_id)


def bump(event_ids: Iterable[int] | sa.Select, *, content: bool = True) -> None:
    """Tell the events' screens something changed (their next sync sees a new version);
    ``content`` when what they play changed, so they fetch their playlists again."""
    if not isinstance(event_ids, sa.Select):
        event_ids = list(event_ids)
        if not event_ids:
            return
    values = {"version": DisplayState.version + 1}
    if content:
        values["content_version"] = DisplayState.content_version + 1
    db.session.execute(sa.update(DisplayState).where(DisplayState.event_id.in_(event_ids)).values(**values))
    # this process's polls read it at once; other processes' within memory.STATE_SECONDS
    memory.forget()


def _shown_by(event_id: int, item: str) -> bool:
    """Whether the event's screens have this to show: an item of one of their playlists,
    or an approved comment of the event's guests. A pin of anything else would leave
    every screen on its welcome slide."""
    kind, _sep, ident = item.partition(":")
    if kind == "comment":  # as the wall has them (feed._live)
        approved = sa.select(Rating.id).where(
            Rating.id == int(ident),
            Rating.event_id == event_id,
            Rating.comment_approved_at.is_not(None),
            Rating.comment != "",
            Rating.display != Display.NONE,
        )
        return db.session.scalar(approved) is not None
    column = ScreenItem.work_id if kind == "work" else ScreenItem.rating_id
    listed = (
        sa.select(ScreenItem.id)
        .join(Screen)
        .where(Screen.event_id == event_id, Screen.revoked_at.is_(None), column == int(ident))
        .limit(1)
    )
    return db.session.scalar(listed) is not None


def photo_shown():
    """The conditions on a guest's photo that the screens may show (screens.approved_photos):
    approved by the organiser, stored, its guest still consenting."""
    return (Rating.photo_approved_at.is_not(None), Rating.photo_web_key.is_not(None), Rating.photo_consent.is_(True))


def _still_shown(event: Event, item: str, now: datetime) -> bool:
    """Whether a playlist's work or photo is still served to the screens. A withdrawn one
    stays in the playlists' rows but leaves what they play, so its pin would change
    nothing on the screens while the console said "pinned" (a page opened before the
    withdrawal still offers it)."""
    kind, _sep, ident = item.partition(":")
    if kind == "work":  # public in its 公示, not withdrawn: as works_for_events has them
        return public_work(int(ident), now) is not None
    if kind == "photo":
        photo = sa.select(Rating.id).where(Rating.id == int(ident), Rating.event_id == event.id, *photo_shown())
        return db.session.scalar(photo) is not None
    return True


def command(
    event: Event,
    name: str,
    *,
    item: str | None = None,
    scene: str | None = None,
    actor,
    now: datetime,
    ip: str = "",
) -> DisplayState:
    """Apply one console command to every screen of ``event``.

    :param name: one of COMMANDS; ``goto`` takes ``scene``, ``pin``/``hide``/``show``
        take ``item`` (``work:12``, ``photo:7``, ``comment:3``).
    :raises RuleError: unknown_command, bad_item, no_longer_shown, bad_scene, too_many_hidden
    """
    if name not in COMMANDS:
        raise _fail("unknown_command")
    if name in ("pin", "hide", "show") and not (item and ITEM_KEY.fullmatch(item)):
        raise _fail("bad_item")
    if name == "pin" and not _shown_by(event.id, item):
        raise _fail("bad_item")
    if name == "pin" and not _still_shown(event, item, now):
        raise _fail("no_longer_shown")
    if name == "goto" and scene not in {s.value for s in Scene}:
        raise _fail("bad_scene")
    state = state_of(event.id)
    values: dict = {"version": DisplayState.version + 1, "updated_at": now, "updated_by_id": actor.id}
    values.update(_SETS.get(name, lambda item, scene: {})(item, scene))
    db.session.execute(sa.update(DisplayState).where(DisplayState.event_id == event.id).values(**values))
    memory.forget()  # as bump does
    if name in ("hide", "show"):
        # the UPDATE above holds the row's lock until commit: the list read now is the
        # latest, and nobody else's hide can slip in between the read and the write
        db.session.refresh(state)
        hidden = [k for k in state.hidden if k != item]
        if name == "hide":
            if len(hidden) >= HIDDEN_MAX:
                raise _fail("too_many_hidden", max=HIDDEN_MAX)
            hidden.append(item)
            if state.pinned == item:
                state.pinned = None
        state.hidden = hidden
    db.session.flush()
    audit.record(
        f"display.{name}",
        now=now,
        actor=actor,
        target=event,
        ip=ip,
        **({"item": item} if item else {}),
        **({"scene": scene} if scene else {}),
    )
    db.session.refresh(state)
    return state
