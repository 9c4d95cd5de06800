"""The secretariat's desk as the secretariat meets it: every work found by its filters and
search, a page in a fixed number of statements, a selection's files as a zip that reads
back byte for byte, the list as .xlsx, and HQ's counts without a title; nobody else gets in."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from experience.accounts.models import Role
from experience.core import storage, uploads
from experience.core.audit import AuditEntry
from experience.extensions import db
from experience.units.models import UnitType
from experience.works import desk, services, submission
from experience.works.models import (
    FileCheck,
    FileKind,
    Recommendation,
    Work,
    WorkCategory,
    WorkFile,
)
from tests.conftest import NOW, PASSWORD
from tests.units.helpers import register_unit

TEXT = "认证让服务看得见。" * 20


def client_of(app, username: str):
    c = app.test_client()
    assert c.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return c


@pytest.fixture
def secretariat(make_user):
    return make_user(Role.SECRETARIAT, username="secret")


@pytest.fixture
def desk_client(app, secretariat):
    return client_of(app, "secret")


@pytest.fixture
def association(app):
    """A third unit: an association in Shanghai (31)."""
    return register_unit(
        province_code="31", credit_code="91310115591693856A", name="上海市认证协会", unit_type=UnitType.ASSOCIATION
    )


def add_file(work: Work, data: bytes, *, kind=FileKind.ORIGINAL, name="photo.jpg", check=FileCheck.PASSED, **values):
    """A stored file of a work as the checks leave it (the checks themselves are
    tests/works/test_jobs.py's business)."""
    key = uploads.store_bytes(data, "work", name.rpartition(".")[2])
    f = WorkFile(
        kind=kind,
        storage_key=key,
        filename=name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type={"jpg": "image/jpeg", "pdf": "application/pdf", "txt": "text/plain"}.get(
            name.rpartition(".")[2], "application/octet-stream"
        ),
        check_state=check,
        created_at=NOW,
        **values,
    )
    work.files.append(f)
    db.session.flush()
    return f


def typed_text_work(make_work, owner=None, **fields) -> Work:
    """A text work typed in, its declarations accepted: complete, not submitted."""
    work = make_work(owner, category=WorkCategory.TEXT, **fields)
    services.set_text(work, TEXT, actor=work.unit.account, now=NOW)
    services.accept_declarations(
        work, version=services.DECLARATION_VERSION, title=work.title, actor=work.unit.account, now=NOW
    )
    db.session.commit()
    return work


def with_scan(work: Work, *, read: bool = True) -> WorkFile:
    """The sealed form of the work's current version, as the scan upload accepts it."""
    submission.assign_number(work, actor=work.unit.account, now=NOW)
    scan = add_file(
        work, b"%PDF-1.4 sealed form", kind=FileKind.FORM_SCAN, name="scan.pdf", form_read=read, form_hash=""
    )
    scan.form_hash = submission.form_hash(work)
    db.session.commit()
    return scan


def submitted_work(make_work, owner=None, *, read: bool = True, now: datetime = NOW, **fields) -> Work:
    work = typed_text_work(make_work, owner, **fields)
    with_scan(work, read=read)
    submission.submit(work, actor=work.unit.account, now=now)
    db.session.commit()
    return work


def titles(page_html: str) -> list[str]:
    return re.findall(r'<a href="/works/\d+">([^<]*)</a>', page_html)


# -- The list: filters and search -------------------------------------------------------------


@pytest.fixture
def spread(make_work, unit, other_unit, association, secretariat, campaign):
    """Works in every state the filters tell apart."""
    draft = make_work(title="草稿作品", category=WorkCategory.VIDEO)
    complete = typed_text_work(make_work, title="待盖章作品")
    sent = submitted_work(make_work, other_unit, title="已报送作品")
    unread = submitted_work(make_work, association, read=False, title="登记表未识别作品")
    returned = submitted_work(make_work, title="退回作品")
    submission.send_back(returned, "请补充说明", date(2024, 8, 20), actor=secretariat, now=NOW)
    # a unit with an extension submits after the campaign's deadline: late
    submission.extend_deadline(other_unit, campaign, date(2024, 9, 10), "材料邮寄", actor=secretariat, now=NOW)
    late = submitted_work(make_work, other_unit, title="逾期作品", now=datetime(2024, 9, 5, 2, 0))
    refused = make_work(title="文件未通过作品")
    add_file(refused, b"not a jpeg", check=FileCheck.FAILED)
    services.refresh_check_state(refused)
    db.session.commit()
    return dict(draft=draft, complete=complete, sent=sent, unread=unread, returned=returned, late=late, refused=refused)


def test_the_desk_lists_every_work_with_its_status_and_problems(desk_client, spread):
    page = desk_client.get("/works/desk").get_data(as_text=True)
    assert sorted(titles(page)) == sorted(w.title for w in spread.values())
    assert "7" in re.search(r'class="desk-summary">(.*?)</p>', page, re.S).group(1)
    row = re.search(r"<tr>(?:(?!</tr>).)*登记表未识别作品.*?</tr>", page, re.S).group(0)
    assert "work-status-submitted" in row
    assert 'class="tag"' in row  # the unread form is marked
    row = re.search(r"<tr>(?:(?!</tr>).)*待盖章作品.*?</tr>", page, re.S).group(0)
    assert "work-status-awaiting_form" in row


@pytest.mark.parametrize(
    "args, expected",
    [
        ({"category": "text"}, {"complete", "sent", "unread", "returned", "late"}),
        ({"category": "video"}, {"draft"}),
        ({"province": "33"}, {"sent", "late"}),
        ({"unit_type": "association"}, {"unread"}),
        ({"status": "not_submitted"}, {"draft", "complete", "refused"}),
        ({"status": "draft"}, {"draft", "refused"}),
        ({"status": "complete"}, {"complete"}),
        ({"status": "submitted"}, {"sent", "unread", "late"}),
        ({"status": "returned"}, {"returned"}),
        ({"problem": "files_refused"}, {"refused"}),
        ({"problem": "scan_unread"}, {"unread"}),
        ({"problem": "late"}, {"late"}),
        ({"problem": "returned"}, {"returned"}),
        ({"problem": "any"}, {"refused", "unread", "late", "returned"}),
        ({"category": "text", "province": "33", "problem": "late"}, {"late"}),
        # a value that is no choice is ignored: an old bookmark lists everything
        (
            {"category": "poster", "status": "lost"},
            {"draft", "complete", "sent", "unread", "returned", "late", "refused"},
        ),
    ],
)
def test_each_filter_keeps_the_works_it_names(desk_client, spread, args, expected):
    page = desk_client.get("/works/desk", query_string=args).get_data(as_text=True)
    assert sorted(titles(page)) == sorted(spread[k].title for k in expected)


def test_the_search_finds_a_number_by_its_start_a_title_or_a_unit_case_insensitively(desk_client, spread):
    sent = spread["sent"]

    def found(q: str) -> set[str]:
        return set(titles(desk_client.get("/works/desk", query_string={"q": q}).get_data(as_text=True)))

    assert found(sent.number) == {sent.title}
    assert found(sent.number.lower()) == {sent.title}
    assert sent.title in found(sent.number[:9])  # a prefix: "2024-ZP-0"
    assert found(sent.number[-5:]) == set()  # the number only from its start
    assert found("退回") == {"退回作品"}
    assert found("上海市认证") == {"登记表未识别作品"}  # the unit's name
    assert found("柯兴科技") == {"已报送作品", "逾期作品"}


def test_percent_and_underscore_in_the_search_are_taken_literally(desk_client, make_work):
    for title in ("满意度100%的服务", "满意度1000的服务", "A_B认证", "AXB认证"):
        make_work(title=title)
    found = lambda q: set(titles(desk_client.get("/works/desk", query_string={"q": q}).get_data(as_text=True)))  # noqa: E731
    assert found("100%") == {"满意度100%的服务"}
    assert found("a_b") == {"A_B认证"}
    assert found("%") == {"满意度100%的服务"}
    assert found("_") == {"A_B认证"}


def test_the_secretariat_sees_the_contact_phone_in_full_and_the_submitted_time_in_beijing(desk_client, spread):
    page = desk_client.get("/works/desk", query_string={"q": "已报送"}).get_data(as_text=True)
    assert "13812345678" in page
    assert "2024-08-13 10:00" in page  # NOW is 02:00 UTC


def test_pages_hold_100_works_and_keep_the_filters(desk_client, make_work):
    for n in range(105):
        make_work(title=f"作品{n:03d}")
    first = desk_client.get("/works/desk", query_string={"q": "作品"}).get_data(as_text=True)
    second = desk_client.get("/works/desk", query_string={"q": "作品", "page": 2}).get_data(as_text=True)
    assert len(titles(first)) == 100
    assert titles(first)[0] == "作品104"  # newest first
    assert sorted(titles(second)) == ["作品000", "作品001", "作品002", "作品003", "作品004"]
    assert "page=2" in first and "q=%E4%BD%9C%E5%93%81" in first
    by_title = desk_client.get("/works/desk", query_string={"sort": "title", "page": 2}).get_data(as_text=True)
    assert titles(by_title) == ["作品100", "作品101", "作品102", "作品103", "作品104"]


def _works_with_everything(make_work, unit, other_unit, n: int) -> None:
    """``n`` works of two units with files, a form scan and a recommendation request each."""
    for i in range(n):
        work = make_work(unit if i % 2 else other_unit, title=f"作品{i}")
        add_file(work, b"x" * 10, name=f"p{i}.jpg")
        add_file(work, b"%PDF", kind=FileKind.FORM_SCAN, name="scan.pdf", form_read=bool(i % 3))
        work.recommendations.append(
            Recommendation(
                province_code=work.unit.province_code, requested_by_id=work.unit.account.id, requested_at=NOW
            )
        )
    db.session.commit()


def _statements(app, client, url: str) -> int:
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_a_page_takes_the_same_statements_for_10_works_as_for_100(app, desk_client, make_work, unit, other_unit):
    _works_with_everything(make_work, unit, other_unit, 10)
    few = _statements(app, desk_client, "/works/desk")
    _works_with_everything(make_work, unit, other_unit, 90)
    many = _statements(app, desk_client, "/works/desk")
    assert many == few
    assert few <= 12
    searched = _statements(app, desk_client, "/works/desk?q=%E4%BD%9C%E5%93%81&problem=any&sort=unit")
    assert searched == few


# -- The zip ----------------------------------------------------------------------------------


def _download(client, **form):
    return client.post("/works/desk/download", data=form)


def test_the_zip_holds_each_works_originals_and_sealed_form_byte_for_byte(desk_client, make_work):
    photos = make_work(title="../../养老/服务:认证?")
    first, second = os.urandom(300_000), os.urandom(200_000)
    add_file(photos, first, name="photo.jpg", position=1)
    add_file(photos, second, name="photo.jpg", position=2)  # the same name on the unit's computer
    add_file(photos, b"refused", name="bad.jpg", check=FileCheck.FAILED)
    add_file(photos, b"preview", kind=FileKind.PREVIEW_SCREEN, name="preview.jpg")
    text = submitted_work(make_work, title="认证让生活更美好")
    db.session.commit()

    r = _download(desk_client, scope="selected", work_id=[str(photos.id), str(text.id)])
    assert r.status_code == 200
    assert r.mimetype == "application/zip"
    assert r.is_streamed
    archive = zipfile.ZipFile(io.BytesIO(r.data))
    assert archive.testzip() is None
    names = archive.namelist()
    photo_folder = f"{photos.id}__.._养老_服务认证"  # separators and a leading ".." gone
    text_folder = f"{text.number}_认证让生活更美好"
    assert sorted(names) == sorted(
        [
            f"{photo_folder}/photo.jpg",
            f"{photo_folder}/photo (2).jpg",
            f"{text_folder}/作品正文.txt",
            f"{text_folder}/盖章登记表.pdf",
        ]
    )
    assert archive.read(f"{photo_folder}/photo.jpg") == first
    assert archive.read(f"{photo_folder}/photo (2).jpg") == second
    assert archive.read(f"{text_folder}/作品正文.txt").decode() == TEXT
    assert archive.read(f"{text_folder}/盖章登记表.pdf") == b"%PDF-1.4 sealed form"
    for name in names:
        assert "\\" not in name and ".." not in name.split("/")
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "works.download"))
    assert (entry.detail["works"], entry.detail["files"]) == (2, 4)
    assert entry.detail["bytes"] == len(first) + len(second) + len(TEXT.encode()) + len(b"%PDF-1.4 sealed form")


def test_all_works_matching_the_filters_go_into_the_zip(desk_client, make_work, other_unit):
    bj = make_work(title="北京的作品")
    add_file(bj, b"bj-photo", name="bj.jpg")
    zj = make_work(other_unit, title="浙江的作品")
    add_file(zj, b"zj-photo", name="zj.jpg")
    db.session.commit()
    r = _download(desk_client, scope="all", province="33")
    archive = zipfile.ZipFile(io.BytesIO(r.data))
    assert archive.namelist() == [f"{zj.id}_浙江的作品/zj.jpg"]


def test_the_zip_is_passed_on_chunk_by_chunk_as_it_is_written(app, make_work):
    work = make_work(title="视频")
    data = os.urandom(5 * storage.CHUNK + 123)
    add_file(work, data, name="video.mp4")
    db.session.commit()
    entries = desk.zip_entries([work])
    chunks = list(desk.stream_zip(storage.current(), entries))
    assert len(chunks) >= 5
    assert max(len(c) for c in chunks) <= storage.CHUNK + 1024  # never the whole archive at once
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.read(f"{work.id}_视频/video.mp4") == data
    assert archive.getinfo(f"{work.id}_视频/video.mp4").compress_type == zipfile.ZIP_STORED


def test_a_selection_beyond_the_limits_is_refused_with_the_reason(desk_client, make_work, monkeypatch):
    works = [make_work(title=f"作品{i}") for i in range(3)]
    for w in works:
        add_file(w, b"x" * 1000, name="p.jpg")
    db.session.commit()
    monkeypatch.setattr(desk, "ZIP_MAX_WORKS", 2)
    r = _download(desk_client, scope="selected", work_id=[str(w.id) for w in works])
    assert r.status_code == 302
    page = desk_client.get(r.headers["Location"]).get_data(as_text=True)
    assert "3" in page and "2" in page and "flash error" in page
    r = _download(desk_client, scope="all", q="作品")
    assert r.status_code == 302
    assert "q=" in r.headers["Location"]  # back to the same filters
    monkeypatch.setattr(desk, "ZIP_MAX_WORKS", 500)
    monkeypatch.setattr(desk, "ZIP_MAX_BYTES", 2500)
    r = _download(desk_client, scope="selected", work_id=[str(w.id) for w in works])
    assert r.status_code == 302
    r = _download(desk_client, scope="selected")
    assert r.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action == "works.download")) == 0


def test_a_zip_takes_only_the_campaigns_works(desk_client, make_work):
    work = make_work(title="作品")
    add_file(work, b"x", name="p.jpg")
    db.session.commit()
    r = _download(desk_client, scope="selected", work_id=["999999", "abc", "9" * 40])
    assert r.status_code == 302  # nothing to download


# -- The .xlsx --------------------------------------------------------------------------------


def test_the_xlsx_has_the_filtered_list_with_full_contacts_and_formulas_as_text(desk_client, make_work, spread):
    make_work(title='=HYPERLINK("http://evil.example","点我")', contact_phone="010-82260862")
    r = desk_client.get("/works/desk/export.xlsx", query_string={"status": "not_submitted"})
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.data)).active
    lines = list(sheet.iter_rows(values_only=True))
    header, body = lines[0], lines[1:]
    assert len(header) == 15
    by_title = {line[1].lstrip("'"): line for line in body}
    assert set(by_title) == {
        spread["draft"].title,
        spread["complete"].title,
        spread["refused"].title,
        '=HYPERLINK("http://evil.example","点我")',
    }
    evil = next(row for row in sheet.iter_rows(min_row=2) if "HYPERLINK" in row[1].value)
    assert evil[1].data_type == "s"
    assert evil[1].value.startswith("'=")
    assert evil[8].value == "010-82260862"  # in full
    assert by_title["待盖章作品"][4] == "914403001922038216"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "works.export"))
    assert entry.detail["works"] == 4
    assert entry.detail["filters"] == {"status": "not_submitted"}


def test_a_big_export_goes_to_the_worker_and_shows_its_progress(desk_client, make_work, monkeypatch):
    for i in range(3):
        make_work(title=f"作品{i}")
    monkeypatch.setattr(desk, "EXPORT_SYNC_MAX", 2)
    r = desk_client.get("/works/desk/export.xlsx")
    assert r.status_code == 302 and "/jobs/" in r.headers["Location"]
    job_page = desk_client.get(r.headers["Location"])
    assert job_page.status_code == 200
    with desk_client.get(r.headers["Location"] + "/result") as result:
        assert result.status_code == 200
        sheet = load_workbook(io.BytesIO(result.data)).active
    assert sorted(row[1] for row in sheet.iter_rows(min_row=2, values_only=True)) == ["作品0", "作品1", "作品2"]
    assert db.session.scalar(sa.select(AuditEntry.detail).where(AuditEntry.action == "works.export"))["via"] == "job"


# -- HQ's counts, and who gets in ---------------------------------------------------------------


def test_hq_counts_works_by_province_category_and_state_without_a_title(app, make_user, spread):
    make_user(Role.HQ, username="hqboss")
    page = client_of(app, "hqboss").get("/hq/works").get_data(as_text=True)
    zhejiang = re.search(r"<tr><td>浙江省</td>(.*?)</tr>", page).group(1)
    # text 2, photo 0, video 0, total 2; then submitted 2, returned 0, not submitted yet 0
    assert re.findall(r'<td class="num">(\d+)</td>', zhejiang) == ["2", "0", "0", "2"]
    assert re.findall(r'<td class="num by-state">(\d+)</td>', zhejiang) == ["2", "0", "0"]
    beijing = re.search(r"<tr><td>北京市</td>(.*?)</tr>", page).group(1)
    assert re.findall(r'<td class="num by-state">(\d+)</td>', beijing) == ["0", "1", "3"]
    for work in spread.values():
        assert work.title not in page
    assert "华为技术有限公司" not in page and "柯兴科技" not in page


@pytest.mark.parametrize("role", [Role.PROVINCE, Role.HQ, Role.ORGANIZER])
def test_only_the_secretariat_reaches_the_desk(app, make_user, make_work, role):
    work = make_work()
    make_user(role, "11", username="someone")
    c = client_of(app, "someone")
    assert c.get("/works/desk").status_code == 403
    assert c.get("/works/desk/export.xlsx").status_code == 403
    assert c.post("/works/desk/download", data={"work_id": str(work.id)}).status_code == 403


def test_a_unit_cannot_reach_the_desk_nor_download_its_own_work_there(app, unit, make_work):
    work = make_work()
    c = client_of(app, unit.credit_code)
    assert c.get("/works/desk").status_code == 403
    assert c.post("/works/desk/download", data={"work_id": str(work.id), "scope": "selected"}).status_code == 403
    assert c.get("/works/desk/export.xlsx").status_code == 403


def test_the_secretariats_menu_leads_to_the_desk(desk_client):
    assert 'href="/works/desk"' in desk_client.get("/").get_data(as_text=True)


def test_anonymous_is_sent_to_log_in(client):
    assert client.get("/works/desk").status_code == 302
    assert client.post("/works/desk/download").status_code == 302


def test_the_desk_and_the_counts_punctuate_chinese_the_chinese_way(app, desk_client, spread):
    from tests.test_chinese_text import ascii_punctuation_in_chinese

    for url in ("/works/desk", "/works/desk?problem=any&q=%E4%BD%9C%E5%93%81&page=1", "/hq/works"):
        assert ascii_punctuation_in_chinese(desk_client.get(url).get_data(as_text=True)) == []


def test_a_stored_file_gone_missing_is_found_before_the_zip_starts(desk_client, make_work):
    work = make_work(title="缺文件的作品")
    gone = add_file(work, b"photo bytes", name="gone.jpg")
    db.session.commit()
    storage.current().delete(gone.storage_key)
    r = _download(desk_client, scope="selected", work_id=[str(work.id)])
    assert r.status_code == 302  # back to the desk with the reason, not a zip cut short
    page = desk_client.get(r.headers["Location"]).get_data(as_text=True)
    assert "缺失" in page and "gone.jpg" in page
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "works.download")) is None
