"""What a screen receives: the protocol of ``/s/<token>/…``.

Polling, not server-sent events. The app runs on gunicorn gthread workers (4 × 16
threads by default): an event stream holds a thread for as long as the screen is up, so
64 screens would take every thread and check-in would stop. A poll holds a thread for a
millisecond or two. A screen polls ``sync`` every SYNC_SECONDS with the version it has
(``If-None-Match``); the answer is ``304`` with no body until something changed, then the
display state (the commands) and the versions. One indexed query per poll, and a write
only every HEARTBEAT_WRITE_SECONDS (or when what it shows changed). Commands therefore
reach every screen within SYNC_SECONDS plus a round trip, whichever app server took them,
because the state lives in the database.

Safe by design, on the screen's side (static/displays/screen.js): a screen shows live
scenes (check-in counts, comments, ratings) only while its last successful sync is
younger than STALE_SECONDS. A screen whose poll loop died, or whose network dropped,
falls back to the welcome and the works by itself; a blank or a hidden comment can
therefore never stay up on a screen that stopped listening.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from experience.core import files
from experience.core.web import beijing
from experience.displays import screens
from experience.displays.memory import memory
from experience.displays.models import DisplayState, Scene, Screen, ScreenItem
from experience.events.models import CATEGORY_LABELS, Event, EventStatus, GuestCategory
from experience.extensions import db
from experience.guests.models import Guest
from experience.platform.services import ShownPhoto, ShownWork
from experience.ratings.models import Display, Rating
from experience.ratings.services import distributions, public_name

#: how often a screen asks for news: a command shows within this plus a round trip
SYNC_SECONDS = 1.5
#: a screen that has not synced for this long shows safe content only (about five polls)
STALE_SECONDS = 8
#: a screen's heartbeat is written at most this often while what it shows is unchanged
HEARTBEAT_WRITE_SECONDS = 10
#: the console calls a screen "not responding" when unheard of for this long
ALIVE_SECONDS = 25
#: how often a screen fetches the live figures while it shows (or is about to show) them
LIVE_SECONDS = 5
#: the live figures are computed at most this often per event and version, per process …
LIVE_CACHE_SECONDS = 3
#: … or, when computing them takes long, at most a tenth of the time (see _kept) …
LIVE_COST_FACTOR = 10
#: … and never longer than this
LIVE_KEEP_MAX_SECONDS = 30
#: the ratings' averages, kept apart: computed at most a hundredth of the time, and kept
#: 5 minutes at most (a hundred thousand ratings' averages took a third of a second)
AVERAGES_COST_FACTOR = 100
AVERAGES_KEEP_MAX_SECONDS = 300
#: a thread finding none of an event's figures waits this long for those being computed
LIVE_WAIT_SECONDS = 30
#: figures past their time are kept this long more, to answer while new ones are computed
LIVE_STALE_SECONDS = 60
#: the comments a wall shows at most: the latest approved
COMMENTS_MAX = 30
SHOWN_MAX = 60
AGENT_MAX = 200
#: what a screen may say of its offline cache: "none" (no service worker) or "<cached>/<total>"
CACHE_STATE = re.compile(r"none|([0-9]{1,5})/([0-9]{1,5})")
#: the playlist items a screen could not play, reported at most this many at once
BAD_MEDIA_MAX = 8
_BAD_KEY = re.compile(r"(work|photo):[1-9][0-9]{0,9}")


#: built once: 200 screens poll every 1.5 s, and building a statement costs more than running it
_HEARTBEAT = (
    sa.update(Screen)
    .where(Screen.id == sa.bindparam("b_id"))
    .values(
        seen_at=sa.bindparam("b_seen_at"),
        shown=sa.bindparam("b_shown"),
        shown_version=sa.bindparam("b_shown_version"),
        agent=sa.bindparam("b_agent"),
        cache_state=sa.bindparam("b_cache_state"),
        bad_media=sa.bindparam("b_bad_media"),
        bad_media_at=sa.bindparam("b_bad_media_at"),
    )
)


def poll(
    conn,
    token: str,
    now: datetime,
    *,
    shown: str = "",
    shown_version: int | None = None,
    agent: str = "",
    cache: str | None = None,
    bad: str | None = None,
):
    """One poll of a screen on ``conn`` (a Session or a Core Connection): its heartbeat,
    and the display state it must follow.

    ``cache`` is what the screen says of its offline cache (``none``, ``12/15``; anything
    else, or nothing, leaves the last word as it was); ``bad`` the playlist items it could
    not play (``work:12,photo:7``; nothing said means none). Both are part of the heartbeat,
    written under the same rule: at once when they change, else every
    HEARTBEAT_WRITE_SECONDS, never one write per poll.

    The link and the display state come from this process's memory (displays.memory:
    a command given on another server is read within a quarter second), the heartbeat's
    last values too, so a poll with nothing to write reads nothing either, most times.

    Returns None when the link is unknown, revoked or expired (the screen then clears
    itself), else ``(polled, answer)``: ``polled.version`` is what the screen has when the
    view answers 304, ``polled.event_id`` its event. A heartbeat, when due, is written in
    a transaction of its own (the read's is rolled back first: on SQLite a reader cannot
    become a writer once another writer has committed), which the caller commits.
    """
    found = memory().link(conn, token)
    if found is None:
        return None
    link, state = found
    if not _active(link, now):
        memory().drop(token)
        return None
    shown, agent = shown[:SHOWN_MAX], agent[:AGENT_MAX]
    last = link.heartbeat
    cache = _cache_state(cache) or last["cache_state"]
    bad = _bad_media(bad)
    if (
        last["seen_at"] is None
        or now - last["seen_at"] >= timedelta(seconds=HEARTBEAT_WRITE_SECONDS)
        or (shown, shown_version) != (last["shown"], last["shown_version"])
        or (agent and agent != last["agent"])
        or cache != last["cache_state"]
        or bad != last["bad_media"]
    ):
        beat = {
            "seen_at": now,
            "shown": shown,
            "shown_version": shown_version,
            "agent": agent or last["agent"],
            "cache_state": cache,
            "bad_media": bad,
            # when the screen first said so: kept while it keeps saying the same
            "bad_media_at": None if not bad else last["bad_media_at"] if bad == last["bad_media"] else now,
        }
        conn.rollback()
        conn.execute(_HEARTBEAT, {"b_id": link.id, **{f"b_{k}": v for k, v in beat.items()}})
        # remembered before the caller's commit: a heartbeat lost with a failed commit is
        # written again within HEARTBEAT_WRITE_SECONDS
        last.update(beat)
    return Polled(link.event_id, state.version), {
        "v": state.version,
        "cv": state.content_version,
        "paused": state.paused,
        "blank": state.blank,
        "pinned": state.pinned,
        "hidden": list(state.hidden or []),
        "goto": {"seq": state.goto_seq, "scene": state.goto_scene},
        "next": state.next_seq,
        "sync_ms": int(SYNC_SECONDS * 1000),
        "stale_ms": STALE_SECONDS * 1000,
        "live_ms": LIVE_SECONDS * 1000,
    }


class Polled(NamedTuple):
    event_id: int
    #: the display version the answer carries (the view answers 304 when the screen has it)
    version: int


def _cache_state(said: str | None) -> str:
    """``none`` or ``<cached>/<total>`` as the screen said it; "" for anything else."""
    found = CACHE_STATE.fullmatch(said or "")
    if found is None or (found.group(1) is not None and int(found.group(1)) > int(found.group(2))):
        return ""
    return found.group(0)


def _bad_media(said: str | None) -> str:
    """The well-formed item keys of a screen's report, each once, at most BAD_MEDIA_MAX."""
    keys = [k for k in (said or "")[:400].split(",") if _BAD_KEY.fullmatch(k)]
    return ",".join(list(dict.fromkeys(keys))[:BAD_MEDIA_MAX])


def _active(row, now: datetime) -> bool:
    """screens.link_state's rule, on a link as a poll finds it."""
    return (
        row.revoked_at is None
        and row.status is not EventStatus.CANCELLED
        and now <= row.ends_at + timedelta(hours=screens.LINK_HOURS_AFTER_END)
    )


def sync(token: str, now: datetime, **heartbeat):
    """``poll`` on the request's session: None for a dead link, else ``(version, answer)``.
    It ends the caller's transaction; the caller commits the heartbeat."""
    polled = poll(db.session, token, now, **heartbeat)
    return None if polled is None else (polled[0].version, polled[1])


def screen_for(token: str, now: datetime) -> Screen | None:
    """The screen of an active link, else None (unknown, revoked, expired)."""
    screen = db.session.scalar(sa.select(Screen).where(Screen.token == token))
    if screen is None or screens.link_state(screen, now) != "active":
        return None
    return screen


def content(screen: Screen, now: datetime) -> dict[str, Any]:
    """What the screen plays: the welcome, its scenes in order with their seconds, and
    its playlist with display-ready media. Items no longer available (a withdrawn work,
    a photo whose approval was withdrawn) are left out."""
    event = screen.event
    state = db.session.get(DisplayState, event.id)
    can_show = screens.available(event, now)
    items = []
    for item in screen.items:
        if item.work_id is not None and item.work_id in can_show.works:
            items.append(_work(can_show.works[item.work_id]))
        elif item.rating_id is not None and item.rating_id in can_show.photos:
            photo = can_show.photos[item.rating_id]
            items.append(
                {
                    "key": photo.key,
                    "kind": "guest_photo",
                    # ?v=: the same bytes for ever, so a screen caches it like a work's file
                    "url": url_for(
                        "displays.guest_photo",
                        token=screen.token,
                        rating_id=photo.rating_id,
                        v=files.version(photo.url_key),
                    ),
                    "caption": photo.caption,
                }
            )
    return {
        "cv": state.content_version if state else 0,
        "screen": screen.name,
        "event": {
            "title": event.title,
            "service": event.service_name,
            "certified_org": event.certified_org,
            "host_unit": event.host_unit,
            "time": f"{beijing(event.starts_at)} – {beijing(event.ends_at, 'HH:mm')}",
            "venue": f"{event.city} {event.venue_name}".strip(),
        },
        "scenes": [
            {"scene": scene.value, "label": str(scene.label), "seconds": conf["seconds"], "live": scene.is_live}
            for scene in Scene
            if (conf := screen.scenes.get(scene.value, {})).get("on")
        ],
        "items": items,
    }


def _caption(photo: ShownPhoto) -> str:
    c = photo.caption
    parts = [c.get("description") or ""]
    if c.get("place"):
        parts.append(_("Place: %(place)s", place=c["place"]))
    if c.get("creator"):
        parts.append(_("By %(creator)s", creator=c["creator"]))
    return " · ".join(p for p in parts if p)


def _work(work: ShownWork) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "key": f"work:{work.id}",
        "title": work.title,
        "unit": work.unit_name,
        "category": str(work.category.label),
        "number": work.number,
    }
    if work.video is not None:
        answer.update(
            kind="video",
            url=work.video.file.url,
            poster=work.video.poster.url if work.video.poster else None,
            duration=work.video.duration_s,
        )
    elif work.photos:
        answer.update(kind="photos", photos=[{"url": p.screen.url, "caption": _caption(p)} for p in work.photos])
    else:
        answer.update(kind="text", summary=work.summary, body=work.body)
    return answer


def guest_photo_key(screen: Screen, rating_id: int) -> str | None:
    """The storage key of a guest photo this screen may show: on its playlist, of its
    event, approved, with consent. None otherwise."""
    return db.session.scalar(
        sa.select(Rating.photo_web_key)
        .join(ScreenItem, ScreenItem.rating_id == Rating.id)
        .where(
            ScreenItem.screen_id == screen.id,
            Rating.id == rating_id,
            Rating.event_id == screen.event_id,
            Rating.photo_approved_at.is_not(None),
            Rating.photo_consent.is_(True),
        )
    )


# -- Live figures ----------------------------------------------------------------------------

_live_lock = threading.Lock()


@dataclass
class _Kept:
    """Figures as computed, with how long they stay fresh."""

    at: float
    keep: float
    figures: Any

    def fresh(self, now: float) -> bool:
        return now - self.at < self.keep


def _live_cache() -> dict[tuple, _Kept]:
    # the app's, not the module's: one process may serve several apps (the tests do), and
    # two tests' databases may have the same event id and version
    return current_app.extensions.setdefault("displays.live", {})


def _computing(key: tuple) -> threading.Lock:
    """The lock a process computes a key's figures under (one thread at a time)."""
    with _live_lock:
        locks = current_app.extensions.setdefault("displays.live.computing", {})
        return locks.setdefault(key, threading.Lock())


def _kept(key: tuple, compute: Callable[[], Any], cost_factor: float, keep_max: float) -> Any:
    """``compute()``'s figures for ``key``, computed by one thread at a time per process
    and kept LIVE_CACHE_SECONDS, or ``cost_factor`` times what computing them took if
    that is longer (at most ``keep_max``). While one thread computes them, the others
    answer with the key's last figures, or wait for the new ones when there are none.

    An event with a hundred thousand ratings took seconds to compute its figures, and 200
    screens asking for them together computed them over and over, all at once, until the
    server did nothing else (the bench's full run): with the factor, computing them takes
    at most 1/cost_factor of one thread per process, whatever the event's size."""
    hit = cached_live(key)
    if hit is not None:
        return hit
    computing = _computing(key)
    held = computing.acquire(blocking=False)
    if not held:
        with _live_lock:
            kept = _live_cache().get(key)
        if kept is not None:
            return kept.figures
        # none yet: wait for the ones being computed (then compute them here if that
        # failed, or took too long)
        held = computing.acquire(timeout=LIVE_WAIT_SECONDS)
    try:
        hit = cached_live(key)
        if hit is not None:
            return hit
        started = time.monotonic()
        figures = compute()
        took = time.monotonic() - started
        with _live_lock:
            cache = _live_cache()
            for old in [k for k, kept in cache.items() if started - kept.at >= kept.keep + LIVE_STALE_SECONDS]:
                del cache[old]
            cache[key] = _Kept(started, min(keep_max, max(LIVE_CACHE_SECONDS, cost_factor * took)), figures)
            locks = current_app.extensions["displays.live.computing"]
            for old in [k for k, lock in locks.items() if k not in cache and not lock.locked()]:
                del locks[old]  # (a thread holding one meanwhile only computes once more)
        return figures
    finally:
        if held:
            computing.release()


def live(screen: Screen) -> dict[str, Any]:
    """Check-in counts by guest category against the expected, the approved comments
    (as each guest chose to be named; hidden ones left out) and the ratings' averages.
    Counts only: never a guest's name or phone unless the guest chose to sign a comment.

    Kept per event in each process (``_kept``), keyed by the display version too: a
    hidden comment or a withdrawn approval changes the version, so no screen is served
    the old figures after it. The ratings' averages are kept apart, per event, and for
    longer when they cost more (AVERAGES_COST_FACTOR): over a hundred thousand ratings
    they are the costly part, and they move slowly, while the counts and comments stay
    a few seconds fresh.
    """
    state = db.session.get(DisplayState, screen.event_id)
    event, hidden = screen.event, set(state.hidden or []) if state else set()
    return _kept(
        live_key(screen.event_id, state.version if state else 0),
        lambda: _live(event, hidden),
        LIVE_COST_FACTOR,
        LIVE_KEEP_MAX_SECONDS,
    )


def live_key(event_id: int, version: int) -> tuple:
    return ("live", event_id, version)


def cached_live(key: tuple) -> Any:
    """The figures computed for this key (``live_key``), while they are fresh."""
    with _live_lock:
        kept = _live_cache().get(key)
    return kept.figures if kept is not None and kept.fresh(time.monotonic()) else None


def cached_live_for(conn, token: str, now: datetime) -> dict[str, Any] | None:
    """The live figures of an active link's event when this process computed them lately
    (displays.fastpath answers with them); None otherwise: the view then computes them."""
    found = memory().link(conn, token)
    if found is None or not _active(found[0], now):
        memory().drop(token)
        return None
    return cached_live(live_key(found[0].event_id, found[1].version))


def arrivals_by_category(event_id: int) -> sa.Select:
    """The checked-in guests of an event by category: read from the index alone
    (ix_guest_event_id_checked_in_at_category), never from the guests' rows."""
    return (
        sa.select(Guest.category, sa.func.count())
        .where(Guest.event_id == event_id, Guest.checked_in_at.is_not(None))
        .group_by(Guest.category)
    )


def _live(event: Event, hidden: set[str]) -> dict[str, Any]:
    by_category = dict(db.session.execute(arrivals_by_category(event.id)).all())
    expected = event.expected_guests or {}
    categories = [
        {
            "label": str(CATEGORY_LABELS[c]),
            "checked_in": by_category.get(c, 0),
            "expected": int(expected.get(c.value) or 0),
        }
        for c in GuestCategory
        if by_category.get(c) or expected.get(c.value)
    ]
    comments = [
        {"key": f"comment:{r.id}", "text": r.comment, "name": public_name(r)}
        for r in db.session.scalars(
            sa.select(Rating)
            .options(selectinload(Rating.guest))
            .where(
                Rating.event_id == event.id,
                Rating.comment_approved_at.is_not(None),
                Rating.comment != "",
                Rating.display != Display.NONE,
            )
            .order_by(Rating.comment_approved_at.desc(), Rating.id.desc())
            .limit(COMMENTS_MAX + len(hidden))
        )
        if f"comment:{r.id}" not in hidden
    ][:COMMENTS_MAX]
    return {
        "checked_in": sum(by_category.values()),
        "expected": event.expected_total,
        "categories": categories,
        "comments": comments,
        "responses": db.session.scalar(
            sa.select(sa.func.count()).select_from(Rating).where(Rating.event_id == event.id)
        ),
        "ratings": averages(event),
    }


def averages(event: Event) -> list[dict[str, Any]]:
    """The ratings' count and average per question, kept apart from the other live
    figures, per event: see ``live``."""
    return _kept(("averages", event.id), lambda: _averages(event), AVERAGES_COST_FACTOR, AVERAGES_KEEP_MAX_SECONDS)


def _averages(event: Event) -> list[dict[str, Any]]:
    return [
        {
            "name": d.dimension.name,
            "average": round(d.average, 2) if d.average is not None else None,
            "count": d.count,
        }
        for d in distributions(event)
    ]


def alive(screen: Screen, now: datetime) -> bool:
    """What the console shows: whether the screen was heard from lately."""
    return screen.seen_at is not None and now - screen.seen_at < timedelta(seconds=ALIVE_SECONDS)
