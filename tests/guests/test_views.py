import io
import re
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.events.models import Event, GuestCategory
from experience.extensions import db
from experience.guests import services
from experience.guests.models import Guest, RevokedCode, Salutation
from tests.conftest import PASSWORD, field_errors


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
    assert "共 5 行，其中 0 行可以导入。" in again and "位嘉宾</button>" not in again
    r = _confirm(client, event, again)  # confirmed all the same (a stale tab): the rows are checked again
    assert r.status_code == 302
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
    # the same mobile twice: refused, naming who already has it
    assert "该手机号码已在邀请名单中（&lt;script&gt;alert(1)&lt;/script&gt;）。" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 1
    listing = client.get(f"/events/{event.id}/guests").get_data(as_text=True)
    assert "&lt;script&gt;" in listing and "<script>alert" not in listing and "138****5678" in listing
    guest = db.session.scalar(sa.select(Guest))
    edit = client.get(f"/guests/{guest.id}").get_data(as_text=True)
    assert "13812345678" in edit  # the one page that shows the whole number
    assert f"/c/{guest.code}" in edit
    with client.get(f"/guests/{guest.id}/qr.png") as r:
        assert r.data.startswith(b"\x89PNG")
    old = guest.code
    client.post(f"/guests/{guest.id}/revoke", data={"confirmed": "1"})
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
    assert row[0] == "'=1+2" and row[5] == "138****1234" and row[3] == "'@SUM(A1)"  # defused formulas
    assert (
        db.session.scalar(sa.select(AuditEntry.detail).where(AuditEntry.action == "export.xlsx"))["export"]
        == "guest_list"
    )
    with client.get(f"/events/{event.id}/guests/template.xlsx") as r:
        assert load_workbook(io.BytesIO(r.data)).active is not None


# -- editing a guest ------------------------------------------------------------------------


def _guest_form(guest, **changes) -> dict:
    """The edit form as the page fills it in, with some fields changed."""
    data = {
        "name": guest.name,
        "category": guest.category.value,
        "level": guest.level or "",
        "organisation": guest.organisation,
        "title": guest.title,
        "phone": guest.phone or "",
        "note": guest.note,
    }
    return {**data, **changes}


@pytest.fixture
def bj_guest(client, auth, make_user, make_event, make_guest):
    """A guest of a Beijing event, with Beijing's staff logged in."""
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    guest = make_guest(make_event(actor=staff), name="张三", organisation="朝阳区政协")
    auth.login("bjstaff")
    return guest


def test_staff_edit_a_guest_and_are_told_so(client, bj_guest):
    r = client.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, name="张三丰", phone="139 0000 1111"))
    assert r.status_code == 302 and r.headers["Location"] == f"/guests/{bj_guest.id}"
    assert "嘉宾信息已保存。" in client.get(r.headers["Location"]).get_data(as_text=True)
    saved = db.session.get(Guest, bj_guest.id)
    assert (saved.name, saved.phone) == ("张三丰", "13900001111")


def test_a_guest_edit_is_in_the_audit_log(client, bj_guest):
    client.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, title="委员"))
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "guest.update"))
    assert (entry.actor_name, entry.target_id, entry.detail["fields"]) == ("bjstaff", str(bj_guest.id), ["title"])


def test_an_edit_with_a_bad_mobile_is_refused_in_chinese(client, bj_guest):
    r = client.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, name="张三丰", phone="12345"))
    assert r.status_code == 200
    assert field_errors(r.get_data(as_text=True)) == {"phone": ["请填写 11 位手机号码，或不填。"]}
    assert db.session.get(Guest, bj_guest.id).name == "张三"


def test_an_edit_without_a_name_is_refused_in_chinese(client, bj_guest):
    r = client.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, name="  "))
    assert field_errors(r.get_data(as_text=True)) == {"name": ["此项为必填项。"]}
    assert db.session.get(Guest, bj_guest.id).name == "张三"


def test_an_edit_to_another_guests_mobile_names_that_guest(client, bj_guest, make_guest):
    make_guest(bj_guest.event, name="赵六", phone="13900001111")
    r = client.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, phone="13900001111"))
    assert field_errors(r.get_data(as_text=True)) == {"phone": ["该手机号码已在邀请名单中（赵六）。"]}
    assert db.session.get(Guest, bj_guest.id).phone is None


def test_an_edit_into_another_guest_is_refused_at_the_name(client, bj_guest, make_guest):
    make_guest(bj_guest.event, name="孙八", organisation="北京日报")
    r = client.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, name="孙八", organisation="北京日报"))
    assert field_errors(r.get_data(as_text=True)) == {"name": ["北京日报的孙八已在邀请名单中。"]}
    assert db.session.get(Guest, bj_guest.id).name == "张三"


def _logged_in(app, username):
    """A second browser, logged in as ``username``."""
    other = app.test_client()
    other.post("/login", data={"username": username, "password": PASSWORD})
    return other


def test_another_provinces_staff_can_neither_see_nor_edit_a_guest(app, bj_guest, make_user):
    make_user(Role.PROVINCE, "33", username="zjstaff")
    zj = _logged_in(app, "zjstaff")
    assert zj.get(f"/guests/{bj_guest.id}").status_code == 404
    assert zj.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, name="改名")).status_code == 404
    assert db.session.get(Guest, bj_guest.id).name == "张三"
    denied = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert [(e.actor_name, e.target_type, e.target_id) for e in denied] == [
        ("zjstaff", "event", str(bj_guest.event_id))
    ] * 2


def test_hq_cannot_open_a_guest(app, bj_guest, make_user):
    make_user(Role.HQ, username="hqboss")
    hq = _logged_in(app, "hqboss")
    assert hq.get(f"/guests/{bj_guest.id}").status_code == 404
    assert hq.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, name="改名")).status_code == 404
    assert db.session.get(Guest, bj_guest.id).name == "张三"


def test_an_organiser_of_another_event_cannot_edit_a_guest(app, bj_guest, make_user):
    make_user(Role.ORGANIZER, "11", username="bjorg")
    r = _logged_in(app, "bjorg").post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, title="改职务"))
    assert r.status_code == 404
    assert db.session.get(Guest, bj_guest.id).title == ""


def test_the_events_organiser_edits_its_guests(app, bj_guest, make_user):
    organiser = make_user(Role.ORGANIZER, "11", username="bjorg")
    event = db.session.get(Event, bj_guest.event_id)
    event.organizers.append(organiser)
    db.session.commit()
    r = _logged_in(app, "bjorg").post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, title="主任"))
    assert r.status_code == 302
    assert db.session.get(Guest, bj_guest.id).title == "主任"


def test_an_import_preview_confirms_only_into_its_event_by_its_uploader_within_a_day(
    app, client, auth, make_user, make_event, monkeypatch
):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    make_user(Role.PROVINCE, "11", username="bjother")
    event, other_event = make_event(actor=staff), make_event(actor=staff)
    auth.login("bjstaff")
    page = _upload(client, event, _gbk_csv(), "名单.csv").get_data(as_text=True)
    key = re.search(r'name="key" value="([^"]+)"', page).group(1)

    def confirm(event_id):
        client.post(f"/events/{event_id}/guests/import/confirm", data={"key": key, "filename": "名单.csv"})
        return db.session.scalar(sa.select(sa.func.count()).select_from(Guest))

    assert confirm(other_event.id) == 0  # made for another event
    auth.logout()
    auth.login("bjother")
    assert confirm(event.id) == 0  # made for another person, same province and event
    auth.logout()
    auth.login("bjstaff")
    monkeypatch.setattr(services, "PREVIEW_TTL", timedelta(seconds=-1))
    assert confirm(event.id) == 0  # older than a day
    monkeypatch.undo()
    assert confirm(event.id) == 1  # the one good row, into its own event


# -- Withdrawing an invitation asks first ------------------------------------------------------


def test_withdrawing_an_invitation_asks_once_more_and_changes_nothing_until_confirmed(client, bj_guest):
    old = bj_guest.code
    first = client.post(f"/guests/{bj_guest.id}/revoke")
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert "确定作废张三的邀请码并重新生成吗？" in page and "立即失效" in page
    assert 'name="confirmed" value="1"' in page and f'href="/guests/{bj_guest.id}"' in page  # or go back
    assert db.session.get(Guest, bj_guest.id).code == old
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RevokedCode)) == 0

    r = client.post(f"/guests/{bj_guest.id}/revoke", data={"confirmed": "1"})
    assert r.status_code == 302 and r.headers["Location"] == f"/guests/{bj_guest.id}"
    assert db.session.get(Guest, bj_guest.id).code != old
    assert db.session.scalar(sa.select(RevokedCode.code)) == old
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "guest.code_revoke"))
    assert (entry.actor_name, entry.target_id) == ("bjstaff", str(bj_guest.id))
    assert "原邀请码已作废" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_another_provinces_staff_get_no_question_to_withdraw_an_invitation(app, bj_guest, make_user):
    make_user(Role.PROVINCE, "33", username="zjstaff")
    zj = _logged_in(app, "zjstaff")
    assert zj.post(f"/guests/{bj_guest.id}/revoke").status_code == 404
    assert zj.post(f"/guests/{bj_guest.id}/revoke", data={"confirmed": "1"}).status_code == 404
    assert db.session.get(Guest, bj_guest.id).code == bj_guest.code


# -- The salutation (称谓) ------------------------------------------------------------------------


def test_staff_choose_a_salutation_and_the_invitation_text_uses_it(client, bj_guest):
    page = client.get(f"/guests/{bj_guest.id}").get_data(as_text=True)
    assert (
        '<option selected value="">—</option><option value="mr">先生</option><option value="ms">女士</option>' in page
    )
    r = client.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, salutation="ms"))
    assert r.status_code == 302
    assert db.session.get(Guest, bj_guest.id).salutation is Salutation.MS
    page = client.get(f"/guests/{bj_guest.id}").get_data(as_text=True)
    assert '<option selected value="ms">女士</option>' in page
    assert "尊敬的张三女士：" in page  # the text to copy and send
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "guest.update"))
    assert entry.detail["fields"] == ["salutation"]
    client.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, salutation=""))
    assert db.session.get(Guest, bj_guest.id).salutation is None


def test_a_salutation_that_is_not_on_the_list_is_refused_and_nothing_saved(client, bj_guest):
    r = client.post(f"/guests/{bj_guest.id}", data=_guest_form(bj_guest, name="张三丰", salutation="dr"))
    assert r.status_code == 200
    assert field_errors(r.get_data(as_text=True)) == {"salutation": ["不是有效的选择。"]}
    saved = db.session.get(Guest, bj_guest.id)
    assert (saved.name, saved.salutation) == ("张三", None)


def test_a_guest_added_with_a_salutation_keeps_it(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    form = {"name": "王芳", "salutation": "ms", "category": "consumer", "level": "", "phone": ""}
    assert client.post(f"/events/{event.id}/guests", data=form).status_code == 302
    assert db.session.scalar(sa.select(Guest.salutation)) is Salutation.MS


def test_an_imported_salutation_is_kept_and_an_unknown_one_dropped_with_a_warning(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    text = "姓名,称谓,类别\r\n王芳,女士,消费者\r\n赵六,先生,新闻媒体\r\n孙八,阁下,其他\r\n李四,,消费者\r\n"
    page = _upload(client, event, text.encode("utf-8"), "名单.csv").get_data(as_text=True)
    assert "<h1>导入预览：名单.csv</h1>" in page  # a Chinese colon
    assert "称谓“阁下”无法识别，应为先生或女士" in page and page.count('class="row-ok"') == 4
    _confirm(client, event, page)
    assert dict(db.session.execute(sa.select(Guest.name, Guest.salutation)).all()) == {
        "王芳": Salutation.MS,
        "赵六": Salutation.MR,
        "孙八": None,
        "李四": None,
    }


# -- Print materials on the guest list -------------------------------------------------------------


def test_the_guest_list_gathers_the_print_materials(app, client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    app.config["PUBLIC_BASE_URL"] = "http://localhost:8000"
    page = client.get(f"/events/{event.id}/guests").get_data(as_text=True)
    start = page.index('id="print-materials"')
    block = page[start : page.index("</section>", start)]
    assert "打印材料" in block and "http://localhost:8000" in block  # the loopback warning
    for href in (
        f"/events/{event.id}/invitations.pdf",
        f"/events/{event.id}/poster.pdf",
        f"/events/{event.id}/sign-in-sheet.pdf",
    ):
        assert f'href="{href}"' in block, href
        with client.get(href) as r:  # and each link prints
            assert r.status_code == 200 and r.mimetype == "application/pdf", href
    # one block, not a second invitations button elsewhere on the page
    assert page.count(f'href="/events/{event.id}/invitations.pdf"') == 1
