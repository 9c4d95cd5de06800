import html
import io
import re
from datetime import datetime

import sqlalchemy as sa
from openpyxl import load_workbook

from experience.accounts.models import Role
from experience.core import clock
from experience.core.audit import AuditEntry
from experience.events.models import Event
from experience.extensions import db
from experience.notices.models import Notice
from experience.plans.models import DeadlineExtension, Plan, PlanState
from tests.plans.test_services import TEXTS


def _bj(*args):
    return clock.from_beijing(datetime(*args))


def submit(client, **changes):
    """Press 保存并报送总局 with the plan's texts as they stand, then 报送总局 on the question
    that follows (unless the plan was refused before it was asked)."""
    data = {**TEXTS, **changes, "send": "y"}
    asked = client.post("/plan", data=data, content_type="multipart/form-data")
    if asked.status_code != 200:
        return asked
    return client.post("/plan", data=confirmation_fields(asked.get_data(as_text=True)))


def confirmation_fields(page: str) -> dict:
    """What the confirmation page's form posts: its hidden fields, as a browser sends them."""
    assert '<form method="post"' in page and 'name="confirmed" value="1"' in page, page
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: html.unescape(value) for name, value in fields}


def _prepare(client, auth, make_user, make_event, pdf_bytes):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    make_user(Role.HQ, username="hqboss")
    make_event(actor=staff)
    auth.login("bjstaff")
    r = client.post(
        "/plan",
        data={**TEXTS, "document": (io.BytesIO(pdf_bytes), "方案（盖章）.pdf")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    return staff


def test_province_saves_and_submits_plan(app, client, auth, make_user, make_event, pdf_bytes):
    _prepare(client, auth, make_user, make_event, pdf_bytes)
    app.config["FROZEN_NOW"] = _bj(2024, 8, 23, 23, 59)
    submit(client)
    plan = db.session.scalar(sa.select(Plan))
    assert plan.state is PlanState.SUBMITTED and plan.document_name == "方案（盖章）.pdf"
    page = client.get("/plan").get_data(as_text=True)
    assert "已提交" in page and "成立领导小组" in page and "<textarea" not in page


def test_late_first_submission_refused_with_the_deadline_named(app, client, auth, make_user, make_event, pdf_bytes):
    _prepare(client, auth, make_user, make_event, pdf_bytes)
    app.config["FROZEN_NOW"] = _bj(2024, 8, 24, 0, 0, 30)
    page = client.get("/plan").get_data(as_text=True)
    assert "延期" in page  # the page says to ask HQ
    r = submit(client, safety_text="改过的安全预案")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "2024-08-23" in page
    plan = db.session.scalar(sa.select(Plan))
    assert plan.state is PlanState.NOT_SUBMITTED and plan.safety_text == "改过的安全预案"  # saved, not sent


def test_plan_document_must_be_a_pdf(client, auth, make_user, make_event, pdf_bytes):
    _prepare(client, auth, make_user, make_event, pdf_bytes)
    page = client.post(
        "/plan",
        data={**TEXTS, "safety_text": "新的", "document": (io.BytesIO(b"MZ\x90\x00"), "scan.pdf")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "PDF" in page
    assert db.session.scalar(sa.select(Plan)).safety_text == "安全预案"  # nothing half-saved


def test_hq_returns_then_confirms_and_selects(app, client, auth, make_user, make_event, pdf_bytes):
    _prepare(client, auth, make_user, make_event, pdf_bytes)
    app.config["FROZEN_NOW"] = _bj(2024, 8, 20, 10, 0)
    submit(client)
    plan = db.session.scalar(sa.select(Plan))
    hq = app.test_client()
    hq.post("/login", data={"username": "hqboss", "password": "Correct-Horse-9"})
    table = hq.get("/hq/plans").get_data(as_text=True)
    assert "北京市" in table and "新疆生产建设兵团" in table and "按时" in table
    assert hq.post(f"/hq/plans/{plan.id}/return", data={"comment": ""}).status_code == 302
    assert db.session.get(Plan, plan.id).state is PlanState.SUBMITTED
    hq.post(f"/hq/plans/{plan.id}/return", data={"comment": "请补充安全保障措施"})
    assert db.session.get(Plan, plan.id).state is PlanState.RETURNED
    home = client.get("/").get_data(as_text=True)
    assert "请补充安全保障措施" in home
    submit(client, safety_text="补充：应急预案")
    hq.post(f"/hq/plans/{plan.id}/confirm", data={"confirmed": "1"})
    assert db.session.get(Plan, plan.id).state is PlanState.CONFIRMED
    event_id = db.session.scalar(sa.select(Notice.id))  # any notice exists
    assert event_id
    from experience.events.models import Event

    event = db.session.scalar(sa.select(Event))
    hq.post(f"/hq/events/{event.id}/launch", data={f"e{event.id}-selected": "yes", f"e{event.id}-note": "重点支持"})
    assert db.session.get(Event, event.id).launch_selected
    notices = client.get("/notices").get_data(as_text=True)
    assert "启动仪式" in notices and "确认" in notices


def test_national_xlsx(app, client, auth, make_user, make_event, pdf_bytes):
    app.config["FROZEN_NOW"] = _bj(2024, 8, 20, 10, 0)
    _prepare(client, auth, make_user, make_event, pdf_bytes)
    submit(client)
    hq = app.test_client()
    hq.post("/login", data={"username": "hqboss", "password": "Correct-Horse-9"})
    with hq.get("/hq/plans.xlsx") as r:
        ws = load_workbook(io.BytesIO(r.data)).active
    rows = list(ws.values)
    assert len(rows) == 33
    beijing = next(r for r in rows if r[0] == "11")
    assert beijing[1] == "北京市" and beijing[2] == "已提交" and beijing[3] == 1
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "export.xlsx"))
        == 1
    )


def test_hq_grants_extension(app, make_user, campaign):
    app.config["FROZEN_NOW"] = _bj(2024, 8, 24, 9, 0)
    make_user(Role.HQ, username="hqboss")
    hq = app.test_client()
    hq.post("/login", data={"username": "hqboss", "password": "Correct-Horse-9"})
    hq.post("/hq/extensions", data={"province": "54", "new_deadline": "2024-08-30", "reason": "道路中断"})
    ext = db.session.scalar(sa.select(DeadlineExtension))
    assert ext.province_code == "54" and ext.new_deadline.isoformat() == "2024-08-30"
    r = hq.post("/hq/extensions", data={"province": "54", "new_deadline": "2024-08-01", "reason": "x"})
    assert r.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeadlineExtension)) == 1
    hq.post("/hq/extensions", data={"province": "99", "new_deadline": "2024-09-30", "reason": "x"})
    hq.post("/hq/extensions", data={"province": "11", "new_deadline": "2024-08-23", "reason": "already over"})
    hq.post("/hq/extensions", data={"province": "11", "new_deadline": "9999-12-31", "reason": "forever"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeadlineExtension)) == 1
    assert "2024-08-30" in hq.get("/hq/plans").get_data(as_text=True)


def test_deadline_reminders_on_the_province_home(app, client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")

    def home_at(*when):
        app.config["FROZEN_NOW"] = _bj(*when)
        auth.logout()
        auth.login("bjstaff")
        return client.get("/").get_data(as_text=True)

    assert "7 天" in home_at(2024, 8, 16, 9, 0)
    assert "明天" in home_at(2024, 8, 22, 9, 0)
    assert "今天" in home_at(2024, 8, 23, 20, 0)
    assert 'class="unread reminder"' not in home_at(2024, 8, 10, 9, 0)


def test_campaign_edit_by_hq(app, client, auth, make_user, campaign):
    make_user(Role.HQ, username="hqboss")
    auth.login("hqboss")
    data = {
        "year": "2024",
        "theme": "认证推进服务业高质量发展",
        "plan_deadline": "2024-08-23",
        "works_deadline": "2024-08-30",
        "summary_deadline": "2024-10-18",
        "week_start": "2024-09-10",
        "week_end": "2024-09-16",
        "sectors": "养老\n 物业 \n\n餐饮",
    }
    assert client.post("/campaign", data=data).status_code == 302
    assert campaign.week_start.day == 10 and campaign.sector_list == ["养老", "物业", "餐饮"]
    r = client.post("/campaign", data={**data, "week_end": "2024-09-01"})
    assert r.status_code == 200 and campaign.week_end.day == 16
    r = client.post("/campaign", data={**data, "year": "abc"})
    assert r.status_code == 200


def test_notices_mark_read(app, client, auth, make_user, make_event, pdf_bytes):
    app.config["FROZEN_NOW"] = _bj(2024, 8, 20, 10, 0)
    _prepare(client, auth, make_user, make_event, pdf_bytes)
    submit(client)
    hq = app.test_client()
    hq.post("/login", data={"username": "hqboss", "password": "Correct-Horse-9"})
    assert 'class="badge"' in hq.get("/").get_data(as_text=True)
    hq.post("/notices/read")
    assert 'class="badge"' not in hq.get("/").get_data(as_text=True)


def test_hq_grants_a_summary_extension_logged_under_its_own_name(app, make_user, campaign):
    app.config["FROZEN_NOW"] = _bj(2024, 10, 19, 9, 0)
    make_user(Role.HQ, username="hqboss")
    hq = app.test_client()
    hq.post("/login", data={"username": "hqboss", "password": "Correct-Horse-9"})
    r = hq.post(
        "/hq/extensions", data={"province": "11", "kind": "summary", "new_deadline": "2024-10-25", "reason": "汛期"}
    )
    assert r.status_code == 302
    ext = db.session.scalar(sa.select(DeadlineExtension))
    assert (ext.province_code, ext.kind.value, ext.new_deadline.isoformat()) == ("11", "summary", "2024-10-25")
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("%.extension"))).all()
    assert actions == ["summary.extension"]
    assert "活动总结已批准延期" in hq.get("/audit").get_data(as_text=True)


# -- Asking before sending and before confirming (issue 13) ----------------------------------


def test_submitting_saves_the_draft_and_its_document_then_asks_and_sends_only_when_confirmed(
    app, client, auth, make_user, make_event, pdf_bytes
):
    """The sealed document cannot wait in a confirmation page: it is stored with the draft
    when 保存并报送总局 is pressed; the question follows, and only its answer sends."""
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    make_event(actor=staff)
    auth.login("bjstaff")
    app.config["FROZEN_NOW"] = _bj(2024, 8, 20, 10, 0)
    asked = client.post(
        "/plan",
        data={**TEXTS, "send": "y", "document": (io.BytesIO(pdf_bytes), "方案（盖章）.pdf")},
        content_type="multipart/form-data",
    )
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "将活动方案报送总局？" in page
    assert "方案文字和盖章文件已保存为草稿" in page and "方案共列活动 1 项" in page
    assert 'type="file"' not in page  # nothing rides along that could be lost
    plan = db.session.scalar(sa.select(Plan))
    assert plan.state is PlanState.NOT_SUBMITTED
    assert (plan.organisation_text, plan.document_name) == ("成立领导小组", "方案（盖章）.pdf")

    # going back sends nothing and keeps the draft
    back = client.get("/plan").get_data(as_text=True)
    assert "未提交" in back and "方案（盖章）.pdf" in back
    assert db.session.scalar(sa.select(Plan)).state is PlanState.NOT_SUBMITTED

    # answering the question, as a browser without JavaScript posts the page's form
    r = client.post("/plan", data=confirmation_fields(page))
    assert r.status_code == 302
    plan = db.session.scalar(sa.select(Plan))
    assert plan.state is PlanState.SUBMITTED and plan.document_name == "方案（盖章）.pdf"
    assert "活动方案已报送总局" in client.get("/plan").get_data(as_text=True)
    submits = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "plan.submit")).all()
    assert len(submits) == 1


def test_an_incomplete_plan_is_saved_and_told_why_before_any_question(app, client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    app.config["FROZEN_NOW"] = _bj(2024, 8, 20, 10, 0)
    r = client.post("/plan", data={**TEXTS, "send": "y"}, content_type="multipart/form-data")
    assert r.status_code == 302  # no question: it could not be sent anyway
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "活动方案已保存，但未能报送" in page and "盖章" in page
    plan = db.session.scalar(sa.select(Plan))
    assert plan.state is PlanState.NOT_SUBMITTED and plan.safety_text == "安全预案"


def test_hq_is_asked_before_confirming_a_plan(app, client, auth, make_user, make_event, pdf_bytes):
    _prepare(client, auth, make_user, make_event, pdf_bytes)
    app.config["FROZEN_NOW"] = _bj(2024, 8, 20, 10, 0)
    submit(client)
    plan_id = db.session.scalar(sa.select(Plan.id))
    hq = app.test_client()
    hq.post("/login", data={"username": "hqboss", "password": "Correct-Horse-9"})
    review = hq.get(f"/hq/plans/{plan_id}").get_data(as_text=True)
    assert f'action="/hq/plans/{plan_id}/confirm"' in review
    asked = hq.post(f"/hq/plans/{plan_id}/confirm")
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "确认北京市的活动方案？" in page and "共 1 项活动" in page
    assert f'href="/hq/plans/{plan_id}"' in page  # the way back
    assert db.session.get(Plan, plan_id).state is PlanState.SUBMITTED
    hq.post(f"/hq/plans/{plan_id}/confirm", data=confirmation_fields(page))
    assert db.session.get(Plan, plan_id).state is PlanState.CONFIRMED
    # a plan that is not with HQ any more is refused at once, without a question
    again = hq.post(f"/hq/plans/{plan_id}/confirm")
    assert again.status_code == 302
    assert "当前状态" in hq.get(again.headers["Location"]).get_data(as_text=True)


# -- HQ's review: the notice's criteria beside a clear choice; 逾期未报 -----------------------


def _submitted_plan(app, client, auth, make_user, make_event, pdf_bytes):
    _prepare(client, auth, make_user, make_event, pdf_bytes)
    app.config["FROZEN_NOW"] = _bj(2024, 8, 20, 10, 0)
    submit(client)
    hq = app.test_client()
    hq.post("/login", data={"username": "hqboss", "password": "Correct-Horse-9"})
    return hq, db.session.scalar(sa.select(Plan.id)), db.session.scalar(sa.select(Event.id))


def test_review_quotes_the_notices_criteria_beside_a_labelled_choice(
    app, client, auth, make_user, make_event, pdf_bytes
):
    hq, plan_id, event_id = _submitted_plan(app, client, auth, make_user, make_event, pdf_bytes)
    page = hq.get(f"/hq/plans/{plan_id}").get_data(as_text=True)
    assert "总局将选取组织策划好、体验感强、社会认可度高的项目" in page  # the notice, 四（1）
    assert "当前：未选" in page
    for value, label in (("yes", "选为启动仪式项目"), ("no", "不选为启动仪式项目")):
        assert re.search(rf'<input[^>]*name="e{event_id}-selected"[^>]*value="{value}"', page)
        assert "</label>" in page and label in page
    assert re.search(rf'<input checked[^>]*id="e{event_id}-selected-1"', page) or re.search(
        rf'<input[^>]*id="e{event_id}-selected-1"[^>]*checked', page
    )
    hq.post(f"/hq/events/{event_id}/launch", data={f"e{event_id}-selected": "yes", f"e{event_id}-note": "重点支持"})
    page = hq.get(f"/hq/plans/{plan_id}").get_data(as_text=True)
    assert "当前：已选为启动仪式项目" in page
    assert re.search(rf'<input[^>]*checked[^>]*id="e{event_id}-selected-0"', page) or re.search(
        rf'<input[^>]*id="e{event_id}-selected-0"[^>]*checked', page
    )


def test_a_launch_choice_that_is_neither_answer_is_refused_in_chinese(
    app, client, auth, make_user, make_event, pdf_bytes
):
    hq, plan_id, event_id = _submitted_plan(app, client, auth, make_user, make_event, pdf_bytes)
    r = hq.post(f"/hq/events/{event_id}/launch", data={f"e{event_id}-selected": "maybe"})
    page = hq.get(r.headers["Location"].split("#")[0]).get_data(as_text=True)
    assert "请选择是否将该活动选为启动仪式项目" in page
    assert not db.session.get(Event, event_id).launch_selected


def test_national_table_marks_overdue_provinces_and_respects_extensions(
    app, client, auth, make_user, make_event, pdf_bytes
):
    hq, plan_id, event_id = _submitted_plan(app, client, auth, make_user, make_event, pdf_bytes)
    hq.post("/hq/extensions", data={"province": "54", "new_deadline": "2024-08-30", "reason": "道路中断"})
    before = hq.get("/hq/plans").get_data(as_text=True)
    assert "逾期未报" not in before
    app.config["FROZEN_NOW"] = _bj(2024, 8, 24, 9, 0)
    hq = app.test_client()  # days later: a new session
    hq.post("/login", data={"username": "hqboss", "password": "Correct-Horse-9"})
    page = hq.get("/hq/plans").get_data(as_text=True)
    row = dict(re.findall(r'<tr data-province="(\d+)"[^>]*>(.*?)</tr>', page, re.S))
    assert "逾期未报" in row["33"] and "逾期未报" in row["66"]
    assert "逾期未报" not in row["11"]  # submitted on time
    assert "逾期未报" not in row["54"] and "延期至 2024-08-30" in row["54"]
    assert "已过截止日期仍未报送方案（30 个）" in page
    with hq.get("/hq/plans.xlsx") as r:
        rows = {row[0]: row for row in load_workbook(io.BytesIO(r.data)).active.values}
    assert rows["33"][7] == "逾期未报" and rows["54"][7] in ("", None)
    home = hq.get("/").get_data(as_text=True)
    assert "其中逾期未报 30 个" in home
