"""An event's screens: names, links that stop, scenes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from experience.core.errors import RuleError
from experience.displays import control, feed, screens
from experience.displays.models import Scene
from experience.events.services import cancel_event
from experience.extensions import db
from tests.displays.conftest import DURING


def test_a_new_screen_has_every_scene_on_and_an_unguessable_link(event, make_screen):
    a, b = make_screen(event, "主屏"), make_screen(event, "签到处")
    assert all(a.scenes[s.value]["on"] for s in Scene)
    assert len(a.token) >= 22 and a.token != b.token
    assert [s.name for s in screens.screens_of(event)] == ["主屏", "签到处"]


@pytest.mark.parametrize("name, code", [("  ", "name_required"), ("屏" * 41, "name_too_long"), ("主屏", "name_taken")])
def test_a_bad_name_is_refused(event, screen, staff, name, code):
    with pytest.raises(RuleError) as e:
        screens.create_screen(event, name, actor=staff, now=DURING)
    assert e.value.code == code


def test_the_link_works_until_twelve_hours_after_the_event_ends(event, screen):
    end = event.ends_at + timedelta(hours=screens.LINK_HOURS_AFTER_END)
    assert screens.link_state(screen, end) == "active"
    assert feed.sync(screen.token, end) is not None
    assert screens.link_state(screen, end + timedelta(seconds=1)) == "expired"
    assert feed.sync(screen.token, end + timedelta(seconds=1)) is None
    assert feed.screen_for(screen.token, end + timedelta(seconds=1)) is None


def test_a_revoked_or_replaced_link_stops_at_once(event, make_screen, staff):
    revoked, renewed = make_screen(event, "主屏"), make_screen(event, "侧屏")
    old = renewed.token
    screens.revoke_screen(revoked, actor=staff, now=DURING)
    screens.new_link(renewed, actor=staff, now=DURING)
    db.session.commit()
    assert feed.sync(revoked.token, DURING) is None
    assert feed.sync(old, DURING) is None
    assert feed.sync(renewed.token, DURING) is not None
    with pytest.raises(RuleError):  # a revoked screen is kept for the record, unchanged
        screens.rename_screen(revoked, "新名字", actor=staff, now=DURING)
    screens.create_screen(event, "主屏", actor=staff, now=DURING)  # its name is free again


def test_a_cancelled_event_s_screens_stop(event, screen, staff):
    cancel_event(event, "天气原因", actor=staff, now=DURING)
    db.session.commit()
    assert feed.sync(screen.token, DURING) is None


def test_no_screen_is_added_whose_link_would_be_dead_on_arrival(event, staff):
    """A past event's (or a cancelled one's) new screen was added, and its link showed
    only "this link is no longer valid": it is refused, saying why."""
    end = screens.link_expires_at(event)
    screens.create_screen(event, "晚宴", actor=staff, now=end)  # the evening is covered
    with pytest.raises(RuleError) as e:
        screens.create_screen(event, "第二天", actor=staff, now=end + timedelta(seconds=1))
    assert e.value.code == "event_over" and "12" in str(e.value)
    cancel_event(event, "天气原因", actor=staff, now=DURING)
    with pytest.raises(RuleError) as e:
        screens.create_screen(event, "主屏", actor=staff, now=DURING)
    assert e.value.code == "event_cancelled"
    db.session.commit()
    assert [s.name for s in screens.screens_of(event)] == ["晚宴"]


def test_scenes_take_seconds_in_range_and_at_least_one_on(event, screen, staff):
    before = control.state_of(event.id).content_version
    screens.set_scenes(screen, {"welcome": {"on": True, "seconds": 30}, "works": {"on": True}}, actor=staff, now=DURING)
    db.session.commit()
    assert screen.scenes["welcome"] == {"on": True, "seconds": 30}
    assert screen.scenes["checkin"]["on"] is False
    assert [s["scene"] for s in feed.content(screen, DURING)["scenes"]] == ["welcome", "works"]
    assert control.state_of(event.id).content_version == before + 1
    for bad, code in (({"welcome": {"on": True, "seconds": 4}}, "bad_scenes"), ({}, "no_scene")):
        with pytest.raises(RuleError) as e:
            screens.set_scenes(screen, bad, actor=staff, now=DURING)
        assert e.value.code == code
