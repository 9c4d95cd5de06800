"""The guest's phone, as a guest holds it: 360×640, in a browser or inside WeChat.

What must be on the first screen is measured (bounding boxes within the window), tap
targets are measured, and each state is saved under test-artifacts/ to be looked at."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import Guest
from tests.browser.conftest import shot

pytestmark = pytest.mark.browser

#: WeChat's built-in browser on Android (its user agent as WeChat 8 sends it)
WECHAT = (
    "Mozilla/5.0 (Linux; Android 12; V2049A Build/SP1A.210812.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20221206 MMWEBID/6276 "
    "MicroMessenger/8.0.32.2300(0x2800205D) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"
)


@pytest.fixture
def event(app, live_server, make_user, make_event):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(title="“服务认证进社区”养老服务认证现场体验日", venue_name="康乐中心（望京院区）")
    app.config["FROZEN_NOW"] = event.starts_at - timedelta(minutes=20)
    app.config["PUBLIC_BASE_URL"] = live_server
    return event


def box(page, selector):
    handle = page.locator(selector)
    assert handle.count() == 1, selector
    return handle.bounding_box()


def on_first_screen(page, selector, height=640) -> bool:
    b = box(page, selector)
    return b is not None and b["y"] >= 0 and b["y"] + b["height"] <= height


#: what a guest must see without scrolling, found as a person finds it (by what it says)
FIRST_SCREEN = {
    "who": "main :text('欧阳晓明') >> nth=0",
    "event": "main h1:has-text('养老服务认证现场体验日')",
    "tick": "main label:has(input[type=checkbox])",
    "button": "main button[type=submit]:has-text('签到')",
}


@pytest.mark.parametrize("agent", ["chromium", "wechat"])
def test_who_the_event_and_the_button_fit_the_first_screen(browser, live_server, event, make_guest, agent):
    guest = make_guest(event, name="欧阳晓明", category=GuestCategory.NPC_DEPUTY)
    code = guest.code
    db.session.commit()
    options = dict(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True, locale="zh-CN")
    if agent == "wechat":
        options["user_agent"] = WECHAT
    ctx = browser.new_context(**options)
    try:
        p = ctx.new_page()
        p.goto(f"{live_server}/c/{code}")
        shot(p, f"guest-first-screen-{agent}")
        for what, selector in FIRST_SCREEN.items():
            assert on_first_screen(p, selector), (what, box(p, selector))
        assert p.inner_text(".event-card .guest-name") == "欧阳晓明"
        # the tick sits by the button
        tick, button = box(p, FIRST_SCREEN["tick"]), box(p, FIRST_SCREEN["button"])
        assert tick["height"] >= 44  # the whole row is the tap target, thumb-sized
        assert 0 <= button["y"] - (tick["y"] + tick["height"]) <= 24
        # the full notice is one tap away
        assert not p.locator("details.notice-pi p").first.is_visible()
        p.click("details.notice-pi summary")
        assert p.locator("details.notice-pi p").first.is_visible()
        assert "北京市市场监督管理局" in p.inner_text("details.notice-pi")
        shot(p, f"guest-notice-open-{agent}")
        p.click("details.notice-pi summary")
        # no consent: the reason is at the top, where the eye is, and nobody is checked in
        p.click("form.checkin button.huge")
        p.wait_for_selector(".flash.error")
        assert "同意" in p.inner_text(".flash.error")
        assert on_first_screen(p, ".flash.error", 200)
        shot(p, f"guest-consent-missing-{agent}")
        assert db.session.scalar(sa.select(Guest.checked_in_at).where(Guest.code == code)) is None
        p.check("#consent")
        p.click("form.checkin button.huge")
        p.wait_for_selector(".result-ok")
        # the success screen names the guest, for the desk to see at a glance
        assert p.inner_text(".result-ok .guest-name") == "欧阳晓明"
        assert on_first_screen(p, ".result-ok .guest-name")
        shot(p, f"guest-checked-in-{agent}")
    finally:
        ctx.close()


def test_rating_page_asks_plain_questions_with_a_labelled_scale_and_thumb_sized_targets(
    app, phone, live_server, event, make_guest
):
    from experience.checkin.services import check_in
    from experience.guests.models import CheckInVia

    guest = make_guest(event, name="刘消费者")
    check_in(guest.code, via=CheckInVia.PHONE, now=event.starts_at)
    code = guest.code
    db.session.commit()
    app.config["FROZEN_NOW"] = event.starts_at + timedelta(minutes=5)
    p = phone.new_page()
    p.goto(f"{live_server}/c/{code}/rate")
    shot(p, "rate-plain-questions-phone")
    first = p.locator("fieldset.stars").nth(0)
    # the heading is the plain question; the campaign's term is a small label above it
    question, term = first.locator("legend .question"), first.locator("legend .dimension")
    assert question.inner_text() == "您体验到的服务好不好"
    assert term.inner_text() == "服务感知体验"
    size = "el => parseFloat(getComputedStyle(el).fontSize)"
    assert question.evaluate(size) >= 18
    assert term.evaluate(size) < question.evaluate(size)
    # both ends of the scale say what they mean, on every question
    assert first.locator(".scale").inner_text().split("\n") == ["1 = 很不满意", "5 = 很满意"]
    assert p.locator("fieldset.stars .scale").count() == p.locator("fieldset.stars").count()
    # every tick and choice is at least 44 px tall, for a thumb
    p.click("details.photo summary")
    checks = p.locator("label.check")
    heights = [checks.nth(i).bounding_box()["height"] for i in range(checks.count())]
    assert len(heights) == 4  # three ways to sign, the photo's consent
    assert min(heights) >= 44, heights
    # and the page is shorter than the 1,746 px it was (five questions, nothing chosen yet)
    p.click("details.photo summary")
    height = p.evaluate("document.documentElement.scrollHeight")
    assert height <= 1600, height


@pytest.mark.parametrize("when", ["before", "after"])
def test_outside_the_window_the_phone_says_so_before_any_tap(app, phone, live_server, event, make_guest, when):
    guest = make_guest(event, name="孙丽")
    code = guest.code
    db.session.commit()
    if when == "before":
        app.config["FROZEN_NOW"] = event.checkin_opens_at - timedelta(hours=3)
        expected = "签到尚未开始，将于 2024-09-10 07:00（北京时间）开始。"
    else:
        app.config["FROZEN_NOW"] = event.checkin_closes_at + timedelta(minutes=30)
        expected = "本次活动的签到已于 2024-09-10 12:00（北京时间）结束。"
    p = phone.new_page()
    p.goto(f"{live_server}/c/{code}")
    shot(p, f"guest-window-{when}-phone")
    assert p.inner_text(".window-" + when + " .big") == expected
    assert "签到台" in p.inner_text(".window-" + when)
    assert on_first_screen(p, ".window-" + when)
    assert p.locator("main button").count() == 0  # nothing to tap that could only say no
    p.goto(f"{live_server}/w/{event.walk_in_code}")  # the poster says the same, and shows no form
    assert p.inner_text(".window-" + when + " .big") == expected
    assert p.locator("main form").count() == 0


#: a Chinese character (full-width punctuation included)
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def mixed_lines(text: str) -> list[str]:
    """Lines of English with Chinese inside. A proper name may stand after an English
    label ("Collected by: 北京市市场监督管理局") or on a line of its own; nowhere else."""
    wrong = []
    for line in (raw.strip() for raw in text.split("\n")):
        if not (CJK.search(line) and LATIN_WORD.search(line)):
            continue
        label, colon, value = line.partition(": ")
        if colon and not CJK.search(label) and not LATIN_WORD.search(value):
            continue
        wrong.append(line)
    return wrong


def test_mixed_lines_finds_what_it_should():
    assert mixed_lines("Welcome, 孙丽.\n北京市 market regulation department collects your name")
    assert mixed_lines("Guest 孙丽")
    assert not mixed_lines("Collected by: 北京市市场监督管理局\n孙丽\nCheck in\n2024-09-10 09:00 – 12:00")


def test_in_english_chinese_names_stand_apart(app, phone, live_server, event, make_guest):
    from experience.checkin.services import check_in
    from experience.guests.models import CheckInVia

    waiting = make_guest(event, name="孙丽")
    rated = make_guest(event, name="李娜")
    check_in(rated.code, via=CheckInVia.PHONE, now=event.starts_at - timedelta(minutes=30))
    codes = waiting.code, rated.code
    db.session.commit()
    p = phone.new_page()
    p.goto(f"{live_server}/c/{codes[0]}")
    p.click("header nav.lang a")  # English, for this phone from now on
    p.wait_for_selector("html[lang=en]")
    p.wait_for_load_state()  # the English page is committed: wait for all of it, not its first tag
    for summary in p.locator("details.notice-pi summary").all():
        summary.click()  # the notice opened: its sentences are checked too
    shot(p, "guest-english-phone")
    pages = {"check-in": p.inner_text("main")}
    p.check("#consent")
    p.click("main button[type=submit]")
    p.wait_for_selector(".result-ok")
    p.wait_for_load_state()
    pages["checked in"] = p.inner_text("main")
    p.goto(f"{live_server}/w/{event.walk_in_code}")
    for summary in p.locator("details.notice-pi summary").all():
        summary.click()
    pages["walk-in"] = p.inner_text("main")
    shot(p, "walk-in-english-phone")
    p.goto(f"{live_server}/c/{codes[1]}/rate")
    pages["rating"] = p.inner_text("main")
    shot(p, "rate-english-phone")
    wrong = {name: mixed_lines(text) for name, text in pages.items() if mixed_lines(text)}
    assert wrong == {}
    assert "Collected by: 北京市市场监督管理局" in pages["check-in"].split("\n")


def test_walk_in_on_a_phone_chooses_a_category_and_comes_back_to_its_own_result(phone, live_server, event):
    p = phone.new_page()
    p.goto(f"{live_server}/w/{event.walk_in_code}")
    assert p.input_value("#category") == ""  # nobody is counted as an NPC deputy by default
    p.fill("#name", "路人甲")
    p.check("#consent")
    p.click("main button.huge")
    p.wait_for_selector(".flash.error")
    assert on_first_screen(p, ".flash.error", 200)
    assert "请选择您的身份" in p.inner_text(".field.has-error")
    shot(p, "walk-in-no-category-phone")
    p.select_option("#category", "consumer")
    p.fill("#phone", "139 0000 8888")
    p.check("#consent")
    p.click("main button.huge")
    p.wait_for_selector(".result-ok")
    assert p.inner_text(".result-ok .guest-name") == "路人甲"
    link = p.inner_text(".link-box")
    p.goto(f"{live_server}/w/{event.walk_in_code}")  # the poster again, later
    assert p.inner_text(".result .guest-name") == "路人甲"
    assert p.inner_text(".link-box") == link
    shot(p, "walk-in-again-phone")
    db.session.rollback()  # read what the server wrote
    walk_in = db.session.scalar(sa.select(Guest).where(Guest.walk_in.is_(True)))
    assert walk_in.category is GuestCategory.CONSUMER and link.endswith(walk_in.code)
