"""The registration form (附件2) and its sealed scan, as a unit and the secretariat meet
them: the PDF read back with poppler and zxing, its number given once, scans made from it
accepted, read or flagged, and scans of other versions or other files refused."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image
from pypdf import PdfReader, PdfWriter
from werkzeug.datastructures import FileStorage

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from experience.works import regform, services, submission
from experience.works.models import (
    FileKind,
    Recommendation,
    RecommendationState,
    Work,
    WorkCategory,
    WorkFile,
)
from tests.conftest import NOW
from tests.test_chinese_text import ascii_punctuation_in_chinese
from tests.works.test_services import keys
from tests.works.test_views import client_of, post_file

#: 附件2's labels, in the order the form has them
LABELS = [
    "报送单位：",
    "作品名称",
    "作品类别",
    "文字类",
    "平面类",
    "视频类",
    "作品完成时间",
    "联系人",
    "联系电话/手机",
    "作品简介",
    "（500字以内）",
    "承诺书",
    "作品报送单位名称（加盖公章）：",
    "推荐单位意见",
    "注：“推荐单位意见”一栏为非必填项，推荐单位应为各级地方市场监管部门。",
]
#: 500 字 exactly: what the longest summary looks like on the form
SUMMARY_500 = ("服务认证让养老更安心，护理员持证上岗。" * 30)[:500]


def ready_work(make_work, **overrides) -> Work:
    """A text work with its text and its declarations: complete, its form printable."""
    work = make_work(category=WorkCategory.TEXT, **overrides)
    account = work.unit.account
    services.set_text(work, "一篇关于养老服务认证的文章。", actor=account, now=NOW)
    services.accept_declarations(work, version=services.DECLARATION_VERSION, title=work.title, actor=account, now=NOW)
    db.session.commit()
    return work


def printed(work: Work, *, full_contact: bool = True) -> bytes:
    """The form as the unit's first print makes it: the number given and committed first."""
    regform.ensure_number(work, actor=work.unit.account, now=NOW)
    db.session.commit()
    return regform.form_pdf(work, full_contact=full_contact)


def pdf_text(tmp_path: Path, pdf: bytes) -> str:
    path = tmp_path / "form.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True).stdout


def picture(tmp_path: Path, pdf: bytes, *, fmt: str = "jpeg", dpi: int = 150) -> bytes:
    """The form's page as a scanner would give it: a picture (poppler, not our reader)."""
    (tmp_path / "print.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", f"-{fmt}", "-r", str(dpi), "-singlefile", str(tmp_path / "print.pdf"), str(tmp_path / "scan")],
        check=True,
    )
    return (tmp_path / f"scan.{'jpg' if fmt == 'jpeg' else fmt}").read_bytes()


def white_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1240, 1754), "white").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def attach(work: Work, data: bytes, name: str) -> WorkFile:
    stored, codes = regform.receive_scan(FileStorage(io.BytesIO(data), name))
    scan = regform.attach_form_scan(work, stored, codes, actor=work.unit.account, now=NOW, ip="192.0.2.9")
    db.session.commit()
    return scan


def scans() -> list[WorkFile]:
    return list(db.session.scalars(sa.select(WorkFile).where(WorkFile.kind == FileKind.FORM_SCAN)))


# -- The PDF -------------------------------------------------------------------------------------


def test_the_form_has_annex_2s_labels_in_order_the_title_in_the_commitment_and_the_number(tmp_path, make_work):
    work = ready_work(make_work, summary=SUMMARY_500)
    pdf = printed(work)
    text = pdf_text(tmp_path, pdf)
    flat = re.sub(r"\s+", "", text)
    positions = [flat.find(re.sub(r"\s+", "", label)) for label in LABELS]
    assert -1 not in positions, [label for label, at in zip(LABELS, positions, strict=True) if at < 0]
    assert positions == sorted(positions)
    assert "我单位充分理解并自愿接受服务认证作品征集要求并承诺：《认证让养老更安心》是由我单位制作" in flat
    assert work.number == "2024-ZP-00001"
    assert "作品编号：2024-ZP-00001" in flat
    assert "√文字类" in flat  # the chosen category is ticked, the others not
    assert flat.count("√") == 1
    assert "2024年6月20日" in flat
    assert SUMMARY_500 in flat
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_the_forms_fonts_are_embedded_cjk_fonts(tmp_path, make_work):
    (tmp_path / "form.pdf").write_bytes(printed(ready_work(make_work)))
    fonts = subprocess.run(["pdffonts", str(tmp_path / "form.pdf")], capture_output=True, text=True, check=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows
    assert all(re.search(r"CJK|WenQuanYi|Micro", row) for row in rows), fonts
    assert all(" yes yes " in row for row in rows), fonts  # embedded: no boxes on another machine


def test_a_long_title_and_the_longest_summary_with_a_recommendation_still_fit_one_page(make_work):
    work = ready_work(make_work, title="认证" * 100, summary=SUMMARY_500)
    recommend(work)
    assert len(PdfReader(io.BytesIO(printed(work))).pages) == 1


def test_the_forms_qr_code_reads_back_as_the_number_and_the_version(tmp_path, make_work):
    work = ready_work(make_work)
    page = Image.open(io.BytesIO(picture(tmp_path, printed(work), fmt="png", dpi=150)))
    found = [b.text for b in zxingcpp.read_barcodes(page) if b.format == zxingcpp.BarcodeFormat.QRCode]
    assert found == [submission.qr_text(work)]
    assert found[0] == f"2024-ZP-00001/{submission.form_hash(work)}"
    assert found[0] in pdf_text(tmp_path, printed(work))  # printed under the code too


def test_two_works_get_two_numbers_and_a_deleted_works_number_is_never_given_again(make_work):
    first, second = ready_work(make_work), ready_work(make_work, title="第二件作品")
    printed(first)
    printed(second)
    assert (first.number, second.number) == ("2024-ZP-00001", "2024-ZP-00002")
    printed(first)
    assert first.number == "2024-ZP-00001"  # printing again keeps it
    services.delete_work(second, actor=second.unit.account, now=NOW)
    db.session.commit()
    third = ready_work(make_work, title="第三件作品")
    printed(third)
    assert third.number == "2024-ZP-00003"
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "work.number")).all()
    assert len(entries) == 3


def recommend(work: Work) -> Recommendation:
    """The province's recommendation, as the recommendation's rules leave it."""
    rec = Recommendation(
        work=work,
        province_code="11",
        state=RecommendationState.RECOMMENDED,
        requested_by_id=work.unit.account.id,
        requested_at=NOW,
        decided_at=NOW,
        text_version=submission.RECOMMENDATION_VERSION,
    )
    db.session.add(rec)
    db.session.commit()
    return rec


def test_the_recommendation_box_is_empty_until_the_province_recommends(tmp_path, make_work):
    work = ready_work(make_work)
    before = re.sub(r"\s+", "", pdf_text(tmp_path, printed(work)))
    assert "该作品符合服务认证作品征集要求" not in before
    assert "推荐单位名称（加盖公章）" not in before
    version = submission.form_hash(work)
    recommend(work)
    after = re.sub(r"\s+", "", pdf_text(tmp_path, printed(work)))
    assert "该作品符合服务认证作品征集要求。我单位同意推荐该作品参加服务认证作品征集活动。" in after
    assert "推荐单位名称（加盖公章）：北京市市场监督管理局" in after
    assert "2024年8月13日" in after  # the day it was given, in Beijing
    assert submission.form_hash(work) == version  # a sealed form stays valid when it comes


def test_the_provinces_copy_of_the_form_masks_the_phone(tmp_path, make_work):
    work = ready_work(make_work)
    printed(work)
    assert "13812345678" in pdf_text(tmp_path, regform.form_pdf(work, full_contact=True))
    masked = pdf_text(tmp_path, regform.form_pdf(work, full_contact=False))
    assert "13812345678" not in masked
    assert "138****5678" in masked


def test_an_incomplete_work_has_no_form(make_work):
    work = make_work(category=WorkCategory.TEXT)
    assert regform.form_refusal(work).code == "form_not_ready"
    services.set_text(work, "正文。", actor=work.unit.account, now=NOW)
    assert regform.form_refusal(work).code == "form_declarations"
    services.accept_declarations(
        work, version=services.DECLARATION_VERSION, title=work.title, actor=work.unit.account, now=NOW
    )
    assert regform.form_refusal(work) is None


# -- Scans ---------------------------------------------------------------------------------------


def test_a_scan_of_the_printed_form_is_accepted_and_read(tmp_path, make_work):
    work = ready_work(make_work)
    scan = attach(work, picture(tmp_path, printed(work)), "盖章登记表.jpg")
    assert (scan.form_read, scan.form_hash, scan.content_type) == (True, submission.form_hash(work), "image/jpeg")
    assert scan.filename == "盖章登记表.jpg"
    assert len(scan.sha256) == 64
    assert scan.size > 0
    assert submission.status(work) is submission.Status.READY
    assert regform.scan_state(work) == regform.ScanState.CURRENT
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "work.form_scan"))
    assert entry.detail["read"] is True


def test_the_form_pdf_itself_is_read_as_a_pdf_scan(make_work):
    work = ready_work(make_work)
    scan = attach(work, printed(work), "scan.pdf")
    assert (scan.form_read, scan.content_type) == (True, "application/pdf")


def test_a_jpeg_turned_by_its_exif_orientation_is_read(tmp_path, make_work):
    work = ready_work(make_work)
    page = Image.open(io.BytesIO(picture(tmp_path, printed(work)))).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 8  # shown turned back by 90°: a phone held sideways
    buf = io.BytesIO()
    page.save(buf, "JPEG", quality=85, exif=exif)
    assert attach(work, buf.getvalue(), "phone.jpg").form_read


def test_uploading_a_scan_leaves_the_forms_version_as_it_was(tmp_path, make_work):
    work = ready_work(make_work)
    pdf = printed(work)
    version = submission.form_hash(work)
    attach(work, picture(tmp_path, pdf), "scan.jpg")
    assert submission.form_hash(work) == version
    assert submission.scan_current(work)


def test_a_scan_of_an_older_version_is_refused_with_the_reason_and_not_stored(tmp_path, make_work):
    work = ready_work(make_work)
    old = picture(tmp_path, printed(work))
    services.update_work(work, actor=work.unit.account, now=NOW, summary="改过的作品简介。")
    db.session.commit()
    before = keys()
    with pytest.raises(RuleError) as e:
        attach(work, old, "old.jpg")
    assert e.value.code == "scan_outdated"
    assert "重新打印" in str(e.value)
    db.session.rollback()
    assert keys() == before
    assert scans() == []


def test_a_scan_of_another_works_form_is_refused_naming_that_work(tmp_path, make_work):
    work, other = ready_work(make_work), ready_work(make_work, title="另一件作品")
    printed(work)
    others_scan = picture(tmp_path, printed(other))
    with pytest.raises(RuleError) as e:
        attach(work, others_scan, "scan.jpg")
    assert e.value.code == "scan_other_work"
    assert other.number in str(e.value)
    assert work.number in str(e.value)


def test_a_blank_scan_is_accepted_unread_and_flagged(make_work):
    work = ready_work(make_work)
    printed(work)
    scan = attach(work, white_jpeg(), "blank.jpg")
    assert scan.form_read is False
    assert regform.scan_state(work) == regform.ScanState.UNREAD
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "work.form_scan"))
    assert entry.detail["read"] is False


def test_a_new_scan_replaces_the_old_one_and_its_bytes_go_on_commit(tmp_path, make_work):
    work = ready_work(make_work)
    printed(work)
    first = attach(work, white_jpeg(), "first.jpg")
    first_key = first.storage_key
    assert first_key in keys()
    second = attach(work, picture(tmp_path, regform.form_pdf(work, full_contact=True)), "second.jpg")
    assert [s.id for s in scans()] == [second.id]
    assert first_key not in keys()
    assert second.form_read


def test_a_change_after_the_scan_makes_it_out_of_date(tmp_path, make_work):
    work = ready_work(make_work)
    attach(work, picture(tmp_path, printed(work)), "scan.jpg")
    services.update_work(work, actor=work.unit.account, now=NOW, contact_name="李四")
    db.session.commit()
    assert regform.scan_state(work) == regform.ScanState.OUTDATED
    assert submission.status(work) is submission.Status.AWAITING_FORM


def test_a_submitted_work_takes_no_new_scan(tmp_path, make_work):
    work = ready_work(make_work)
    attach(work, picture(tmp_path, printed(work)), "scan.jpg")
    submission.submit(work, actor=work.unit.account, now=NOW)
    db.session.commit()
    with pytest.raises(RuleError) as e:
        attach(work, white_jpeg(), "again.jpg")
    assert e.value.code == "wrong_state"


def test_a_scan_before_the_form_was_printed_is_refused(make_work):
    work = ready_work(make_work)
    with pytest.raises(RuleError) as e:
        attach(work, white_jpeg(), "blank.jpg")
    assert e.value.code == "scan_needs_number"


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "found"),
    [
        (_png(), "scan.jpg", "PNG图片"),
        (b"<!DOCTYPE html><html><body>%PDF-1.4</body></html>", "scan.jpg", "网页文件"),
        (b"%PDF-1.4\n%%EOF\n", "scan.pdf", "无法打开的PDF"),
        ("盖章登记表".encode() * 100, "scan.pdf", "既不是PDF文件也不是图片"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 500, "scan.jpg", "已损坏或不完整的JPG"),
    ],
)
def test_a_file_that_is_neither_pdf_nor_jpeg_is_refused_by_its_content_and_not_stored(make_work, data, name, found):
    work = ready_work(make_work)
    printed(work)
    before = keys()
    with pytest.raises(RuleError) as e:
        attach(work, data, name)
    assert e.value.code == "scan_type"
    assert found in str(e.value)
    assert name in str(e.value)
    assert keys() == before


def test_a_scan_over_20_mb_is_refused_before_it_is_read(make_work):
    before = keys()
    with pytest.raises(RuleError) as e:
        regform.receive_scan(FileStorage(io.BytesIO(b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024 - 2)), "big.jpg"))
    assert e.value.code == "scan_too_large"
    assert keys() == before


def test_a_jpeg_claiming_more_than_100_million_pixels_is_refused_unread(make_work):
    buf = io.BytesIO()
    Image.new("L", (64, 64), "white").save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (9000).to_bytes(2, "big") + (12000).to_bytes(2, "big")  # 108 million pixels
    with pytest.raises(RuleError) as e:
        regform.receive_scan(FileStorage(io.BytesIO(bytes(data)), "huge.jpg"))
    assert e.value.code == "scan_too_many_pixels"
    assert "108" in str(e.value)


def test_a_pdf_page_claiming_to_be_five_metres_wide_is_read_smaller(tmp_path):
    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(14400, 14400)
    writer.write(out)
    (tmp_path / "huge.pdf").write_bytes(out.getvalue())
    assert regform.read_codes(tmp_path / "huge.pdf", "application/pdf") == []


def test_only_the_first_three_pages_of_a_pdf_are_read(tmp_path, make_work):
    work = ready_work(make_work)
    form = PdfReader(io.BytesIO(printed(work)))
    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(595, 842)
    writer.add_page(form.pages[0])
    writer.write(tmp_path / "four.pdf")
    assert regform.read_codes(tmp_path / "four.pdf", "application/pdf") == []
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_blank_page(595, 842)
    writer.add_page(form.pages[0])
    writer.write(tmp_path / "three.pdf")
    assert regform.read_codes(tmp_path / "three.pdf", "application/pdf") == [submission.qr_text(work)]


# -- Through the pages ----------------------------------------------------------------------------


@pytest.fixture
def as_unit(app, unit):
    return client_of(app, unit.credit_code)


@pytest.fixture
def readers(app, make_user, other_unit):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    make_user(Role.PROVINCE, "33", username="zjstaff")
    make_user(Role.SECRETARIAT, username="secret")
    return {
        name: client_of(app, username)
        for name, username in [
            ("province", "bjstaff"),
            ("province_other", "zjstaff"),
            ("secretariat", "secret"),
            ("other_unit", other_unit.credit_code),
        ]
    }


def test_the_unit_prints_the_form_and_its_first_print_gives_the_number(tmp_path, app, make_work, as_unit):
    work = ready_work(make_work)
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert "首次打印登记表时生成" in page
    assert f'href="/works/{work.id}/form.pdf"' in page
    r = as_unit.get(f"/works/{work.id}/form.pdf")
    assert r.status_code == 200
    assert r.mimetype == "application/pdf"
    assert r.headers["Cache-Control"] == "no-store"
    work = db.session.get(Work, work.id)
    assert work.number == "2024-ZP-00001"
    assert "2024-ZP-00001" in pdf_text(tmp_path, r.data)
    assert as_unit.get(f"/works/{work.id}/form.pdf").status_code == 200
    assert db.session.get(Work, work.id).number == "2024-ZP-00001"
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action == "work.number")) == 1


def test_the_form_is_chinese_whatever_the_readers_language(tmp_path, app, make_work, as_unit):
    work = ready_work(make_work)
    as_unit.post("/language", data={"lang": "en"})
    assert "Registration form" in as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    text = pdf_text(tmp_path, as_unit.get(f"/works/{work.id}/form.pdf").data)
    assert "服务认证作品登记表" in text
    assert "承诺书" in text


def test_an_incomplete_work_says_in_chinese_why_its_form_cannot_be_printed(app, make_work, as_unit):
    work = make_work(category=WorkCategory.TEXT)
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert "作品完整后方可打印登记表" in page
    assert "form.pdf" not in page
    r = as_unit.get(f"/works/{work.id}/form.pdf")
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/works/{work.id}#regform")
    assert "作品完整后方可打印登记表" in as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert db.session.get(Work, work.id).number is None


def test_the_unit_uploads_the_scan_and_the_page_says_it_is_current(tmp_path, app, make_work, as_unit):
    work = ready_work(make_work)
    jpg = picture(tmp_path, as_unit.get(f"/works/{work.id}/form.pdf").data)
    r = post_file(as_unit, f"/works/{work.id}/form-scan", {"scan": (io.BytesIO(jpg), "盖章登记表.jpg")})
    assert r.status_code == 302
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert "盖章登记表已上传，二维码已识别" in page
    assert "有效：二维码已识别" in page
    scan = scans()[0]
    assert f"/works/files/{scan.id}?v=" in page
    served = as_unit.get(f"/works/files/{scan.id}")
    assert served.status_code == 200
    assert served.data == jpg
    served.close()


def test_a_png_named_jpg_is_refused_on_the_page_in_chinese(app, make_work, as_unit):
    work = ready_work(make_work)
    as_unit.get(f"/works/{work.id}/form.pdf")
    before = keys()
    r = post_file(as_unit, f"/works/{work.id}/form-scan", {"scan": (io.BytesIO(_png()), "scan.jpg")})
    assert r.status_code == 302
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert "扫描件须为PDF或JPG图片，但“scan.jpg”是PNG图片" in page
    assert keys() == before
    assert scans() == []


def test_an_unread_scan_is_flagged_to_the_unit_and_the_secretariat(app, make_work, as_unit, readers):
    work = ready_work(make_work)
    as_unit.get(f"/works/{work.id}/form.pdf")
    post_file(as_unit, f"/works/{work.id}/form-scan", {"scan": (io.BytesIO(white_jpeg()), "blank.jpg")})
    unit_page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert "已接收，二维码未识别" in unit_page
    assert "请上传更清晰的扫描件" in unit_page
    secretariat_page = readers["secretariat"].get(f"/works/{work.id}").get_data(as_text=True)
    assert ascii_punctuation_in_chinese(unit_page) == []
    assert ascii_punctuation_in_chinese(secretariat_page) == []
    assert "已接收，二维码未识别" in secretariat_page
    assert "请人工核对该扫描件是否为本作品（编号2024-ZP-00001）的盖章登记表" in secretariat_page
    assert 'name="scan"' not in secretariat_page


def test_who_may_print_and_upload(tmp_path, app, make_work, as_unit, readers):
    work = ready_work(make_work)
    form, upload = f"/works/{work.id}/form.pdf", f"/works/{work.id}/form-scan"
    # before the unit's first print there is no form: the readers find none, and no number is given
    for name in ("province", "secretariat", "province_other", "other_unit"):
        assert readers[name].get(form).status_code == 404, name
    assert db.session.get(Work, work.id).number is None
    pdf = as_unit.get(form).data
    jpg = picture(tmp_path, pdf)
    for name in ("province", "secretariat"):
        r = readers[name].get(form)
        assert r.status_code == 200, name
        assert "2024-ZP-00001" in pdf_text(tmp_path, r.data)
    province_text = pdf_text(tmp_path, readers["province"].get(form).data)
    assert "138****5678" in province_text
    assert "13812345678" not in province_text
    for name in ("province_other", "other_unit"):
        assert readers[name].get(form).status_code == 404, name
    for name in ("province", "secretariat", "province_other", "other_unit"):
        r = post_file(readers[name], upload, {"scan": (io.BytesIO(jpg), "scan.jpg")})
        assert r.status_code == 404, name
    assert scans() == []
    assert 'name="scan"' not in readers["province"].get(f"/works/{work.id}").get_data(as_text=True)
    assert 'name="scan"' in as_unit.get(f"/works/{work.id}").get_data(as_text=True)
