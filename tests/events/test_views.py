import io
import re
from datetime import timedelta

import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.events import services
from experience.events.models import Event, EventStatus, GuestCategory
from experience.extensions import db
from tests.conftest import NOW, field_errors

FORM = {
    "title": "物业服务认证开放日",
    "service_name": "物业服务认证",
    "certified_org": "安居物业",
    "certificate_no": "CSC-9",
    "certification_body": "中国质量认证中心",
    "sector": "物业",
    "venue_name": "安居花园",
    "city": "北京市",
    "address": "海淀区学院路8号",
    "starts_at": "2024-09-12T09:00",
    "ends_at": "2024-09-12T12:00",
    "guests_consumer": "30",
    "guests_media": "2",
    "highlights": "",
    "agenda": "",
    "contact_name": "李老师",
    "contact_phone": "＋８６ １３８－１２３４－１２３４",
}


def _post(client, url, **changes):
    return client.post(url, data={**FORM, **changes}, content_type="multipart/form-data")


def test_staff_create_an_event(client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    r = _post(client, "/events/new")
    assert r.status_code == 302
    event = db.session.scalar(sa.select(Event))
    assert event.province_code == "11" and event.contact_phone == "13812341234"
    assert event.starts_at.hour == 1  # 09:00 Beijing is 01:00 UTC
    assert event.expected_guests["consumer"] == 30 and event.expected_guests["npc_deputy"] == 0
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "物业服务认证开放日" in page and "2024-09-12 09:00" in page


def test_bad_input_is_explained_and_nothing_saved(client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    page = _post(
        client,
        "/events/new",
        title="",
        contact_phone="12345",
        ends_at="2024-09-12T08:00",
        sector="不存在",
        guests_consumer="-3",
    ).get_data(as_text=True)
    assert page.count('class="errors"') >= 4
    assert "必填" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_garbage_dates_do_not_crash(client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    r = _post(client, "/events/new", starts_at="yesterday", ends_at="<script>", guests_media="many")
    assert r.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_event_outside_the_week_is_saved_with_a_warning(client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    r = _post(client, "/events/new", starts_at="2024-10-08T09:00", ends_at="2024-10-08T11:00")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "体验周" in page and "2024-09-01" in page


def test_attachment_checked_by_content(client, auth, make_user, campaign, pdf_bytes):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    page = _post(client, "/events/new", attachment=(io.BytesIO(b"<html>"), "agenda.pdf")).get_data(as_text=True)
    assert "PDF" in page and db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0
    assert _post(client, "/events/new", attachment=(io.BytesIO(pdf_bytes), "议程.pdf")).status_code == 302
    event = db.session.scalar(sa.select(Event))
    assert event.attachment_name == "议程.pdf"
    with client.get(f"/events/{event.id}/attachment") as download:
        assert download.data == pdf_bytes
        assert "attachment" in download.headers["Content-Disposition"]


def test_edit_an_event(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    form = client.get(f"/events/{event.id}/edit").get_data(as_text=True)
    assert 'value="2024-09-10T09:00"' in form  # shown in Beijing time
    r = _post(client, f"/events/{event.id}/edit", title="改名后的活动")
    assert r.status_code == 302 and db.session.get(Event, event.id).title == "改名后的活动"


def _cancel_entries() -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "event.cancel")
    )


def test_cancelling_asks_once_more_and_changes_nothing_until_confirmed(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    first = client.post(f"/events/{event.id}/cancel", data={"reason": "场地检修"})
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert "确定取消“养老服务认证体验日”吗？" in page and "取消原因：场地检修" in page
    assert "取消无法撤销" in page and 'name="confirmed" value="1"' in page
    assert 'name="reason" value="场地检修"' in page  # carried to the second step
    assert db.session.get(Event, event.id).status is EventStatus.PLANNED and _cancel_entries() == 0

    r = client.post(f"/events/{event.id}/cancel", data={"reason": "场地检修", "confirmed": "1"})
    assert r.status_code == 302
    event = db.session.get(Event, event.id)
    assert event.status is EventStatus.CANCELLED and event.cancel_reason == "场地检修"
    assert _cancel_entries() == 1
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "场地检修" in page and "已取消" in page and "danger-zone" not in page
    assert client.get(f"/events/{event.id}/edit").status_code == 302
    # a second confirmation (a stale tab) cancels nothing twice
    client.post(f"/events/{event.id}/cancel", data={"reason": "又一次", "confirmed": "1"})
    assert db.session.get(Event, event.id).cancel_reason == "场地检修" and _cancel_entries() == 1


def test_cancelling_without_a_reason_asks_for_the_reason_not_for_confirmation(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    for data in ({"reason": "  "}, {"reason": "", "confirmed": "1"}):
        r = client.post(f"/events/{event.id}/cancel", data=data)
        assert r.status_code == 302
        assert "请填写取消原因。" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert db.session.get(Event, event.id).status is EventStatus.PLANNED and _cancel_entries() == 0


def test_cancelling_sits_apart_at_the_bottom_of_the_event_page(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    zone = page[page.index('<section class="card danger-zone"') :]
    assert f'action="/events/{event.id}/cancel"' in zone and f'href="/events/{event.id}/edit"' not in zone
    assert page.index(f'href="/events/{event.id}/edit"') < page.index("danger-zone")
    # nothing of the page follows it but its end
    assert "<section" not in zone[1:] and "<form" not in zone[zone.index("</form>") :]


def test_province_assigns_organisers_and_organiser_then_manages(app, client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    org = make_user(Role.ORGANIZER, "11", username="bjorg")
    other = make_user(Role.ORGANIZER, "33", username="zjorg")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    client.post(f"/events/{event.id}/organizers", data={"organizers": [str(org.id)]})
    assert [u.username for u in db.session.get(Event, event.id).organizers] == ["bjorg"]
    r = client.post(f"/events/{event.id}/organizers", data={"organizers": [str(other.id)]})
    assert r.status_code == 302 and [u.username for u in db.session.get(Event, event.id).organizers] == ["bjorg"]
    org_client = app.test_client()
    org_client.post("/login", data={"username": "bjorg", "password": "Correct-Horse-9"})
    assert org_client.get(f"/events/{event.id}/edit").status_code == 200


def test_organiser_created_event_is_theirs(client, auth, make_user, campaign):
    make_user(Role.ORGANIZER, "11", username="bjorg")
    auth.login("bjorg")
    _post(client, "/events/new")
    event = db.session.scalar(sa.select(Event))
    assert event.province_code == "11" and [u.username for u in event.organizers] == ["bjorg"]


# -- What the form asks for, before anyone submits it ---------------------------------------

REQUIRED_FIELDS = {
    "title",
    "service_name",
    "certified_org",
    "certificate_no",
    "certification_body",
    "sector",
    "venue_name",
    "city",
    "address",
    "starts_at",
    "ends_at",
    "contact_name",
    "contact_phone",
}


def marked_required(page: str) -> set[str]:
    """The fields whose label carries the red * mark."""
    return set(re.findall(r'<label for="(\w+)">[^<]*<span class="required-mark" aria-hidden="true">\*</span>', page))


def test_the_new_event_form_marks_the_required_fields_before_submitting(client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    page = client.get("/events/new").get_data(as_text=True)
    assert "* 为必填项。" in page
    assert marked_required(page) == REQUIRED_FIELDS
    for name in REQUIRED_FIELDS:  # and assistive technology is told the same
        tag = re.search(rf'<(?:input|select|textarea)[^>]*\bid="{name}"[^>]*>', page).group(0)
        assert 'aria-required="true"' in tag and " required" in tag, tag
    assert "novalidate" in page  # the server's own messages, in Chinese, not the browser's bubbles


def test_a_refused_form_lists_its_fields_with_links_to_them(client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    page = _post(client, "/events/new", title="", city="", contact_phone="12345").get_data(as_text=True)
    summary = page[page.index('<ul class="error-summary">') : page.index("</ul>", page.index("error-summary"))]
    assert re.findall(r'<a href="#(\w+)">', summary) == ["title", "city", "contact_phone"]
    assert '<a href="#title">活动名称</a>' in summary
    assert 'aria-invalid="true"' in page and 'aria-describedby="title-errors"' in page


# -- The host unit (主办单位) ------------------------------------------------------------------


def test_the_host_unit_defaults_to_the_creators_unit_and_is_shown(client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff", organisation="北京市市场监督管理局")
    auth.login("bjstaff")
    form = client.get("/events/new").get_data(as_text=True)
    assert "主办单位" in form and "不填则为“北京市市场监督管理局”" in form
    r = _post(client, "/events/new", host_unit="")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert re.search(r"<dt>主办单位</dt><dd>北京市市场监督管理局</dd>", page)
    event = db.session.scalar(sa.select(Event))
    _post(client, f"/events/{event.id}/edit", host_unit="北京市朝阳区人民政府")
    assert db.session.get(Event, event.id).host_unit == "北京市朝阳区人民政府"


def test_a_host_unit_too_long_is_refused_in_chinese(client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    page = _post(client, "/events/new", host_unit="单" * 201).get_data(as_text=True)
    assert field_errors(page) == {"host_unit": ["不得超过 200 个字符。"]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


# -- The event's state, from the time ---------------------------------------------------------


def test_the_event_page_and_lists_show_whether_it_is_to_come_on_or_held(app, client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    cancelled = make_event(actor=staff, title="已取消的活动")
    services.cancel_event(cancelled, "天气", actor=staff, now=NOW)
    db.session.commit()

    def states(page):
        return re.findall(r'<span class="state state-(\w+)"[^>]*>([^<]+)</span>', page)

    def listed(url):
        page = client.get(url).get_data(as_text=True)
        return states(page[page.index('<table class="events">') :])

    def heading(url):
        page = client.get(url).get_data(as_text=True)
        return states(page[page.index("<h1>") : page.index("</h1>")])

    for moment, phase, label in (
        (event.starts_at - timedelta(days=1), "upcoming", "未开始"),
        (event.starts_at + timedelta(minutes=30), "ongoing", "进行中"),
        (event.ends_at + timedelta(minutes=1), "held", "已举办"),
    ):
        app.config["FROZEN_NOW"] = moment
        auth.logout()  # a session ends after 30 idle minutes, and the clock jumps here
        auth.login("bjstaff")
        assert heading(f"/events/{event.id}") == [(phase, label)]
        for url in ("/events", "/"):  # the events list and the province's start page
            assert listed(url) == [(phase, label), ("cancelled", "已取消")], url
    assert heading(f"/events/{cancelled.id}") == [("cancelled", "已取消")]


# -- Chinese on the page -----------------------------------------------------------------------

#: an ASCII colon, parenthesis or comma between two Chinese characters (spaces around allowed)
ASCII_BETWEEN_CJK = re.compile(r"[\u3400-\u9fff]\s*[:(),]\s*[\u3400-\u9fff]")


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_event_page_writes_the_venue_with_chinese_punctuation_and_the_city_once(
    client, auth, make_user, make_event
):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff, city="北京市", address="北京市朝阳区望京街1号")
    auth.login("bjstaff")
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "<dd>康乐中心，北京市朝阳区望京街1号</dd>" in page


def test_no_ascii_punctuation_between_chinese_on_the_event_pages(client, auth, make_user, make_event, make_guest):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", organisation="北京市市场监督管理局")
    event = make_event(actor=staff)
    guest = make_guest(event, name="张三", category=GuestCategory.NPC_DEPUTY, level="city")
    auth.login("bjstaff")
    pages = {
        "event": client.get(f"/events/{event.id}"),
        "list": client.get("/events"),
        "form": client.get(f"/events/{event.id}/edit"),
        "refused form": _post(client, f"/events/{event.id}/edit", title="", contact_phone="1"),
        "cancel question": client.post(f"/events/{event.id}/cancel", data={"reason": "场地检修"}),
        "guests": client.get(f"/events/{event.id}/guests"),
        "guest": client.get(f"/guests/{guest.id}"),
        "revoke question": client.post(f"/guests/{guest.id}/revoke"),
    }
    found = {}
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = visible_text(response.get_data(as_text=True))
        if hits := ASCII_BETWEEN_CJK.findall(text):
            found[name] = hits
    assert found == {}


# -- Print materials ---------------------------------------------------------------------------


def test_the_event_page_gathers_the_print_materials_for_those_who_manage_it(app, client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    make_user(Role.HQ, username="hqboss")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    block = page[page.index('id="print-materials"') : page.index("</section>", page.index('id="print-materials"'))]
    assert "打印材料" in block
    for href in (
        f"/events/{event.id}/invitations.pdf",
        f"/events/{event.id}/poster.pdf",
        f"/events/{event.id}/sign-in-sheet.pdf",
        f"/events/{event.id}/guests",
    ):
        assert f'href="{href}"' in block, href
    assert "127.0.0.1" not in block  # PUBLIC_BASE_URL reaches phones here: no warning
    app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:8000"
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    block = page[page.index('id="print-materials"') :]
    assert "http://127.0.0.1:8000" in block[: block.index("</section>")]  # the loopback warning, before printing
    auth.logout()
    auth.login("hqboss")  # HQ reads the event but prints nothing for it
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "print-materials" not in page and "invitations.pdf" not in page
