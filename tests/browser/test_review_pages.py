"""Issue 13's staff pages as people use them, with JavaScript off (the confirmation steps
are pages of their own): HQ's national table after the deadline, the plan review with
the notice's criteria beside the launch choice, the confirmation of a plan, a province
sending its plan with the sealed document, and the audit log in words."""

from datetime import date, datetime

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from experience.accounts.models import Role
from experience.core import clock
from experience.events.models import Event
from experience.extensions import db
from experience.plans import services as plans
from experience.plans.models import Plan, PlanState
from tests.browser.conftest import login, shot
from tests.plans.test_services import TEXTS

pytestmark = pytest.mark.browser


def _bj(*args):
    return clock.from_beijing(datetime(*args))


@pytest.fixture
def no_js_desktop(browser):
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", java_script_enabled=False)
    yield ctx
    ctx.close()


@pytest.fixture
def no_js_phone(browser):
    ctx = browser.new_context(
        viewport={"width": 360, "height": 640},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        java_script_enabled=False,
    )
    yield ctx
    ctx.close()


@pytest.fixture
def beijing_submitted(app, campaign, make_user, make_event):
    """Beijing sent its plan on Aug 20; Tibet has an extension to Aug 30; it is now Aug 26."""
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", display_name="北京市市场监管局")
    hq = make_user(Role.HQ, username="hqboss", display_name="认证监管司")
    event = make_event(actor=staff, title="养老服务认证体验日", highlights="老人现场体验认证服务")
    plan = plans.plan_for(campaign, "11")
    plans.save_plan(plan, actor=staff, now=_bj(2024, 8, 20, 9), **TEXTS)
    plan.document_key, plan.document_name = "missing.pdf", "方案.pdf"
    plans.submit_plan(plan, actor=staff, now=_bj(2024, 8, 20, 10))
    plans.grant_extension(campaign, "54", date(2024, 8, 30), "道路中断", actor=hq, now=_bj(2024, 8, 22, 9))
    db.session.commit()
    app.config["FROZEN_NOW"] = _bj(2024, 8, 26, 10, 0)
    return plan.id, event.id


def test_hq_sees_overdue_provinces_chooses_a_launch_project_by_the_criteria_and_confirms(
    live_server, no_js_desktop, beijing_submitted
):
    plan_id, event_id = beijing_submitted
    h = no_js_desktop.new_page()
    login(h, live_server, "hqboss")
    menu = h.inner_text("header nav")
    assert "各省方案报送情况" in menu and "全国活动总结报告" in menu
    assert "全国汇总" not in menu  # the two old names, easy to confuse

    h.click("header nav >> text=各省方案报送情况")
    assert "逾期未报" in h.inner_text("tr[data-province='33']")
    assert "逾期未报" in h.inner_text("tr[data-province='66']")
    tibet = h.inner_text("tr[data-province='54']")
    assert "逾期未报" not in tibet and "延期至 2024-08-30" in tibet
    beijing = h.inner_text("tr[data-province='11']")
    assert "已提交" in beijing and "逾期未报" not in beijing
    assert "已过截止日期仍未报送方案（30 个）" in h.inner_text("#overdue-summary")
    shot(h, "national-table-overdue-desktop")

    h.click("tr[data-province='11'] >> text=查看")
    criteria = h.locator("#launch-criteria")
    assert "总局将选取组织策划好、体验感强、社会认可度高的项目" in criteria.inner_text()
    choice = h.locator(f"#event-{event_id} fieldset")
    assert "当前：未选" in choice.inner_text() and "组织策划好、体验感强、社会认可度高" in choice.inner_text()
    # beside: the criteria sit to the right of the choice, at its height
    c, f = criteria.bounding_box(), choice.bounding_box()
    assert c["x"] >= f["x"] + f["width"] and c["y"] < f["y"] + f["height"]
    assert h.get_by_label("不选为启动仪式项目", exact=True).is_checked()
    h.get_by_label("选为启动仪式项目", exact=True).check()
    h.fill(f"#e{event_id}-note", "组织策划好、体验感强，予以重点支持。")
    h.click(f"#e{event_id}-submit")
    h.wait_for_selector("text=已将“养老服务认证体验日”选为启动仪式项目")
    assert "当前：已选为启动仪式项目" in h.inner_text(f"#event-{event_id} fieldset")
    assert h.get_by_label("选为启动仪式项目", exact=True).is_checked()
    shot(h, "plan-review-criteria-desktop")

    # 确认方案 asks first; going back changes nothing
    h.click("input[value='确认方案']")
    h.wait_for_selector("text=确认北京市的活动方案？")
    shot(h, "plan-confirm-question-desktop")
    h.click("text=返回，不做任何更改")
    expect(h.locator("main section.card").first).to_contain_text("已提交")
    assert db.session.get(Plan, plan_id).state is PlanState.SUBMITTED
    db.session.commit()
    h.click("input[value='确认方案']")
    h.click("main form.confirm button[type=submit]")
    h.wait_for_selector("text=活动方案已确认")
    db.session.commit()
    assert db.session.get(Plan, plan_id).state is PlanState.CONFIRMED
    assert db.session.get(Event, event_id).launch_selected


def test_review_page_fits_a_phone(live_server, no_js_phone, beijing_submitted):
    plan_id, event_id = beijing_submitted
    p = no_js_phone.new_page()
    login(p, live_server, "hqboss")
    p.goto(f"{live_server}/hq/plans/{plan_id}")
    assert p.locator("#launch-criteria").is_visible()
    assert p.get_by_label("选为启动仪式项目", exact=True).is_visible()
    assert p.evaluate("document.documentElement.scrollWidth") <= 360
    shot(p, "plan-review-phone")


def test_a_province_sends_its_plan_with_the_sealed_document_after_confirming(
    app, live_server, no_js_phone, campaign, make_user, make_event, pdf_bytes, tmp_path
):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", display_name="北京市市场监管局")
    make_event(actor=staff)
    app.config["FROZEN_NOW"] = _bj(2024, 8, 20, 10, 0)
    scan = tmp_path / "方案盖章扫描.pdf"
    scan.write_bytes(pdf_bytes)
    p = no_js_phone.new_page()
    login(p, live_server, "bjstaff")
    p.goto(f"{live_server}/plan")
    for field, text in TEXTS.items():
        p.fill(f"#{field}", text)
    p.set_input_files("#document", str(scan))
    p.click("#send")
    p.wait_for_selector("text=将活动方案报送总局？")
    assert "方案文字和盖章文件已保存为草稿" in p.inner_text("main")
    shot(p, "plan-send-question-phone")
    p.click("text=暂不报送，保留已保存的草稿")  # not yet: the draft and the file are kept
    expect(p.locator("main")).to_contain_text("未提交")
    expect(p.locator("main")).to_contain_text("方案盖章扫描.pdf")
    assert p.input_value("#safety_text") == TEXTS["safety_text"]
    p.click("#send")
    p.click("main form.confirm button[type=submit]")
    p.wait_for_selector("text=活动方案已报送总局")
    assert "已提交" in p.inner_text("main") and "方案盖章扫描.pdf" in p.inner_text("main")
    shot(p, "plan-sent-phone")
    db.session.commit()
    plan = db.session.scalar(sa.select(Plan))
    assert plan.state is PlanState.SUBMITTED and plan.document_name == "方案盖章扫描.pdf"


def test_the_audit_log_reads_in_names_and_words(live_server, no_js_desktop, beijing_submitted):
    plan_id, event_id = beijing_submitted
    h = no_js_desktop.new_page()
    login(h, live_server, "hqboss")
    h.goto(f"{live_server}/audit")
    submitted = h.locator("table.audit tbody tr", has_text="活动方案已报送").inner_text()
    assert "北京市市场监管局（bjstaff）" in submitted and "活动方案：北京市" in submitted
    assert "首次报送：是" in submitted and "逾期：否" in submitted
    extension = h.locator("table.audit tbody tr", has_text="延期事项").inner_text()
    assert "省份：西藏自治区" in extension and "认证监管司（hqboss）" in extension
    table = h.inner_text("table.audit tbody")
    for raw in ("first:", "late:", "plan ", "user ", "False", "True"):
        assert raw not in table, raw
    shot(h, "audit-log-desktop")
