"""The summaries' PDFs as a reader sees them (issue 13): rendered to PNG with pdftoppm and
saved under test-artifacts/, read back with pdftotext. The written part leads the event
and provincial summaries; the provincial cover names its reporting unit; the national
table's headers read on one line, on a landscape page; the national report quotes the
provinces' practices and lists HQ's launch picks."""

import os
import subprocess
from datetime import datetime, timedelta

import pytest
from PIL import Image

from experience.accounts.models import Role
from experience.checkin.services import check_in
from experience.core import clock
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import CheckInVia
from experience.plans import services as plans
from experience.ratings import services as ratings
from experience.ratings.models import Display
from experience.reports import services
from tests.browser.conftest import ARTIFACTS
from tests.plans.test_services import TEXTS as PLAN_TEXTS

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::ResourceWarning")]


def _bj(*args):
    return clock.from_beijing(datetime(*args))


def pngs(data: bytes, name: str) -> list:
    """Each page as a PNG under test-artifacts/, as a person would look at it."""
    ARTIFACTS.mkdir(exist_ok=True)
    prefix = ARTIFACTS / f"{os.environ.get('TEST_DB', 'sqlite')}-{name}"
    pdf = prefix.with_suffix(".pdf")
    pdf.write_bytes(data)
    for old in ARTIFACTS.glob(f"{prefix.name}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(prefix)], check=True)
    pdf.unlink()
    return sorted(ARTIFACTS.glob(f"{prefix.name}-*.png"))


def pages_text(data: bytes, tmp_path) -> list[str]:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")


@pytest.fixture
def reported(app, campaign, make_user, make_event, make_guest):
    """Beijing held an event, wrote its summaries and sent them; HQ picked the event for the
    launch ceremony; Zhejiang has an event still to come."""
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    hq = make_user(Role.HQ, username="hqboss")
    make_user(Role.PROVINCE, "33", username="zjstaff")
    event = make_event(actor=staff, title="养老服务认证体验日")
    make_event("33", title="物业服务认证体验", starts_at=_bj(2024, 10, 25, 9), ends_at=_bj(2024, 10, 25, 11))
    plan = plans.plan_for(campaign, "11")
    plans.save_plan(plan, actor=staff, now=_bj(2024, 8, 20), **PLAN_TEXTS)
    plan.document_key, plan.document_name = "x.pdf", "方案.pdf"
    plans.submit_plan(plan, actor=staff, now=_bj(2024, 8, 20))
    plans.select_launch(event, True, "组织策划好、体验感强", actor=hq, now=_bj(2024, 8, 25))
    for i, category in enumerate([GuestCategory.CONSUMER, GuestCategory.MEDIA, GuestCategory.NPC_DEPUTY]):
        g = make_guest(event, category=category)
        check_in(g.code, via=CheckInVia.PHONE, now=event.starts_at + timedelta(minutes=5 * i))
        db.session.refresh(g)
        ratings.submit_rating(
            g,
            stars={d.id: 4 + i % 2 for d in ratings.dimensions(campaign.id)},
            comment="",
            display=Display.CATEGORY,
            now=event.ends_at,
        )
    services.save_event_summary(
        event,
        actor=staff,
        now=event.ends_at,
        results_text="到场嘉宾 3 人，满意度高。",
        practices_text="现场讲解认证标志，演示证书查询。",
        problems_text="场地偏小。",
    )
    summary = services.province_summary(campaign, "11")
    services.save_province_summary(
        summary,
        actor=staff,
        now=_bj(2024, 10, 8),
        organisation_text="局领导牵头，成立工作专班。",
        publicity_text="征集作品 12 件。",
        results_text="全省举办体验活动 1 场。",
        practices_text="“认证体验官”带领市民走进养老机构，现场讲解服务认证标志和证书查询方法。" * 3,
        suggestions_text="建议总局统一制作宣传物料。",
    )
    services.submit_province_summary(summary, actor=staff, now=_bj(2024, 10, 8))
    db.session.commit()
    app.config["FROZEN_NOW"] = _bj(2024, 10, 20, 9, 0)
    return event


def test_national_pdf_headers_read_on_a_landscape_page_with_practices_and_launch_picks(
    client, auth, reported, tmp_path
):
    auth.login("hqboss")
    with client.get("/hq/summaries.pdf") as r:
        data = r.data
    pages = pages_text(data, tmp_path)
    images = pngs(data, "national-summary-pdf")
    table_page = next(i for i, text in enumerate(pages) if "各省级单位" in text)
    with Image.open(images[table_page]) as png:
        assert png.width > png.height  # the wide table has a landscape page of its own
    header = next(line for line in pages[table_page].splitlines() if "省份" in line)
    assert header.split() == [
        "省份",
        "活动总结",
        "已举办",
        "计划",
        "启动仪式项目",
        "到场",
        "问1",
        "问2",
        "问3",
        "问4",
        "问5",
    ]
    assert "问1 服务感知体验" in "".join(pages[table_page:])  # the legend, after the table, names each question
    lines = "".join(pages[table_page:]).splitlines()
    for name in ("新疆生产建设兵团", "宁夏回族自治区", "广西壮族自治区"):
        assert any(name in line for line in lines), name
    beijing = next(line for line in lines if line.strip().startswith("北京市")).split()
    assert beijing[:7] == ["北京市", "已提交", "1", "1", "1", "3", "4.33"]
    zhejiang = next(line for line in lines if line.strip().startswith("浙江省")).split()
    assert zhejiang[:6] == ["浙江省", "逾期未报", "0", "1", "0", "0"]  # held 0 of 1 planned
    whole = "".join("".join(pages).split())  # lines joined, as one reads them
    assert "已举办活动1场（计划2场）" in whole
    assert "各省经验做法" in whole and "“认证体验官”带领市民走进养老机构" in whole
    assert "总局选定的启动仪式项目" in whole and "组织策划好、体验感强" in whole
    (tmp_path / "fonts.pdf").write_bytes(data)
    fonts = subprocess.run(["pdffonts", str(tmp_path / "fonts.pdf")], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts and all(" yes " in line for line in fonts.splitlines()[2:] if line.strip())


def test_event_and_provincial_pdfs_lead_with_the_written_part(client, auth, reported, tmp_path):
    auth.login("bjstaff")
    with client.get(f"/events/{reported.id}/summary.pdf") as r:
        data = r.data
    pages = pages_text(data, tmp_path)
    pngs(data, "event-summary-pdf")
    first = pages[1].replace("活动总结 · 养老服务认证体验日", "", 1).split()  # after the cover and the running head
    assert first[:2] == ["工作成果", "到场嘉宾"]
    body = "".join(pages[1:])
    assert body.index("问题与建议") < body.index("嘉宾邀请与到场人数") < body.index("评价结果")
    assert "邀请名单" not in body

    with client.get("/provinces/11/summary.pdf") as r:
        data = r.data
    pages = pages_text(data, tmp_path)
    pngs(data, "province-summary-pdf")
    cover = pages[0]
    assert "报送单位：北京市市场监督管理局" in cover and "已于 2024-10-08 00:00 报送总局" in cover
    body = "".join(pages[1:])
    assert body.replace("省级活动总结 · 北京市", "", 1).split()[0] == "组织领导"
    assert body.index("建议总局统一制作宣传物料") < body.index("现场体验活动") < body.index("嘉宾邀请与到场人数")
    assert "邀请名单" not in body
