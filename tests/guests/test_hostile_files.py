"""Guest lists built to hurt: small on disk, huge inside. Each is refused from what the zip's
directory says, before openpyxl unpacks anything, with a message and nothing stored; a cell
that is only too long makes its row an error quoted by its first characters."""

import functools
import io
import random
import re
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import Babel
from openpyxl import Workbook

from experience.accounts.models import Role
from experience.core.errors import RuleError
from experience.extensions import db
from experience.guests import importer
from experience.guests.importer import MAX_CELL_CHARS, parse_guest_file
from experience.guests.models import Guest

MB = 1024 * 1024
#: the largest page a refusal or a preview of these files may make
PAGE_LIMIT = 200 * 1024


def workbook_with_cell(fill: bytes, times: int) -> bytes:
    """A real .xlsx (written by openpyxl) whose B3 holds ``fill`` repeated ``times`` times,
    written into the zip piece by piece so the test never holds the whole text."""
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "类别", "备注"])
    ws.append(["张三", "消费者", ""])
    ws.append(["李四", "消费者", "PLACEHOLDER"])
    buf = io.BytesIO()
    wb.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if b"PLACEHOLDER" not in body:
                dst.writestr(info.filename, body)
                continue
            head, tail = body.split(b"PLACEHOLDER")
            with dst.open(info.filename, "w", force_zip64=True) as f:
                f.write(head)
                for _ in range(times):
                    f.write(fill)
                f.write(tail)
    return out.getvalue()


def noise(chars: int, alphabet: str) -> str:
    """Text that zip packs no tighter than real text (random letters of ``alphabet``)."""
    return "".join(random.Random(chars).choices(alphabet, k=chars))


def xlsx_zip_bomb() -> bytes:
    """A workbook with one more part: 50 MB of zeros, packed to about 50 KB."""
    wb = Workbook()
    wb.active.append(["姓名", "类别"])
    buf = io.BytesIO()
    wb.save(buf)
    with (
        zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as z,
        z.open("xl/media/image1.bin", "w", force_zip64=True) as f,
    ):
        for _ in range(50):
            f.write(bytes(MB))
    return buf.getvalue()


@functools.cache
def cell_of_300_mb() -> bytes:
    """The file of the report: about 300 KB holding one cell of 300 MB."""
    return workbook_with_cell(b"x" * MB, 300)


@pytest.fixture
def no_openpyxl(monkeypatch):
    """The workbook must not reach openpyxl (an exception raised there would read as
    ``unreadable``, so the calls are counted and checked when the test ends)."""
    calls = []
    monkeypatch.setattr(importer, "load_workbook", lambda *args, **kwargs: calls.append(args))
    yield
    assert calls == []


def english(error: RuleError) -> str:
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        return str(error)


# -- The importer ------------------------------------------------------------------------------


def test_the_300_mb_cell_workbook_is_refused_before_openpyxl(no_openpyxl):
    assert len(cell_of_300_mb()) < 400 * 1024
    with pytest.raises(RuleError) as e:
        parse_guest_file(cell_of_300_mb(), "名单.xlsx")
    assert e.value.code == "too_big_inside"
    assert english(e.value).startswith("The workbook unpacks to far more than a guest list needs (over 20 MB")


def test_an_xlsx_zip_bomb_is_refused_before_openpyxl(no_openpyxl):
    with pytest.raises(RuleError) as e:
        parse_guest_file(xlsx_zip_bomb(), "名单.xlsx")
    assert e.value.code == "too_big_inside"


def test_a_30_mb_cell_given_to_openpyxl_makes_only_its_row_an_error():
    # openpyxl, like Excel, keeps 32,767 characters of a cell: the rest of a 300 MB cell is
    # written by hand, as above, and met by the limit on the whole workbook
    wb = Workbook()
    wb.active.append(["姓名", "类别", "备注"])
    wb.active.append(["张三", "消费者", "很长的备注" * (2 * MB)])  # 10 M characters, 30 MB
    wb.active.append(["李四", "消费者", ""])
    buf = io.BytesIO()
    wb.save(buf)
    first, second = parse_guest_file(buf.getvalue(), "名单.xlsx")
    [error] = first.errors
    assert error.code == "cell_too_long"
    assert error.params["value"] == "很长的备注" * 7 + "很长的备…"
    assert first.note == error.params["value"]
    assert second.ok
    assert english(error) == (
        f"Note holds more than {MAX_CELL_CHARS} characters, far more than a guest list needs; "
        f"it begins “{'很长的备注' * 7}很长的备…”."
    )


# -- The import page ---------------------------------------------------------------------------


def _stored(app) -> list[str]:
    folder = Path(app.config["UPLOAD_DIR"])
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _upload(client, event, data: bytes, name: str):
    return client.post(
        f"/events/{event.id}/guests/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


@pytest.fixture
def staff_event(auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    return event


@pytest.mark.parametrize("hostile", [cell_of_300_mb, xlsx_zip_bomb])
def test_a_hostile_workbook_is_refused_on_a_small_page_and_nothing_is_stored(
    app, client, staff_event, hostile, no_openpyxl
):
    r = _upload(client, staff_event, hostile(), "名单.xlsx")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert len(r.data) < PAGE_LIMIT
    assert "该工作簿解压后的内容远超一份邀请名单所需（超过 20 MB" in page
    assert "导入预览" not in page
    assert _stored(app) == []


def test_a_too_long_cell_is_quoted_on_the_preview_and_the_other_rows_import(app, client, staff_event):
    text = noise(400_000, "服务认证体验周活动方案嘉宾名单备注很长")  # zip packs it about 3×: let through
    r = _upload(client, staff_event, workbook_with_cell(text.encode(), 1), "名单.xlsx")
    page = r.get_data(as_text=True)
    assert len(r.data) < PAGE_LIMIT
    assert page.count('class="row-ok"') == 1
    assert page.count('class="row-error"') == 1
    assert f"备注超过 {MAX_CELL_CHARS} 个字符，远超邀请名单所需；开头为“{text[:39]}…”。" in page
    assert text[:40] not in page
    assert len(_stored(app)) == 1  # the preview, kept for the confirmation
    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    r = client.post(f"/events/{staff_event.id}/guests/import/confirm", data={"key": key, "filename": "名单.xlsx"})
    assert r.status_code == 302
    assert db.session.scalars(sa.select(Guest.name)).all() == ["张三"]
    assert _stored(app) == []
