"""The organiser's console: who reaches it, commands as a form and through fetch, the
screens' status, a screen's link, scenes and playlist, and refusals in Chinese."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.displays import feed, screens
from experience.displays.models import DisplayState, Screen, ScreenItem
from experience.events.services import assign_organizers, cancel_event
from experience.extensions import db
from experience.works.models import WorkCategory
from tests.conftest import PASSWORD, field_errors
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


@pytest.fixture(autouse=True)
def during_the_event(app):
    """The views read the clock: the event is on (links work, screens can be alive).
    CSRF is checked here as in production: the console's forms and fetches carry it."""
    app.config["FROZEN_NOW"] = DURING
    app.config["WTF_CSRF_ENABLED"] = True


@pytest.fixture
def people(make_user, event, staff):
    organizer = make_user(Role.ORGANIZER, "11", username="bj-organizer")
    assign_organizers(event, [organizer.id], actor=staff, now=DURING)
    db.session.commit()
    return {
        "province": staff,
        "organizer": organizer,
        "province_other": make_user(Role.PROVINCE, "31", username="sh-staff"),
        "organizer_unassigned": make_user(Role.ORGANIZER, "11", username="bj-organizer-2"),
        "hq": make_user(Role.HQ, None, username="hq-user"),
    }


def login(client, user):
    """Log in (the login form's own CSRF is not what these tests are about)."""
    config = client.application.config
    checked, config["WTF_CSRF_ENABLED"] = config["WTF_CSRF_ENABLED"], False
    client.post("/logout")
    assert client.post("/login", data={"username": user.username, "password": PASSWORD}).status_code == 302
    config["WTF_CSRF_ENABLED"] = checked


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def state(event) -> DisplayState:
    db.session.expire_all()
    return db.session.get(DisplayState, event.id)


def routes(event, screen):
    base = f"/events/{event.id}/screens"
    return [
        ("GET", base, None),
        ("GET", f"{base}/status", None),
        ("GET", f"{base}/{screen.id}", None),
        ("POST", f"{base}/command", {"name": "blank"}),
        ("POST", base, {"name": "签到处"}),
        ("POST", f"{base}/{screen.id}", {"action": "rename", "name": "新名字"}),
    ]


@pytest.mark.parametrize("role", ["province", "organizer"])
def test_the_events_staff_and_its_organiser_reach_every_console_route(app, client, people, event, screen, role):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, people[role])
    for method, url, data in routes(event, screen):
        response = client.open(url, method=method, data=data)
        assert response.status_code == (200 if method == "GET" else 302), (method, url)


@pytest.mark.parametrize("role", ["province_other", "organizer_unassigned", "hq"])
def test_others_get_404_and_the_refusal_is_audited(app, client, people, event, screen, role):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, people[role])
    for method, url, data in routes(event, screen):
        assert client.open(url, method=method, data=data).status_code == 404, (method, url)
    refusals = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "access.denied", AuditEntry.actor_id == people[role].id)
    ).all()
    assert refusals
    assert state(event).blank is False
    assert [s.name for s in screens.screens_of(event)] == ["主屏"]


def test_anonymous_is_sent_to_log_in(client, event, screen):
    response = client.get(f"/events/{event.id}/screens")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_event_page_links_to_the_console_only_for_who_runs_it(client, people, event):
    login(client, people["province"])
    assert f"/events/{event.id}/screens" in client.get(f"/events/{event.id}").get_data(as_text=True)
    login(client, people["hq"])
    page = client.get(f"/events/{event.id}")
    assert page.status_code == 200
    assert f"/events/{event.id}/screens" not in page.get_data(as_text=True)


def test_blank_as_a_plain_form_changes_the_state_and_says_so(client, people, event, screen):
    login(client, people["organizer"])
    page = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    assert "主屏" in page
    response = client.post(
        f"/events/{event.id}/screens/command",
        data={"csrf_token": csrf(page), "name": "blank"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "每块大屏只显示带活动名称的安全画面" in response.get_data(as_text=True)
    assert state(event).blank is True
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "display.blank")).one()
    assert entry.actor_id == people["organizer"].id


def test_a_command_without_the_csrf_token_is_refused(client, people, event, screen):
    login(client, people["province"])
    response = client.post(f"/events/{event.id}/screens/command", data={"name": "blank"})
    assert response.status_code == 400
    assert state(event).blank is False


def test_commands_through_fetch_answer_the_new_panel_as_json(client, people, event, screen):
    login(client, people["province"])
    token = csrf(client.get(f"/events/{event.id}/screens").get_data(as_text=True))
    headers = {"Accept": "application/json", "X-CSRFToken": token}
    url = f"/events/{event.id}/screens/command"
    answer = client.post(url, data={"name": "blank"}, headers=headers)
    assert answer.status_code == 200
    assert answer.json["ok"] is True
    assert answer.json["state"]["blank"] is True
    assert state(event).blank is True
    answer = client.post(url, data={"name": "hide", "item": "comment:5"}, headers=headers).json
    assert answer["state"]["hidden"][0]["key"] == "comment:5"
    assert state(event).hidden == ["comment:5"]
    answer = client.post(url, data={"name": "goto", "scene": "works"}, headers=headers).json
    assert answer["message"] == "大屏转到画面：作品。"
    assert state(event).goto_scene == "works"
    answer = client.post(url, data={"name": "unblank"}, headers=headers).json
    assert answer["state"]["blank"] is False


def test_a_goto_says_which_screens_have_the_scene_off(client, people, event, screen, make_screen):
    side = make_screen(event, "签到处")
    side.scenes = {**side.scenes, "checkin": {"on": False, "seconds": 15}}
    db.session.commit()
    login(client, people["province"])
    token = csrf(client.get(f"/events/{event.id}/screens").get_data(as_text=True))
    headers = {"Accept": "application/json", "X-CSRFToken": token}
    url = f"/events/{event.id}/screens/command"
    answer = client.post(url, data={"name": "goto", "scene": "checkin"}, headers=headers).json
    assert answer["message"] == "大屏转到画面：实时签到。大屏“签到处”未开启该画面，将保持原样。"
    answer = client.post(url, data={"name": "goto", "scene": "works"}, headers=headers).json
    assert answer["message"] == "大屏转到画面：作品。"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "explode"}, "这不是大屏可执行的操作。"),
        ({"name": "goto", "scene": "karaoke"}, "没有这个画面。"),
        ({"name": "hide", "item": "guest:1"}, "本活动的大屏上没有该内容。"),
    ],
)
def test_a_bad_command_is_refused_in_chinese_and_changes_nothing(client, people, event, screen, data, message):
    login(client, people["province"])
    page = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    before = state(event).version
    answer = client.post(
        f"/events/{event.id}/screens/command",
        data=data,
        headers={"Accept": "application/json", "X-CSRFToken": csrf(page)},
    )
    assert answer.status_code == 400
    assert answer.json["message"] == message
    assert state(event).version == before
    response = client.post(
        f"/events/{event.id}/screens/command", data={**data, "csrf_token": csrf(page)}, follow_redirects=True
    )
    assert message in response.get_data(as_text=True)
    assert state(event).version == before


def test_status_shows_each_screen_alive_or_not_with_what_it_shows(client, people, event, make_screen, works):
    text, _photo, _refused = works
    main, side = make_screen(event, "主屏"), make_screen(event, "签到处")
    screens.add_items(main, [f"work:{text.id}"], actor=people["province"], now=DURING)
    db.session.commit()
    cv = state(event).content_version
    feed.sync(main.token, DURING - timedelta(seconds=5), shown=f"works/work:{text.id}", shown_version=cv)
    db.session.commit()  # each poll is a request of its own
    feed.sync(side.token, DURING - timedelta(minutes=2), shown="checkin", shown_version=cv - 1)
    db.session.commit()
    login(client, people["organizer"])
    answer = client.get(f"/events/{event.id}/screens/status").json
    by_name = {s["name"]: s for s in answer["screens"]}
    assert by_name["主屏"]["alive"] is True
    assert by_name["主屏"]["seen_at"] == "2024-09-14 09:59:55"  # Beijing time
    assert by_name["主屏"]["shown_words"] == "作品 · 作品：社区食堂的认证之路"
    assert by_name["主屏"]["version"] == "current"
    assert by_name["签到处"]["alive"] is False
    assert by_name["签到处"]["shown_words"] == "实时签到"
    assert by_name["签到处"]["version"] == "behind"
    assert answer["state"]["blank"] is False
    page = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    assert "无响应" in page
    assert "落后" in page


def test_adding_a_screen_takes_a_name_and_refuses_an_empty_one(client, people, event):
    login(client, people["province"])
    page = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    response = client.post(f"/events/{event.id}/screens", data={"csrf_token": csrf(page), "name": "  "})
    assert response.status_code == 422
    assert field_errors(response.get_data(as_text=True))["name"] == ["请为大屏命名，如“主屏”或“签到处”。"]
    assert screens.screens_of(event) == []
    response = client.post(f"/events/{event.id}/screens", data={"csrf_token": csrf(page), "name": "主屏"})
    made = db.session.scalars(sa.select(Screen).where(Screen.event_id == event.id)).one()
    assert response.headers["Location"].endswith(f"/events/{event.id}/screens/{made.id}")


def test_a_past_event_s_console_says_why_no_screen_can_be_added(app, client, people, event, screen):
    app.config["FROZEN_NOW"] = screens.link_expires_at(event) + timedelta(minutes=1)
    login(client, people["province"])
    old = client.get(f"/events/{event.id}/screens/{screen.id}").get_data(as_text=True)
    assert "此链接已失效：活动结束已超过 12 小时" in old and "已取消" not in old
    page = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    assert "活动结束已超过 12 小时" in page and f'action="/events/{event.id}/screens"' not in page  # no form
    response = client.post(f"/events/{event.id}/screens", data={"csrf_token": csrf(page), "name": "主屏"})
    assert response.status_code == 422 and "活动结束已超过 12 小时" in response.get_data(as_text=True)
    assert screens.screens_of(event) == [screen]  # none added


def test_a_cancelled_event_s_screen_page_names_the_cancellation_not_a_time(client, people, event, screen):
    cancel_event(event, "天气原因", actor=people["province"], now=DURING)
    db.session.commit()
    login(client, people["province"])
    page = client.get(f"/events/{event.id}/screens/{screen.id}").get_data(as_text=True)
    assert "此链接已失效：活动已取消。" in page and "12 小时" not in page
    console = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    assert "活动已取消，大屏不会显示任何内容" in console


def test_a_screen_link_on_a_loopback_address_warns_of_the_venue_s_pc_not_guests_phones(
    app, client, people, event, screen
):
    login(client, people["organizer"])
    page = client.get(f"/events/{event.id}/screens/{screen.id}").get_data(as_text=True)
    assert "只有本机能打开" not in page  # the tests' address reaches the venue
    app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:8000"
    page = client.get(f"/events/{event.id}/screens/{screen.id}").get_data(as_text=True)
    assert "会场的电脑或电视无法访问" in page and "嘉宾的手机" not in page


def test_a_screen_of_another_event_is_not_found_through_this_one(client, people, event, make_event, make_screen):
    other = make_screen(
        make_event("11", actor=people["province"], title="另一场", starts_at=event.starts_at, ends_at=event.ends_at),
        "别处",
    )
    login(client, people["province"])
    assert client.get(f"/events/{event.id}/screens/{other.id}").status_code == 404


def test_the_screen_page_shows_its_absolute_link_with_a_qr_code(client, people, event, screen):
    login(client, people["organizer"])
    page = client.get(f"/events/{event.id}/screens/{screen.id}").get_data(as_text=True)
    assert f'value="http://testserver/s/{screen.token}"' in page
    assert "<svg" in page


def test_a_new_link_asks_first_then_replaces_the_token(client, people, event, screen):
    login(client, people["province"])
    url = f"/events/{event.id}/screens/{screen.id}"
    token = csrf(client.get(url).get_data(as_text=True))
    old = screen.token
    asked = client.post(url, data={"csrf_token": token, "action": "new_link"})
    assert asked.status_code == 200
    assert "旧链接" in asked.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Screen, screen.id).token == old
    client.post(url, data={"csrf_token": token, "action": "new_link", "confirmed": "1"})
    db.session.expire_all()
    assert db.session.get(Screen, screen.id).token != old


def test_a_revoked_screen_is_shown_revoked_and_read_only(client, people, event, screen):
    login(client, people["province"])
    url = f"/events/{event.id}/screens/{screen.id}"
    token = csrf(client.get(url).get_data(as_text=True))
    client.post(url, data={"csrf_token": token, "action": "revoke", "confirmed": "1"})
    db.session.expire_all()
    assert db.session.get(Screen, screen.id).revoked_at == DURING
    page = client.get(url).get_data(as_text=True)
    assert "不再显示本活动的任何内容" in page
    assert screen.token not in page
    assert 'value="rename"' not in page
    response = client.post(url, data={"csrf_token": token, "action": "rename", "name": "新名字"}, follow_redirects=True)
    assert "该大屏链接已停用，请新建大屏。" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Screen, screen.id).name == "主屏"


def test_revoked_screens_are_folded_under_the_screens_in_use(client, people, event, screen, make_screen, staff):
    """The console is read on a phone in the room: the screens listed are those in use;
    a revoked one stays as a record, one tap away, never as a second "签到处"."""
    side = make_screen(event, "签到处")
    replaced = make_screen(event, "签到处（旧）")
    screens.revoke_screen(replaced, actor=staff, now=DURING)
    db.session.commit()
    login(client, people["province"])
    page = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    in_use = page.split('id="screens"', 1)[1].split('class="console-revoked"', 1)[0]
    assert f'data-screen-id="{screen.id}"' in in_use and f'data-screen-id="{side.id}"' in in_use
    assert "签到处（旧）" not in in_use
    folded = page.split('class="console-revoked"', 1)[1].split("</details>", 1)[0]
    assert "已停用的大屏（1 个）" in folded and "签到处（旧）" in folded and "链接已停用" in folded
    assert f"/events/{event.id}/screens/{replaced.id}" in folded  # its record, read-only, one tap away

    for s in (screen, side):
        screens.revoke_screen(s, actor=staff, now=DURING)
    db.session.commit()
    page = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    assert 'id="screens"' not in page and "没有在用的大屏" in page and "已停用的大屏（3 个）" in page


def test_rename_refuses_an_empty_name_next_to_the_field(client, people, event, screen):
    login(client, people["province"])
    url = f"/events/{event.id}/screens/{screen.id}"
    token = csrf(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "action": "rename", "name": ""})
    assert response.status_code == 422
    assert field_errors(response.get_data(as_text=True))["name"] == ["请为大屏命名，如“主屏”或“签到处”。"]
    client.post(url, data={"csrf_token": token, "action": "rename", "name": "签到处"})
    db.session.expire_all()
    assert db.session.get(Screen, screen.id).name == "签到处"


def _scenes(token, **changes):
    data = {"csrf_token": token, "action": "scenes"}
    for scene, seconds in {"welcome": 15, "checkin": 15, "works": 12, "comments": 20, "ratings": 15}.items():
        data[f"on-{scene}"] = "y"
        data[f"seconds-{scene}"] = str(seconds)
    data.update(changes)
    return data


@pytest.mark.parametrize("seconds", ["4", "601", "十", ""])
def test_scene_seconds_out_of_range_are_refused_in_chinese(client, people, event, screen, seconds):
    login(client, people["province"])
    url = f"/events/{event.id}/screens/{screen.id}"
    token = csrf(client.get(url).get_data(as_text=True))
    before = dict(screen.scenes)
    response = client.post(url, data=_scenes(token, **{"seconds-works": seconds}))
    assert response.status_code == 422
    assert "每个画面停留 5 至 600 秒。" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Screen, screen.id).scenes == before


def test_scenes_are_switched_off_and_timed(client, people, event, screen):
    login(client, people["province"])
    url = f"/events/{event.id}/screens/{screen.id}"
    token = csrf(client.get(url).get_data(as_text=True))
    data = _scenes(token, **{"seconds-works": "30", "seconds-ratings": "２５"})  # as a Chinese IME types it
    del data["on-comments"]
    assert client.post(url, data=data).status_code == 302
    db.session.expire_all()
    scenes = db.session.get(Screen, screen.id).scenes
    assert scenes["works"] == {"on": True, "seconds": 30}
    assert scenes["ratings"] == {"on": True, "seconds": 25}
    assert scenes["comments"]["on"] is False


@pytest.fixture
def works(submitted_work, select, publish):  # noqa: F811
    text = submitted_work(category=WorkCategory.TEXT, title="社区食堂的认证之路")
    photo = submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心")
    refused = submitted_work(category=WorkCategory.TEXT, title="未入选的作品")
    select([text, photo], others=[refused])
    publish()
    return text, photo, refused


def playlist(screen) -> list[str]:
    db.session.expire_all()
    return [i.key for i in db.session.get(Screen, screen.id).items]


def test_the_playlist_is_filled_reordered_and_emptied(client, people, event, screen, works):
    text, photo, refused = works
    login(client, people["organizer"])
    url = f"/events/{event.id}/screens/{screen.id}"
    page = client.get(url).get_data(as_text=True)
    assert "社区食堂的认证之路" in page
    assert "未入选的作品" not in page
    token = csrf(page)
    client.post(url, data={"csrf_token": token, "action": "add", "item": [f"work:{text.id}", f"work:{photo.id}"]})
    assert playlist(screen) == [f"work:{text.id}", f"work:{photo.id}"]
    second = db.session.scalars(sa.select(ScreenItem).where(ScreenItem.work_id == photo.id)).one()
    client.post(url, data={"csrf_token": token, "action": "up", "item_id": str(second.id)})
    assert playlist(screen) == [f"work:{photo.id}", f"work:{text.id}"]
    client.post(url, data={"csrf_token": token, "action": "remove", "item_id": str(second.id)})
    assert playlist(screen) == [f"work:{text.id}"]
    response = client.post(
        url, data={"csrf_token": token, "action": "add", "item": [f"work:{refused.id}"]}, follow_redirects=True
    )
    assert "该内容不能上屏" in response.get_data(as_text=True)
    assert playlist(screen) == [f"work:{text.id}"]


@pytest.mark.parametrize("key", ["work:999999", "photo:1", "comment:1", "nonsense"])
def test_an_unavailable_item_is_refused_and_nothing_is_added(client, people, event, screen, key):
    login(client, people["province"])
    url = f"/events/{event.id}/screens/{screen.id}"
    token = csrf(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "action": "add", "item": [key]}, follow_redirects=True)
    assert response.status_code == 200
    assert "该内容不能上屏" in response.get_data(as_text=True)
    assert playlist(screen) == []


def test_pin_and_hide_from_the_screen_page_return_to_it(client, people, event, screen, works):
    text, _photo, _ = works
    screens.add_items(screen, [f"work:{text.id}"], actor=people["province"], now=DURING)
    db.session.commit()
    login(client, people["province"])
    url = f"/events/{event.id}/screens/{screen.id}"
    token = csrf(client.get(url).get_data(as_text=True))
    data = {"csrf_token": token, "name": "pin", "item": f"work:{text.id}", "screen": str(screen.id)}
    response = client.post(f"/events/{event.id}/screens/command", data=data)
    assert response.headers["Location"].endswith(url)
    assert state(event).pinned == f"work:{text.id}"
    client.post(f"/events/{event.id}/screens/command", data={**data, "name": "hide"})
    assert state(event).hidden == [f"work:{text.id}"]
    assert state(event).pinned is None
    console = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    assert "作品：社区食堂的认证之路" in console  # in the hidden list, with "show again"


def test_approved_comments_can_be_hidden_from_the_console(client, people, event, screen, rate):
    rating = rate(event, comment="讲解很清楚，服务周到")
    rate(event, comment="还没审核的评论", approved=False)
    login(client, people["province"])
    page = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    assert "讲解很清楚，服务周到" in page
    assert "还没审核的评论" not in page
    client.post(
        f"/events/{event.id}/screens/command",
        data={"csrf_token": csrf(page), "name": "hide", "item": f"comment:{rating.id}"},
    )
    assert state(event).hidden == [f"comment:{rating.id}"]
    assert all(c["key"] != f"comment:{rating.id}" for c in feed.live(screen)["comments"])


def test_status_marks_screens_without_offline_cache_or_with_media_they_cannot_play(
    client, people, event, make_screen, works
):
    text, photo, _refused = works
    tv, main, side = make_screen(event, "电视"), make_screen(event, "主屏"), make_screen(event, "签到处")
    screens.add_items(main, [f"work:{text.id}", f"work:{photo.id}"], actor=people["province"], now=DURING)
    db.session.commit()
    cv = state(event).content_version
    for screen, cache, bad in ((tv, "none", ""), (main, "5/7", f"work:{photo.id}"), (side, "7/7", "")):
        feed.poll(db.session, screen.token, DURING, shown="welcome", shown_version=cv, cache=cache, bad=bad)
        db.session.commit()
    login(client, people["organizer"])
    by_name = {s["name"]: s for s in client.get(f"/events/{event.id}/screens/status").json["screens"]}
    assert (by_name["电视"]["cache_words"], by_name["电视"]["cache_short"]) == ("无离线缓存", True)
    assert (by_name["主屏"]["cache_words"], by_name["主屏"]["cache_short"]) == ("离线缓存 5/7", True)
    assert (by_name["签到处"]["cache_words"], by_name["签到处"]["cache_short"]) == ("离线缓存 7/7", False)
    assert [b["words"] for b in by_name["主屏"]["bad"]] == ["无法播放：认证让养老更安心"]
    assert by_name["签到处"]["bad"] == [] and by_name["电视"]["bad"] == []
    page = client.get(f"/events/{event.id}/screens").get_data(as_text=True)
    assert "无离线缓存" in page and "离线缓存 5/7" in page and "无法播放：认证让养老更安心" in page

    # the playlist changes: the report was about the old one, and is no longer shown
    screens.remove_item(main, main.items[0].id, actor=people["province"], now=DURING)
    db.session.commit()
    by_name = {s["name"]: s for s in client.get(f"/events/{event.id}/screens/status").json["screens"]}
    assert by_name["主屏"]["bad"] == []
    assert "无法播放" not in client.get(f"/events/{event.id}/screens").get_data(as_text=True)


def test_a_screen_that_never_said_how_it_caches_shows_no_mark(client, people, event, screen):
    login(client, people["organizer"])
    (answer,) = client.get(f"/events/{event.id}/screens/status").json["screens"]
    assert answer["cache_words"] == "" and answer["cache_short"] is False and answer["bad"] == []
    assert "无离线缓存" not in client.get(f"/events/{event.id}/screens").get_data(as_text=True)
