"""The check-in desk and its settings page, as staff use them: on a laptop at the desk
(1366×768) and on a phone, with and without JavaScript."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from experience.accounts.models import Role
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import Guest
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.browser


@pytest.fixture
def event(app, live_server, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    app.config["FROZEN_NOW"] = event.starts_at - timedelta(minutes=20)
    app.config["PUBLIC_BASE_URL"] = live_server
    return event


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("size", [(1366, 768), (360, 640)])
def test_poster_address_stands_clear_of_its_link(browser, live_server, event, size):
    width, height = size
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    try:
        page = ctx.new_page()
        login(page, live_server, "bjstaff")
        page.goto(f"{live_server}/events/{event.id}/checkin")
        shot(page, f"checkin-setup-{width}")
        link = page.locator("a[href$='/poster.pdf']").bounding_box()
        address = page.locator("#poster-url")
        assert address.inner_text() == f"{live_server}/w/{event.walk_in_code}"
        box = address.bounding_box()
        assert not overlap(link, box), (link, box)
        card = page.locator("section.card:has(#poster-url)").bounding_box()
        assert box["x"] >= card["x"] and box["x"] + box["width"] <= card["x"] + card["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        ctx.close()


def test_desk_shows_each_guests_note_and_registers_a_walk_in(browser, live_server, event, make_guest):
    make_guest(event, name="张代表", category=GuestCategory.NPC_DEPUTY, level="national", note="腿脚不便，需引导")
    db.session.commit()
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    try:
        page = ctx.new_page()
        login(page, live_server, "bjstaff")
        page.goto(f"{live_server}/events/{event.id}/desk?q=张")
        row = page.locator("ul.found li").first
        assert "人大代表 · 全国" in row.inner_text()
        assert row.locator(".guest-note").is_visible()
        assert row.locator(".guest-note").inner_text() == "备注：腿脚不便，需引导"
        shot(page, "desk-note-desktop")
        # a guest without a smartphone, not on the list
        page.fill("#q", "孙丽")
        page.click("form.search button")
        page.wait_for_url("**q=*")  # the address before had a q= too: wait for the answer itself
        expect(page.locator("ul.found")).to_contain_text("名单中没有")
        assert page.input_value("#walkin-name") == "孙丽"  # the form starts from the search
        assert page.input_value("#walkin-category") == ""
        page.click("#walk-in button[type=submit]")
        page.wait_for_selector("#walk-in .flash.error")
        assert "请选择身份类别" in page.inner_text("#walk-in")
        page.select_option("#walkin-category", "consumer")
        page.check("#walkin-consent")
        page.click("#walk-in button[type=submit]")
        page.wait_for_selector(".flash.success")
        assert page.inner_text(".flash.success") == "孙丽：已现场登记并签到。"
        found = page.locator("ul.found li").first
        assert "现场登记" in found.inner_text() and "已签到" in found.inner_text()
        shot(page, "desk-walk-in-registered-desktop")
        assert page.inner_text("#counts tr.total .walk_ins") == "1"
    finally:
        ctx.close()
    db.session.rollback()
    guest = db.session.scalar(sa.select(Guest).where(Guest.name == "孙丽"))
    assert guest.walk_in and guest.checked_in_at is not None and guest.category is GuestCategory.CONSUMER


def test_undo_at_the_desk_asks_first_without_javascript(browser, live_server, event, make_guest):
    guest = make_guest(event, name="李娜", phone="13933334444")
    guest_id = guest.id
    db.session.commit()
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", java_script_enabled=False)
    try:
        page = ctx.new_page()
        login(page, live_server, "bjstaff")
        page.goto(f"{live_server}/events/{event.id}/desk?q=4444")
        page.click("ul.found li form:has-text('签到') button")
        page.wait_for_selector(".flash.success")
        assert page.inner_text(".flash.success") == "李娜：签到成功"
        page.click("ul.found li form:has-text('撤销') button")
        page.wait_for_selector("form.confirm")
        assert page.inner_text("form.confirm h1") == "撤销 李娜 的签到？"
        shot(page, "desk-undo-confirm-desktop")
        db.session.rollback()
        assert db.session.get(Guest, guest_id).checked_in_at is not None  # asking changed nothing
        page.click("form.confirm button[type=submit]")
        page.wait_for_selector(".flash.success")
        assert page.inner_text(".flash.success") == "已撤销 李娜 的签到。"
        assert page.input_value("#q") == "4444"  # back to the same search
        shot(page, "desk-undone-desktop")
    finally:
        ctx.close()
    db.session.rollback()
    assert db.session.get(Guest, guest_id).checked_in_at is None
