"""What an app process remembers between the screens' polls.

200 screens poll every 1.5 seconds (feed.SYNC_SECONDS). Each poll read its link (the
screen, its event, when the link ends, its last heartbeat) and its event's display state
from the database, and that read was most of what a poll cost. Both change rarely, so each
app process keeps them for a moment:

- an event's display state for STATE_SECONDS: a command given through any app server
  reaches a screen within SYNC_SECONDS + STATE_SECONDS + a round trip. The database stays
  the only channel between servers; this memory only delays what it says, by a bounded
  time. A command given in this process forgets at once (control.bump calls ``forget``).
- a link until its event's display version changes: revoking a screen, a new link and a
  changed or cancelled event all raise it (control.bump), so a revoked link stops within
  STATE_SECONDS as well; LINK_SECONDS bounds it whatever happens. Expiry is checked on
  every poll against the clock.
- the screen's heartbeat as this process last wrote or read it, so the rule "write only
  when what it shows changed, or every HEARTBEAT_WRITE_SECONDS" needs no read. A screen
  whose polls move between processes is compared with what the process it reached knows:
  a change may reach the console up to HEARTBEAT_WRITE_SECONDS late, as an unchanged
  screen's does anyway.

Dead links are never remembered: the view answers them from the database every time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context

from experience.displays.models import DisplayState, Screen
from experience.events.models import Event

#: an event's display state is read again after this long (seconds)
STATE_SECONDS = 0.25
#: a link is read again after this long at most, even if its event's version did not move
LINK_SECONDS = 30.0
#: links remembered at most (a process forgets them all beyond, and reads again)
LINKS_MAX = 5000

_STATE_COLUMNS = (
    DisplayState.version,
    DisplayState.content_version,
    DisplayState.paused,
    DisplayState.blank,
    DisplayState.pinned,
    DisplayState.hidden,
    DisplayState.goto_seq,
    DisplayState.goto_scene,
    DisplayState.next_seq,
)
#: a link with its event's display state, in one statement: read apart, a revoke committed
#: between the two reads (PostgreSQL's READ COMMITTED) would be remembered as not revoked
#: under the new version, until LINK_SECONDS
_LINK = (
    sa.select(
        Screen.id,
        Screen.event_id,
        Screen.revoked_at,
        Screen.seen_at,
        Screen.shown,
        Screen.shown_version,
        Screen.agent,
        Screen.cache_state,
        Screen.bad_media,
        Screen.bad_media_at,
        Event.ends_at,
        Event.status,
        *_STATE_COLUMNS,
    )
    .join(Event, Event.id == Screen.event_id)
    .join(DisplayState, DisplayState.event_id == Screen.event_id)
    .where(Screen.token == sa.bindparam("token"))
)
_STATE = sa.select(*_STATE_COLUMNS).where(DisplayState.event_id == sa.bindparam("event_id"))


@dataclass
class Link:
    """A live link as read from the database, its heartbeat kept up to date here."""

    id: int
    event_id: int
    revoked_at: datetime | None
    ends_at: datetime
    status: Any
    #: the display version it was read under: another version, and it is read again
    version: int
    read_at: float
    heartbeat: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    row: Any
    read_at: float


class Memory:
    def __init__(self):
        self.lock = threading.Lock()
        self.links: dict[str, Link] = {}
        self.states: dict[int, State] = {}

    def state(self, conn, event_id: int):
        """The event's display state row (version, content_version, paused, blank, …)."""
        at = time.monotonic()
        kept = self.states.get(event_id)
        if kept is not None and at - kept.read_at < STATE_SECONDS:
            return kept.row
        row = conn.execute(_STATE, {"event_id": event_id}).one_or_none()
        if row is not None:
            with self.lock:
                self.states[event_id] = State(row, at)
        return row

    def link(self, conn, token: str) -> tuple[Link, Any] | None:
        """The link of ``token`` and its event's display state; None when no screen has
        this token (or its event has no display state yet). Whether the link is active is the
        caller's rule (feed._active)."""
        at = time.monotonic()
        link = self.links.get(token)
        if link is not None and at - link.read_at < LINK_SECONDS:
            state = self.state(conn, link.event_id)
            if state is not None and state.version == link.version:
                return link, state
        row = conn.execute(_LINK, {"token": token}).one_or_none()
        if row is None:
            self.drop(token)
            return None
        state = row  # the state's columns, read with the link
        link = Link(
            id=row.id,
            event_id=row.event_id,
            revoked_at=row.revoked_at,
            ends_at=row.ends_at,
            status=row.status,
            version=state.version,
            read_at=at,
            heartbeat={
                "seen_at": row.seen_at,
                "shown": row.shown,
                "shown_version": row.shown_version,
                "agent": row.agent,
                "cache_state": row.cache_state,
                "bad_media": row.bad_media,
                "bad_media_at": row.bad_media_at,
            },
        )
        with self.lock:
            if len(self.links) >= LINKS_MAX:
                self.links.clear()
            self.links[token] = link
            self.states[row.event_id] = State(row, at)
        return link, state

    def drop(self, token: str) -> None:
        """Forget a link found dead: the view reads it again and answers."""
        with self.lock:
            self.links.pop(token, None)

    def forget(self) -> None:
        with self.lock:
            self.links.clear()
            self.states.clear()


def memory() -> Memory:
    """The current app's memory (one per app: a process may serve several, the tests do)."""
    return current_app.extensions.setdefault("displays.memory", Memory())


def forget() -> None:
    """After a change of display state in this process: the next poll reads it again."""
    if has_app_context():
        memory().forget()
