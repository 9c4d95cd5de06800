"""The plan's round trip as people do it: a province on a phone, HQ at a desk."""

from datetime import datetime

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from experience.accounts.models import Role
from experience.core import clock
from experience.events.models import Event
from experience.extensions import db
from experience.plans.models import Plan, PlanState
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.browser


def test_province_submits_hq_returns_province_resubmits_hq_confirms_and_selects(
    app, live_server, phone, desktop, make_user, campaign, pdf_bytes, tmp_path
):
    app.config["FROZEN_NOW"] = clock.from_beijing(datetime(2024, 8, 20, 10, 0))
    make_user(Role.PROVINCE, "11", username="bjstaff", display_name="北京市市场监管局")
    make_user(Role.HQ, username="hqboss", display_name="认证监管司")
    scan = tmp_path / "方案盖章扫描.pdf"
    scan.write_bytes(pdf_bytes)

    # The province, on a phone: a new event, then the plan.
    p = phone.new_page()
    login(p, live_server, "bjstaff")
    assert "还剩" in p.inner_text(".deadlines")
    p.click("text=新建活动")
    p.fill("#title", "养老服务认证体验日")
    p.fill("#service_name", "居家养老服务认证")
    p.fill("#certified_org", "北京康乐养老服务有限公司")
    p.fill("#certificate_no", "CSC-2024-0001")
    p.fill("#certification_body", "中国质量认证中心")
    p.select_option("#sector", "养老")
    p.fill("#venue_name", "康乐养老服务中心")
    p.fill("#city", "北京市")
    p.fill("#address", "朝阳区望京街1号")
    p.fill("#starts_at", "2024-09-10T09:00")
    p.fill("#ends_at", "2024-09-10T12:00")
    p.fill("#guests_consumer", "20")
    p.fill("#guests_npc_deputy", "2")
    p.fill("#contact_name", "王老师")
    p.fill("#contact_phone", "010-82260862")
    shot(p, "event-form-phone")
    p.click("#submit")
    p.wait_for_selector("text=活动已创建")
    shot(p, "event-view-phone")
    assert p.evaluate("document.documentElement.scrollWidth") <= 360

    p.goto(f"{live_server}/plan")
    p.fill("#organisation_text", "成立活动领导小组，分管局领导任组长。")
    p.fill("#coordination_text", "与商务、文旅部门建立联动机制。")
    p.fill("#publicity_text", "联合电视台、政务新媒体宣传。")
    p.fill("#safety_text", "坚持自愿参加，不收取任何费用，制定安全预案。")
    p.set_input_files("#document", str(scan))
    p.click("#submit")
    p.wait_for_selector("text=活动方案已保存")
    p.click("#send")
    p.wait_for_selector("text=将活动方案报送总局？")  # saved with its document, then asked
    shot(p, "plan-confirm-phone")
    p.click("button:has-text('报送总局')")
    p.wait_for_selector("text=活动方案已报送总局")
    expect(p.locator("main")).to_contain_text("已提交")
    shot(p, "plan-submitted-phone")

    # HQ, at a desk: the national table, the plan, a return with a comment.
    h = desktop.new_page()
    login(h, live_server, "hqboss")
    h.goto(f"{live_server}/hq/plans")
    row = h.locator("tr[data-province='11']")
    assert "已提交" in row.inner_text() and "按时" in row.inner_text()
    shot(h, "national-table-desktop")
    row.locator("text=查看").click()
    h.fill("#comment", "请补充现场安全保障和应急疏散措施。")
    h.click("text=退回修改")
    h.wait_for_selector("text=活动方案已退回")

    # The province sees the notice and resubmits.
    p.goto(f"{live_server}/")
    notices = p.inner_text(".notices")
    assert "退回" in notices and "应急疏散" in notices
    shot(p, "home-returned-phone")
    p.goto(f"{live_server}/plan")
    p.fill("#safety_text", "坚持自愿参加，不收取任何费用；制定安全预案和应急疏散方案。")
    p.click("#send")  # saved, then sent once confirmed
    p.click("button:has-text('报送总局')")
    p.wait_for_selector("text=活动方案已报送总局")

    # HQ confirms and picks the event for the launch ceremony.
    plan_id = db.session.scalar(sa.select(Plan.id).where(Plan.province_code == "11"))
    event_id = db.session.scalar(sa.select(Event.id))
    db.session.commit()  # end the test's read so the server may write (SQLite)
    h.goto(f"{live_server}/hq/plans/{plan_id}")
    h.click("text=确认方案")
    h.wait_for_selector("text=确认北京市的活动方案？")
    h.click("main button:has-text('确认方案')")
    h.wait_for_selector("text=活动方案已确认")
    h.get_by_label("选为启动仪式项目", exact=True).check()
    h.fill(f"#e{event_id}-note", "组织策划好、体验感强，予以重点支持。")
    h.click(f"#event-{event_id} >> #e{event_id}-submit")
    h.wait_for_selector("text=已将“养老服务认证体验日”选为启动仪式项目")
    shot(h, "plan-review-desktop")

    # The province sees that it was selected.
    p.goto(f"{live_server}/")
    notices = p.inner_text(".notices")
    assert "启动仪式" in notices and "确认" in notices
    shot(p, "home-selected-phone")
    db.session.commit()
    assert db.session.get(Plan, plan_id).state is PlanState.CONFIRMED
    assert db.session.get(Event, event_id).launch_selected
