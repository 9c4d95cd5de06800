import io
from datetime import datetime

import sqlalchemy as sa
from openpyxl import load_workbook

from experience.accounts.models import Role
from experience.core import clock
from experience.core.audit import AuditEntry
from experience.extensions import db
from experience.notices.models import Notice
from experience.plans.models import DeadlineExtension, Plan, PlanState
from tests.plans.test_services import TEXTS


def _bj(*args):
    return clock.from_beijing(datetime(*args))


def submit(client, **changes):
    """Press 保存并报送总局 with the plan's texts as they stand."""
    return client.post("/plan", data={**TEXTS, **changes, "send": "y"}, content_type="multipart/form-data")


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
    hq.post(f"/hq/plans/{plan.id}/confirm")
    assert db.session.get(Plan, plan.id).state is PlanState.CONFIRMED
    event_id = db.session.scalar(sa.select(Notice.id))  # any notice exists
    assert event_id
    from experience.events.models import Event

    event = db.session.scalar(sa.select(Event))
    hq.post(f"/hq/events/{event.id}/launch", data={f"e{event.id}-selected": "y", f"e{event.id}-note": "重点支持"})
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
