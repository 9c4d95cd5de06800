"""Province staff on the event pages, in Chromium: what the form asks for before anyone
submits it, the event's state, the print materials, and cancelling (apart from editing,
asked once more). Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from experience.accounts.models import Role
from experience.events.models import Event, EventStatus, GuestCategory
from experience.extensions import db
from experience.guests.models import Guest
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.browser

#: the labels of the fields the new-event form requires, as a person reads them
REQUIRED_LABELS = {
    "活动名称",
    "体验的认证服务项目",
    "获证组织",
    "证书编号",
    "认证机构",
    "服务行业",
    "活动地点",
    "城市",
    "详细地址",
    "开始时间（北京时间）",
    "结束时间（北京时间）",
    "联系人",
    "联系电话",
}


@pytest.fixture
def staff_event(app, live_server, make_user, make_event, make_guest):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", organisation="北京市市场监督管理局")
    event = make_event(actor=staff, city="北京市", address="北京市朝阳区望京街1号")
    guest = make_guest(event, name="张三", category=GuestCategory.NPC_DEPUTY, level="city")
    app.config["FROZEN_NOW"] = event.starts_at - timedelta(days=2)
    return event, guest


def test_the_new_event_form_marks_what_it_requires_and_answers_every_field_at_once(live_server, desktop, staff_event):
    page = desktop.new_page()
    login(page, live_server, "bjstaff")
    page.goto(f"{live_server}/events/new")
    assert page.locator(".required-note").inner_text() == "* 为必填项。"
    marked = page.locator("label:has(.required-mark)")
    labels = {t.rstrip("*").strip() for t in marked.all_inner_texts()}
    assert labels == REQUIRED_LABELS
    # the mark is red and sits after the label, before anything is typed
    color = page.locator("label[for=title] .required-mark").evaluate("e => getComputedStyle(e).color")
    assert color == "rgb(183, 28, 28)"
    assert page.locator("label[for=highlights] .required-mark").count() == 0
    shot(page, "event-form-required-desktop")

    page.click("#submit")  # empty: novalidate lets the server answer, in Chinese, every field at once
    # the answer has the same address as the form: wait for its errors, not for a load
    expect(page.locator(".field.has-error")).to_have_count(len(REQUIRED_LABELS))
    assert page.url == f"{live_server}/events/new"
    summary = page.locator("ul.error-summary a")
    assert {t for t in summary.all_inner_texts()} == REQUIRED_LABELS
    summary.filter(has_text="联系电话").click()  # the summary leads to the field
    expect(page).to_have_url(f"{live_server}/events/new#contact_phone")
    assert page.locator("#contact_phone").get_attribute("aria-invalid") == "true"
    shot(page, "event-form-errors-desktop")
    assert db.session.query(Event).count() == 1  # only the fixture's


def test_the_event_page_shows_its_state_the_print_materials_and_cancelling_apart(app, live_server, phone, staff_event):
    event, _ = staff_event
    page = phone.new_page()
    login(page, live_server, "bjstaff")
    page.goto(f"{live_server}/events/{event.id}")
    assert page.locator("#event-state").inner_text() == "未开始"
    assert "康乐中心，北京市朝阳区望京街1号" in page.inner_text("dl.facts")
    materials = page.locator("#print-materials")
    assert materials.locator("h2").inner_text() == "打印材料"
    assert materials.locator("a").count() == 4
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # 取消活动 is not beside 编辑: a red-bordered box of its own, the page's last, well below
    edit = page.locator("a.button", has_text="编辑")
    zone = page.locator("#danger-zone")
    assert zone.locator("[type=submit]").get_attribute("value") == "取消此活动…"
    assert edit.locator("xpath=ancestor::*[@id='danger-zone']").count() == 0
    assert zone.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(183, 28, 28)"
    assert zone.evaluate("e => e === document.querySelector('main').lastElementChild")
    assert zone.bounding_box()["y"] > edit.bounding_box()["y"] + edit.bounding_box()["height"] + 40
    zone.scroll_into_view_if_needed()
    shot(page, "event-view-phone")

    # asked once more: going back changes nothing
    page.fill("#reason", "场地检修")
    page.click("#danger-zone [type=submit]")
    page.wait_for_selector("form.confirm")
    assert "确定取消“养老服务认证体验日”吗？" in page.inner_text("h1")
    assert "取消原因：场地检修" in page.inner_text("form.confirm")
    shot(page, "event-cancel-confirm-phone")
    page.click("text=返回，不做任何更改")
    page.wait_for_selector("#danger-zone")
    db.session.rollback()  # a fresh read: the server wrote in its own transaction
    assert db.session.get(Event, event.id).status is EventStatus.PLANNED

    page.fill("#reason", "场地检修")
    page.click("#danger-zone [type=submit]")
    page.click("form.confirm button[type=submit]")
    page.wait_for_selector("text=活动已取消。")
    assert page.locator("#event-state").inner_text() == "已取消"
    assert page.locator("#danger-zone").count() == 0 and page.locator("#print-materials").count() == 0
    db.session.rollback()  # a fresh read: the server wrote in its own transaction
    assert db.session.get(Event, event.id).status is EventStatus.CANCELLED

    # the list says the same, and so it says once the event has been held
    page.goto(f"{live_server}/events")
    assert page.locator("table.events .state").all_inner_texts() == ["已取消"]


def test_an_event_held_reads_as_held_in_the_list(app, live_server, desktop, staff_event):
    event, _ = staff_event
    app.config["FROZEN_NOW"] = event.ends_at + timedelta(hours=1)
    page = desktop.new_page()
    login(page, live_server, "bjstaff")
    page.goto(f"{live_server}/events")
    assert page.locator("table.events .state").all_inner_texts() == ["已举办"]
    shot(page, "event-list-held-desktop")


def test_the_guest_list_has_the_same_print_materials_and_a_salutation_to_choose(live_server, phone, staff_event):
    event, _ = staff_event
    page = phone.new_page()
    login(page, live_server, "bjstaff")
    page.goto(f"{live_server}/events/{event.id}/guests")
    materials = page.locator("#print-materials")
    assert materials.locator("h2").inner_text() == "打印材料"
    assert materials.locator("a").all_inner_texts()[:3] == ["邀请函（PDF）", "现场登记海报（PDF）", "纸质签到表（PDF）"]
    assert page.locator("label[for=salutation]").inner_text() == "称谓"  # optional: no mark
    page.select_option("#salutation", label="女士")
    page.fill("#name", "王芳")
    page.select_option("#category", "consumer")
    page.click("form.stack [type=submit]")
    page.wait_for_selector("text=已将 王芳 添加到邀请名单。")
    db.session.rollback()  # a fresh read: the server wrote in its own transaction
    assert db.session.query(Guest).filter_by(name="王芳").one().form_of_address == "王芳女士"
    materials.scroll_into_view_if_needed()
    shot(page, "guest-list-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_withdrawing_an_invitation_asks_once_more(live_server, phone, staff_event):
    _, guest = staff_event
    old = guest.code
    page = phone.new_page()
    login(page, live_server, "bjstaff")
    page.goto(f"{live_server}/guests/{guest.id}")
    page.click("text=作废并重新生成邀请码")
    page.wait_for_selector("form.confirm")
    assert page.inner_text("h1") == "确定作废张三的邀请码并重新生成吗？"
    shot(page, "guest-revoke-confirm-phone")
    db.session.rollback()  # a fresh read: the server wrote in its own transaction
    assert db.session.get(Guest, guest.id).code == old
    page.click("form.confirm button[type=submit]")
    page.wait_for_selector("text=原邀请码已作废，已重新生成邀请码。")
    db.session.rollback()  # a fresh read: the server wrote in its own transaction
    assert db.session.get(Guest, guest.id).code != old
