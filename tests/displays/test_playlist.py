"""A screen's playlist: selected works in their 公示 and approved guest photos, in the
organiser's order; a withdrawn work leaves it at the screens' next sync."""

from __future__ import annotations

import pytest

from experience.core.errors import RuleError
from experience.displays import control, feed, screens
from experience.extensions import db
from experience.screening import publication
from experience.works.models import WorkCategory
from tests.displays.conftest import DURING
from tests.platform.conftest import (  # noqa: F401 (fixtures)
    after_the_deadline,
    h264_video,
    make_expert,
    make_unit,
    other_unit,
    photo_bytes,
    publish,
    screening_round,
    secretariat,
    select,
    submitted_work,
    unit,
)


@pytest.fixture
def works(submitted_work, select, publish):  # noqa: F811
    text = submitted_work(category=WorkCategory.TEXT, title="社区食堂的认证之路")
    photo = submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心")
    refused = submitted_work(category=WorkCategory.TEXT, title="未入选的作品")
    select([text, photo], others=[refused])
    publish()
    return text, photo, refused


def test_the_playlist_holds_selected_works_in_the_organisers_order(event, screen, staff, works):
    text, photo, refused = works
    assert set(screens.available(event, DURING).works) == {text.id, photo.id}
    with pytest.raises(RuleError) as e:
        screens.add_items(screen, [f"work:{refused.id}"], actor=staff, now=DURING)
    assert e.value.code == "not_available"
    assert screens.add_items(screen, [f"work:{text.id}", f"work:{photo.id}"], actor=staff, now=DURING) == 2
    assert screens.add_items(screen, [f"work:{text.id}"], actor=staff, now=DURING) == 0  # once
    db.session.commit()
    items = feed.content(screen, DURING)["items"]
    assert [(i["key"], i["kind"]) for i in items] == [(f"work:{text.id}", "text"), (f"work:{photo.id}", "photos")]
    assert "服务认证让生活更美好" in items[0]["body"]
    assert items[1]["photos"][0]["url"].startswith(f"/showcase/{photo.id}/files/")
    assert "北京市朝阳区康乐养老中心" in items[1]["photos"][0]["caption"]
    screens.move_item(screen, screen.items[1].id, -1, actor=staff, now=DURING)
    db.session.commit()
    db.session.expire_all()
    assert [i["key"] for i in feed.content(screen, DURING)["items"]] == [f"work:{photo.id}", f"work:{text.id}"]


def test_a_withdrawn_work_leaves_every_playlist_at_the_next_sync(
    event,
    make_screen,
    staff,
    works,
    secretariat,  # noqa: F811
    make_event,
):
    text, photo, _ = works
    other_event = make_event("11", actor=staff, title="另一场", starts_at=event.starts_at, ends_at=event.ends_at)
    first, second = make_screen(event), make_screen(other_event)
    for s in (first, second):
        screens.add_items(s, [f"work:{text.id}", f"work:{photo.id}"], actor=staff, now=DURING)
    db.session.commit()
    before = {s.id: feed.sync(s.token, DURING)[1]["cv"] for s in (first, second)}
    publication.withdraw_selected(photo, "作品存在版权争议", actor=secretariat, now=DURING)
    db.session.commit()
    for s in (first, second):
        assert feed.sync(s.token, DURING)[1]["cv"] > before[s.id]  # the screen refetches
        assert [i["key"] for i in feed.content(s, DURING)["items"]] == [f"work:{text.id}"]
    assert control.state_of(event.id).version > 1


def test_a_withdrawn_work_or_a_photo_taken_back_can_no_longer_be_pinned(
    event,
    screen,
    staff,
    works,
    secretariat,  # noqa: F811
):
    """The console's pin must change what the screens show: a work withdrawn since the
    console's page was opened is refused with the reason, not pinned to no effect."""
    text, photo, _ = works
    screens.add_items(screen, [f"work:{text.id}", f"work:{photo.id}"], actor=staff, now=DURING)
    db.session.commit()
    assert control.command(event, "pin", item=f"work:{photo.id}", actor=staff, now=DURING).pinned == f"work:{photo.id}"
    control.command(event, "unpin", actor=staff, now=DURING)
    publication.withdraw_selected(photo, "作品存在版权争议", actor=secretariat, now=DURING)
    db.session.commit()
    with pytest.raises(RuleError) as e:
        control.command(event, "pin", item=f"work:{photo.id}", actor=staff, now=DURING)
    assert e.value.code == "no_longer_shown" and "不再在大屏上播放" in str(e.value.message)
    assert control.state_of(event.id).pinned is None
    assert control.command(event, "pin", item=f"work:{text.id}", actor=staff, now=DURING).pinned == f"work:{text.id}"


@pytest.mark.parametrize("key", ["work:012", "work:١٢", "work:12\n", "comment:3", "work:"])
def test_an_item_is_named_one_way_only(event, screen, staff, works, key):
    text, _photo, _ = works
    with pytest.raises(RuleError) as e:
        screens.add_items(screen, [f"work:{text.id}", key.replace("12", str(text.id))], actor=staff, now=DURING)
    assert e.value.code == "not_available"
    assert screen.items == []
