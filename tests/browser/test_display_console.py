"""The organiser's console on a phone (360×640): blank takes effect without a reload,
a screen's heartbeat shows within the console's refresh, the screen page fits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from experience.displays import feed, screens
from experience.displays.models import DisplayState
from experience.extensions import db
from experience.works.models import WorkCategory
from tests.browser.conftest import ARTIFACTS, login
from tests.conftest import PASSWORD, wait_for
from tests.displays.conftest import DURING, event, make_screen, rate, staff  # noqa: F401 (fixtures)
from tests.platform.conftest import (  # noqa: F401 (fixtures)
    after_the_deadline,
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


def shot(page, name: str) -> None:
    folder = ARTIFACTS / "displays"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"console-{name}.png"), full_page=True)


@pytest.fixture
def venue(app, event, make_screen, staff, rate, submitted_work, select, publish):  # noqa: F811
    """An event during its morning: two screens (one heard from, one silent), two works
    in the playlist, an approved comment."""
    app.config["FROZEN_NOW"] = DURING
    text = submitted_work(category=WorkCategory.TEXT, title="社区食堂的认证之路")
    photo = submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心")
    select([text, photo])
    publish()
    main, side = make_screen(event, "主屏"), make_screen(event, "签到处")
    screens.add_items(main, [f"work:{text.id}", f"work:{photo.id}"], actor=staff, now=DURING)
    rate(event, comment="讲解很清楚，服务周到")
    db.session.commit()
    cv = db.session.get(DisplayState, event.id).content_version
    feed.sync(main.token, DURING - timedelta(seconds=3), shown=f"works/work:{text.id}", shown_version=cv)
    db.session.commit()
    return main, side


def blank(event_id: int) -> bool:
    db.session.rollback()  # a fresh read: the live server's commit is in another connection
    state = db.session.get(DisplayState, event_id)
    return bool(state and state.blank)


def test_blank_on_the_phone_takes_effect_without_a_reload(live_server, phone, event, staff, venue):  # noqa: F811
    main, side = venue
    page = phone.new_page()
    login(page, live_server, staff.username)
    page.goto(f"{live_server}/events/{event.id}/screens")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    button = page.get_by_role("button", name="所有大屏黑屏")
    box = button.bounding_box()
    assert box["height"] >= 56
    assert box["width"] >= 300  # a thumb finds it
    screen_names = page.locator("#screens li").all_inner_texts()
    assert "在线" in screen_names[0]
    assert "作品 · 作品：社区食堂的认证之路" in screen_names[0]
    assert "内容最新" in screen_names[0]
    assert "无响应" in screen_names[1]
    shot(page, "phone")

    page.evaluate("window.notReloaded = true")
    button.click()
    page.wait_for_selector("#state-blank", state="visible", timeout=3000)
    assert wait_for(lambda: blank(event.id), timeout=3)
    assert page.evaluate("window.notReloaded") is True
    # a 3-second refresh may cross the command's answer: the console settles on the blank
    expect(page.get_by_role("button", name="结束黑屏，显示内容")).to_be_visible()
    expect(button).to_be_hidden()
    expect(page.locator("#command-message")).to_contain_text("已黑屏")
    shot(page, "blank")

    # the silent screen speaks: the console shows it alive within its 3-second refresh
    feed.sync(side.token, DURING, shown="checkin", shown_version=1)
    db.session.commit()
    expect(page.locator("#screens li:nth-child(2) .js-alive")).to_have_text("在线", timeout=5000)
    assert page.inner_text("#screens li:nth-child(2) .js-shown") == "实时签到"

    page.get_by_role("button", name="结束黑屏，显示内容").click()
    page.wait_for_selector("#state-live", state="visible", timeout=3000)
    assert wait_for(lambda: not blank(event.id), timeout=3)
    assert page.evaluate("window.notReloaded") is True


def test_the_screen_page_on_the_phone(live_server, phone, event, staff, venue):  # noqa: F811
    main, _side = venue
    page = phone.new_page()
    login(page, live_server, staff.username)
    page.goto(f"{live_server}/events/{event.id}/screens/{main.id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.input_value(".console-link").endswith(f"/s/{main.token}")
    assert page.locator(".console-qr svg").bounding_box()["width"] >= 150
    assert page.locator("#playlist ol li").count() == 2
    shot(page, "screen")
    # hide the first item from the phone: the page stays, the state changes
    page.evaluate("window.notReloaded = true")
    first = page.locator("#playlist ol li").first
    first.get_by_role("button", name="立即隐藏").click()
    expect(page.locator("#command-message")).to_contain_text("已在所有大屏上隐藏", timeout=3000)
    expect(first.get_by_role("button", name="恢复显示")).to_be_visible()
    expect(first.get_by_role("button", name="立即隐藏")).to_be_hidden()
    expect(first.locator("[data-hidden-badge]")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    db.session.rollback()
    assert db.session.get(DisplayState, event.id).hidden == [main.items[0].key]


def test_a_comment_hidden_from_the_console_is_listed_and_shown_again_without_a_reload(
    live_server,
    phone,
    event,  # noqa: F811
    staff,  # noqa: F811
    venue,
):
    """Hiding a comment from the console's own page: the command is confirmed, the
    comment is listed under "hidden on every screen", the screens' states keep refreshing,
    and "show again" in that list brings it back (a copy of the list's template had no
    item field, and every refresh then failed)."""
    page = phone.new_page()
    login(page, live_server, staff.username)
    page.goto(f"{live_server}/events/{event.id}/screens")
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="立即隐藏").click()
    expect(page.locator("#command-message")).to_contain_text("已在所有大屏上隐藏", timeout=3000)
    assert "console-message ok" in page.get_attribute("#command-message", "class")
    hidden = page.locator("#state-hidden")
    expect(hidden).to_contain_text("讲解很清楚", timeout=3000)
    # the silent screen speaks: a refresh after the hide still reaches the screens' states
    feed.sync(venue[1].token, DURING, shown="checkin", shown_version=1)
    db.session.commit()
    expect(page.locator("#screens li:nth-child(2) .js-alive")).to_have_text("在线", timeout=5000)
    assert page.locator("#screens-offline").is_hidden()
    expect(hidden).to_contain_text("讲解很清楚")  # refreshed, still listed
    shot(page, "hidden")
    hidden.get_by_role("button", name="恢复显示").click()
    expect(hidden).to_be_hidden(timeout=3000)
    assert page.evaluate("window.notReloaded") is True
    db.session.rollback()
    assert db.session.get(DisplayState, event.id).hidden == []


def test_a_console_whose_login_ended_says_so_and_offers_the_login(live_server, phone, event, staff, venue):  # noqa: F811
    """A logout in another tab (or 30 idle minutes with the phone locked): a command, and
    the refresh, say the login ended and link to the login form, not "no answer from the
    server" at the moment a blank is needed."""
    page = phone.new_page()
    login(page, live_server, staff.username)
    page.goto(f"{live_server}/events/{event.id}/screens")
    other = phone.new_page()  # the same browser: the same session cookie
    other.goto(f"{live_server}/events")
    other.get_by_role("button", name="退出登录").click()
    other.wait_for_url("**/login**")
    page.get_by_role("button", name="所有大屏黑屏").click()
    said = page.locator("#command-message")
    expect(said).to_contain_text("登录已失效", timeout=5000)
    link = said.get_by_role("link", name="重新登录")
    assert link.get_attribute("href") == f"/login?next=%2Fevents%2F{event.id}%2Fscreens"
    assert not blank(event.id)
    shot(page, "logged-out")
    link.click()  # and back to the console after the login
    page.fill("#username", staff.username)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(f"{live_server}/events/{event.id}/screens")
    page.get_by_role("button", name="所有大屏黑屏").click()
    expect(page.locator("#command-message")).to_contain_text("已黑屏", timeout=3000)
    assert wait_for(lambda: blank(event.id), timeout=3)


def test_a_comment_with_a_long_url_wraps_and_its_buttons_are_big_enough_to_tap(
    live_server,
    phone,
    event,  # noqa: F811
    staff,  # noqa: F811
    venue,
    rate,  # noqa: F811
):
    rate(event, comment="详见 https://example.com/" + "a" * 300)
    page = phone.new_page()
    login(page, live_server, staff.username)
    page.goto(f"{live_server}/events/{event.id}/screens")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    for button in page.locator(".console-list button:visible").all():
        assert button.bounding_box()["height"] >= 44
    assert page.locator(".console-screen-name").first.bounding_box()["height"] >= 44
    shot(page, "long-comment")


def test_a_revoked_screen_is_folded_away_one_tap_from_its_record(live_server, phone, event, staff, venue):  # noqa: F811
    main, side = venue
    screens.revoke_screen(side, actor=staff, now=DURING)
    db.session.commit()
    page = phone.new_page()
    login(page, live_server, staff.username)
    page.goto(f"{live_server}/events/{event.id}/screens")
    expect(page.locator("#screens > li")).to_have_count(1)  # the screens in the room
    folded = page.locator("details.console-revoked")
    expect(folded.locator("summary")).to_have_text("已停用的大屏（1 个）")
    assert folded.locator("summary").bounding_box()["height"] >= 44  # a thumb opens it
    expect(folded.get_by_role("link", name="签到处")).to_be_hidden()
    folded.locator("summary").click()
    record = folded.get_by_role("link", name="签到处")
    expect(record).to_be_visible()
    assert record.bounding_box()["height"] >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "revoked-folded")
    record.click()
    expect(page.locator("main")).to_contain_text("不再显示本活动的任何内容")
