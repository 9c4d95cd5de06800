"""Summaries as PDFs, checked the way a reader would: the text poppler extracts, the fonts
it lists, the files it finds attached."""

import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.checkin.services import check_in
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import CheckInVia
from experience.ratings import services as ratings
from experience.ratings.models import Display
from experience.reports import services

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def pdf_text(data: bytes, tmp_path, name="doc") -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def pdf_fonts(data: bytes, tmp_path) -> str:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout


def attachments(data: bytes, tmp_path) -> str:
    path = tmp_path / "att.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdfdetach", "-list", str(path)], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def busy_event(make_user, make_event, make_guest):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff, title="堃喆犇养老服务体验")
    for i, (category, stars) in enumerate(
        [
            (GuestCategory.CONSUMER, 5),
            (GuestCategory.CONSUMER, 4),
            (GuestCategory.MEDIA, 3),
            (GuestCategory.NPC_DEPUTY, None),
        ]
    ):
        g = make_guest(event, category=category, name=f"嘉宾{i}")
        check_in(g.code, via=CheckInVia.PHONE, now=event.starts_at + timedelta(minutes=7 * i))
        db.session.refresh(g)
        if stars:
            r, _ = ratings.submit_rating(
                g,
                stars={d.id: stars for d in ratings.dimensions(event.campaign_id)},
                comment=f"评价{i}" if i else '<link rel=attachment href="file:///etc/passwd">',
                display=Display.CATEGORY,
                now=event.ends_at,
            )
    make_guest(event, name="没来的人")
    db.session.commit()
    return staff, event


def test_event_pdf_has_the_figures_of_the_database_in_an_embedded_chinese_font(client, auth, busy_event, tmp_path):
    staff, event = busy_event
    auth.login("bjstaff")
    with client.get(f"/events/{event.id}/summary.pdf") as r:
        data = r.data
    assert data.startswith(b"%PDF")
    fonts = pdf_fonts(data, tmp_path)
    assert "CJK" in fonts and all(" yes " in line for line in fonts.splitlines()[2:] if line.strip())
    text = pdf_text(data, tmp_path)
    assert "堃喆犇养老服务体验" in text  # rare characters, no boxes
    stats = ratings.stats(event)
    assert stats.checked_in == 4 and stats.ratings == 3
    assert "75%" in text  # 3 ratings from 4 guests checked in
    first = stats.dimensions[0]
    assert first.average == 4.0 and "4.00" in text
    consumers = [line for line in text.splitlines() if line.strip().startswith("消费者")][0].split()
    from experience.guests.services import counts

    db_consumers = next(c for c in counts(event) if c.category is GuestCategory.CONSUMER)
    assert consumers[1:4] == [str(db_consumers.invited), str(db_consumers.arrived), str(db_consumers.walk_ins)]
    assert (db_consumers.invited, db_consumers.arrived) == (3, 2)
    assert "root:x:0:0" not in text
    assert attachments(data, tmp_path).strip().startswith("0 embedded files")


def test_hostile_title_and_comment_read_no_file(client, auth, busy_event, tmp_path):
    staff, event = busy_event
    event.title = '<img src="file:///etc/passwd">堃'
    db.session.commit()
    rating = db.session.scalar(sa.select(ratings.Rating).where(ratings.Rating.comment.like("%passwd%")))
    ratings.set_approval(rating, "comment", True, actor=staff, now=event.ends_at)
    services.save_event_summary(event, actor=staff, now=event.ends_at, highlight_ids=[rating.id])
    db.session.commit()
    auth.login("bjstaff")
    with client.get(f"/events/{event.id}/summary.pdf") as r:
        data = r.data
    text = pdf_text(data, tmp_path)
    assert "root:" not in text and "/bin/" not in text
    assert '<img src="file:///etc/passwd">' in text.replace("\n", "")  # shown as the text it is
    listing = attachments(data, tmp_path)
    assert listing.strip().startswith("0 embedded files"), listing


def test_empty_event_says_none_plainly(client, auth, make_user, make_event, tmp_path):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    with client.get(f"/events/{event.id}/summary.pdf") as r:
        text = pdf_text(r.data, tmp_path)
    assert text.count("暂无") >= 5 and "暂无评价" in text


def test_province_and_national_pdfs(app, client, auth, busy_event, make_user, tmp_path):
    staff, event = busy_event
    make_user(Role.HQ, username="hqboss")
    app.config["FROZEN_NOW"] = event.ends_at + timedelta(days=1)
    auth.login("bjstaff")
    with client.get("/provinces/11/summary.pdf") as r:
        text = pdf_text(r.data, tmp_path, "province")
    assert "北京市" in text and "堃喆犇养老服务体验" in text
    auth.logout()
    auth.login("hqboss")
    with client.get("/hq/summaries.pdf") as r:
        text = pdf_text(r.data, tmp_path, "national")
    assert "新疆生产建设兵团" in text  # a landscape page: the name stays on one line
    beijing = [line for line in text.splitlines() if line.strip().startswith("北京市")][0].split()
    assert beijing[1:6] == ["未提交", "1", "1", "0", "4"]  # state, held, in the plans, launch, arrived


def test_the_written_part_leads_the_event_and_provincial_pdfs(app, client, auth, busy_event, tmp_path):
    """工作成果、经验做法、问题与建议 come before the figures, charts and photos; the head
    count is named for what it counts, not 邀请名单."""
    staff, event = busy_event
    services.save_event_summary(
        event,
        actor=staff,
        now=event.ends_at,
        results_text="到场四人",
        practices_text="讲解标志",
        problems_text="场地小",
    )
    summary = services.province_summary(event.campaign, "11")
    services.save_province_summary(
        summary, actor=staff, now=event.ends_at, results_text="全省成果", practices_text="全省做法"
    )
    db.session.commit()
    auth.login("bjstaff")
    with client.get(f"/events/{event.id}/summary.pdf") as r:
        text = pdf_text(r.data, tmp_path, "event")
    for written in ("工作成果", "到场四人", "经验做法", "讲解标志", "问题与建议", "场地小"):
        assert text.index(written) < text.index("嘉宾邀请与到场人数") < text.index("评价结果"), written
    assert "邀请名单" not in text
    with client.get("/provinces/11/summary.pdf") as r:
        text = pdf_text(r.data, tmp_path, "province")
    assert text.index("全省成果") < text.index("全省做法") < text.index("现场体验活动")
    assert "邀请名单" not in text and "嘉宾邀请与到场人数" in text


def test_the_provincial_cover_names_the_reporting_unit(app, client, auth, busy_event, make_user, tmp_path):
    staff, event = busy_event
    make_user(Role.PROVINCE, "33", username="zjstaff")
    auth.login("zjstaff")
    with client.get("/provinces/33/summary.pdf") as r:
        cover = pdf_text(r.data, tmp_path, "zj").split("\f")[0]
    assert "报送单位：浙江省市场监督管理局" in cover and "草稿，尚未报送总局" in cover
    summary = services.province_summary(event.campaign, "11")
    services.save_province_summary(
        summary,
        actor=staff,
        now=event.ends_at,
        organisation_text="甲",
        publicity_text="乙",
        results_text="丙",
        practices_text="丁",
        suggestions_text="戊",
    )
    services.submit_province_summary(summary, actor=staff, now=event.ends_at)
    db.session.commit()
    auth.logout()
    auth.login("bjstaff")
    with client.get("/provinces/11/summary.pdf") as r:
        cover = pdf_text(r.data, tmp_path, "bj").split("\f")[0]
    assert "报送单位：北京市市场监督管理局" in cover and "已于 2024-09-10 12:00 报送总局" in cover


def test_province_xlsx_has_the_figures_and_no_guest(client, auth, busy_event, tmp_path):
    import io

    from openpyxl import load_workbook

    staff, event = busy_event
    auth.login("bjstaff")
    with client.get("/provinces/11/summary.xlsx") as r:
        wb = load_workbook(io.BytesIO(r.data))
    events = list(wb.worksheets[0].values)
    assert events[1][:5] == ("堃喆犇养老服务体验", 5, 4, 0, 3)
    assert not any("嘉宾" in str(v) for ws in wb.worksheets for row in ws.values for v in row if v)


def test_reading_a_pdf_writes_nothing(client, auth, make_user, make_event, tmp_path):
    from experience.reports.models import EventSummary, ProvinceSummary

    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    for url in (f"/events/{event.id}/summary.pdf", "/provinces/11/summary.pdf"):
        with client.get(url) as r:
            assert r.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EventSummary)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProvinceSummary)) == 0
    r = client.post(f"/events/{event.id}/summary", data={"highlight": "²", "results_text": "x"})
    assert r.status_code == 302
