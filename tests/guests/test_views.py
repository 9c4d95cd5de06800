import io
import zipfile

import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import Guest


def _messy_xlsx() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["2024年服务认证体验活动邀请名单"])  # a title row above the header
    ws.append(["姓名", "类别", "级别", "单位", "职务", "手机号", "备注"])
    ws.append(["张三 ", "市政协委员", "", "朝阳区政协", "委员", 13812341234, ""])  # phone as a number
    ws.append([None, None, None, None, None, None, None])  # blank row
    ws.append(["李四", "消费者", "", "", "", "＋８６ １３９００００１１１１", ""])  # full-width, +86
    ws.append(["王五", "外星人", "", "", "", "", ""])  # unknown category
    ws.append(["赵六", "新闻媒体", "", "北京日报", "记者", "12345", ""])  # bad phone
    ws.append(['=HYPERLINK("http://x")', "消费者", "", "", "", "", ""])  # formula-like name, typed as text
    ws.cell(row=ws.max_row, column=1).data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _gbk_csv() -> bytes:
    text = "姓名,类别,单位,手机号\r\n钱七,人大代表,市人大,86-13700001111\r\n孙八,未知类别,,\r\n"
    return text.encode("gbk")


def _upload(client, event, data, name):
    return client.post(
        f"/events/{event.id}/guests/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def _confirm(client, event, page):
    import re

    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    filename = re.search(r'name="filename" value="([^"]*)"', page).group(1)
    return client.post(f"/events/{event.id}/guests/import/confirm", data={"key": key, "filename": filename})


def test_messy_xlsx_preview_then_import_then_reimport(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    page = _upload(client, event, _messy_xlsx(), "名单.xlsx").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 0  # a preview only
    assert page.count('class="row-error"') == 2 and page.count('class="row-ok"') == 3
    assert "138****1234" in page and "13812341234" not in page
    _confirm(client, event, page)
    guests = {g.name: g for g in db.session.scalars(sa.select(Guest))}
    assert set(guests) == {"张三", "李四", '=HYPERLINK("http://x")'}
    assert guests["张三"].category is GuestCategory.CPPCC_MEMBER and guests["张三"].level == "city"
    assert guests["张三"].phone == "13812341234" and guests["李四"].phone == "13900001111"
    again = _upload(client, event, _messy_xlsx(), "名单.xlsx").get_data(as_text=True)
    assert again.count('class="row-ok"') == 0
    _confirm(client, event, again) if 'name="key"' in again else None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 3  # nothing doubled
    assert db.session.scalar(sa.select(AuditEntry.detail).where(AuditEntry.action == "guest.import"))["imported"] == 3


def test_gbk_csv_from_chinese_excel(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    page = _upload(client, event, _gbk_csv(), "名单.csv").get_data(as_text=True)
    assert page.count('class="row-ok"') == 1 and page.count('class="row-error"') == 1
    _confirm(client, event, page)
    guest = db.session.scalar(sa.select(Guest))
    assert guest.name == "钱七" and guest.phone == "13700001111" and guest.category is GuestCategory.NPC_DEPUTY


def test_unreadable_upload_is_refused_in_chinese(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    page = _upload(client, event, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "list.xlsx").get_data(as_text=True)
    assert 'class="errors"' in page
    r = client.post(f"/events/{event.id}/guests/import/confirm", data={"key": "import-nothere", "filename": "x.xlsx"})
    assert r.status_code == 302


def test_add_edit_revoke_and_remove_a_guest(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    form = {
        "name": "<script>alert(1)</script>",
        "category": "npc_deputy",
        "level": "national",
        "organisation": "全国人大",
        "title": "代表",
        "phone": "138 1234 5678",
        "note": "",
    }
    assert client.post(f"/events/{event.id}/guests", data=form).status_code == 302
    page = client.post(f"/events/{event.id}/guests", data={**form, "name": "另一人"}).get_data(as_text=True)
    assert "已在名单" in page or "手机号" in page  # the same mobile twice
    listing = client.get(f"/events/{event.id}/guests").get_data(as_text=True)
    assert "&lt;script&gt;" in listing and "<script>alert" not in listing and "138****5678" in listing
    guest = db.session.scalar(sa.select(Guest))
    edit = client.get(f"/guests/{guest.id}").get_data(as_text=True)
    assert "13812345678" in edit  # the one page that shows the whole number
    assert f"/c/{guest.code}" in edit
    with client.get(f"/guests/{guest.id}/qr.png") as r:
        assert r.data.startswith(b"\x89PNG")
    old = guest.code
    client.post(f"/guests/{guest.id}/revoke")
    assert db.session.get(Guest, guest.id).code != old
    client.post(f"/guests/{guest.id}/delete")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 0


def test_export_masks_phones_and_keeps_formulas_as_text(client, auth, make_user, make_event, make_guest):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    make_guest(event, name="=1+2", phone="13812341234", organisation="@SUM(A1)")
    auth.login("bjstaff")
    with client.get(f"/events/{event.id}/guests.xlsx") as r:
        data = r.data
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()
    row = list(load_workbook(io.BytesIO(data)).active.values)[1]
    assert row[0] == "=1+2" and row[5] == "138****1234" and row[3] == "@SUM(A1)"
    assert (
        db.session.scalar(sa.select(AuditEntry.detail).where(AuditEntry.action == "export.xlsx"))["export"]
        == "guest_list"
    )
    with client.get(f"/events/{event.id}/guests/template.xlsx") as r:
        assert load_workbook(io.BytesIO(r.data)).active is not None
