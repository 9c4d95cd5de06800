"""The console's commands: one row per event that every screen follows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.displays import control
from experience.displays.models import DisplayState
from experience.extensions import db
from experience.ratings.models import Display
from tests.displays.conftest import DURING


def give(event, staff, name, **kw):
    state = control.command(event, name, actor=staff, now=DURING, **kw)
    db.session.commit()
    return state


def test_each_command_raises_the_version_and_sets_what_it_says(event, screen, staff, rate):
    comment = f"comment:{rate(event, '讲解很清楚').id}"
    start = control.state_of(event.id).version
    assert give(event, staff, "blank").blank is True
    state = give(event, staff, "pause")
    assert (state.paused, state.blank, state.version) == (True, True, start + 2)
    state = give(event, staff, "unblank")
    assert (state.paused, state.blank) == (True, False)
    assert give(event, staff, "resume").paused is False
    assert give(event, staff, "next").next_seq == 1
    assert give(event, staff, "next").next_seq == 2
    assert give(event, staff, "pin", item=comment).pinned == comment
    state = give(event, staff, "goto", scene="checkin")
    assert (state.goto_scene, state.goto_seq, state.pinned) == ("checkin", 1, None)  # a jump ends a pin
    assert state.version == start + 8


def test_hide_and_show_keep_a_list_and_hiding_the_pinned_item_unpins_it(event, screen, staff, rate):
    comment = f"comment:{rate(event, '讲解很清楚').id}"
    give(event, staff, "pin", item=comment)
    give(event, staff, "hide", item=comment)
    state = give(event, staff, "hide", item="photo:7")
    assert state.hidden == [comment, "photo:7"] and state.pinned is None
    assert give(event, staff, "hide", item="photo:7").hidden == [comment, "photo:7"]  # once
    assert give(event, staff, "show", item=comment).hidden == ["photo:7"]


def test_only_what_the_event_s_screens_show_can_be_pinned(event, screen, staff, rate, make_event, make_screen):
    """A pin of something no screen of the event has (a hand-made request, another
    event's comment, one not approved) would leave every screen on its welcome slide."""
    other = make_event("11", actor=staff, title="另一场", starts_at=event.starts_at, ends_at=event.ends_at)
    for item in (
        "work:99999",
        "photo:99999",
        f"comment:{rate(other, '别处的评论').id}",
        f"comment:{rate(event, '还没审核', approved=False).id}",
        f"comment:{rate(event, '不愿公开', display=Display.NONE).id}",
    ):
        with pytest.raises(RuleError) as e:
            control.command(event, "pin", item=item, actor=staff, now=DURING)
        assert e.value.code == "bad_item", item
    assert control.state_of(event.id).pinned is None


@pytest.mark.parametrize(
    "name, kw, code",
    [
        ("explode", {}, "unknown_command"),
        ("hide", {"item": "guest:1"}, "bad_item"),
        ("pin", {"item": "work:0"}, "bad_item"),
        ("pin", {}, "bad_item"),
        ("goto", {"scene": "lobby"}, "bad_scene"),
    ],
)
def test_a_bad_command_changes_nothing(event, screen, staff, name, kw, code):
    before = control.state_of(event.id).version
    with pytest.raises(RuleError) as e:
        control.command(event, name, actor=staff, now=DURING, **kw)
    assert e.value.code == code
    db.session.rollback()
    assert db.session.get(DisplayState, event.id).version == before


def test_commands_reach_only_their_event_and_are_logged(event, screen, staff, make_event, make_screen):
    other = make_event("11", actor=staff, title="另一场", starts_at=event.starts_at, ends_at=event.ends_at)
    make_screen(other)
    before = control.state_of(other.id).version
    give(event, staff, "blank")
    assert db.session.get(DisplayState, other.id).version == before
    assert db.session.get(DisplayState, other.id).blank is False
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "display.blank"))
    assert entry is not None and entry.actor_id == staff.id
