"""What a process remembers between polls (displays.memory): a poll with nothing to write
reads nothing, and what another app server changes in the database still arrives, within
memory.STATE_SECONDS."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa

from experience.displays import control, feed, memory, screens
from experience.displays.models import DisplayState, Screen
from experience.extensions import db
from tests.displays.conftest import DURING


@contextmanager
def statements():
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def poll(token: str, **heartbeat):
    polled = feed.sync(token, DURING, **{"shown": "welcome", "shown_version": 1, **heartbeat})
    db.session.commit()
    return polled


def as_another_server(statement) -> None:
    """A change made by another app process: straight to the database, nothing forgotten here."""
    with db.engine.begin() as conn:
        conn.execute(statement)


def test_a_poll_with_nothing_to_say_reads_nothing(event, screen, monkeypatch):
    token = screen.token
    monkeypatch.setattr(memory, "STATE_SECONDS", 60)  # a busy test machine may take 0.25 s between polls
    poll(token)  # reads the link and the state, writes the first heartbeat
    with statements() as seen:
        version, answer = poll(token)
    assert [s for s in seen if "display_" in s] == []
    assert answer["v"] == version
    with statements() as seen:
        poll(token, shown="works/work:1")  # what it shows changed: written, nothing read
    assert [s.split()[0] for s in seen if "display_" in s] == ["UPDATE"]


def test_a_command_from_another_server_arrives_within_the_bound(event, screen):
    token, event_id = screen.token, event.id
    version, _ = poll(token)
    as_another_server(
        sa.update(DisplayState)
        .where(DisplayState.event_id == event_id)
        .values(version=DisplayState.version + 1, blank=True)
    )
    time.sleep(memory.STATE_SECONDS)  # the bound: one poll after it sees the change
    new_version, answer = poll(token)
    assert (new_version, answer["blank"]) == (version + 1, True)


def test_a_link_revoked_on_another_server_stops_within_the_bound(event, screen):
    token, event_id, screen_id = screen.token, event.id, screen.id
    assert poll(token) is not None
    # screens.revoke_screen's two writes, as another process makes them
    as_another_server(sa.update(Screen).where(Screen.id == screen_id).values(revoked_at=datetime(2024, 9, 14, 2)))
    as_another_server(
        sa.update(DisplayState).where(DisplayState.event_id == event_id).values(version=DisplayState.version + 1)
    )
    time.sleep(memory.STATE_SECONDS)
    assert poll(token) is None
    assert poll(token) is None  # a dead link is never remembered: read again, still dead


def test_a_command_in_this_process_is_read_at_once(event, screen, staff):
    token = screen.token
    poll(token)
    control.command(event, "blank", actor=staff, now=DURING)
    db.session.commit()
    assert poll(token)[1]["blank"] is True  # no wait: this process forgot what it knew


def test_a_replaced_link_stops_at_once_though_it_was_remembered(event, screen, staff):
    old = screen.token
    assert poll(old) is not None  # remembered
    screens.new_link(screen, actor=staff, now=DURING)
    db.session.commit()
    assert poll(old) is None
    assert poll(screen.token) is not None
