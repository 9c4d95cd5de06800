import io

import sqlalchemy as sa

from experience.accounts.models import Role
from experience.events.models import Event, EventStatus
from experience.extensions import db

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


def test_edit_and_cancel(client, auth, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    auth.login("bjstaff")
    form = client.get(f"/events/{event.id}/edit").get_data(as_text=True)
    assert 'value="2024-09-10T09:00"' in form  # shown in Beijing time
    r = _post(client, f"/events/{event.id}/edit", title="改名后的活动")
    assert r.status_code == 302 and db.session.get(Event, event.id).title == "改名后的活动"
    client.post(f"/events/{event.id}/cancel", data={"reason": ""})
    assert db.session.get(Event, event.id).status is EventStatus.PLANNED
    client.post(f"/events/{event.id}/cancel", data={"reason": "场地检修"})
    event = db.session.get(Event, event.id)
    assert event.status is EventStatus.CANCELLED and event.cancel_reason == "场地检修"
    page = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert "场地检修" in page and "已取消" in page
    assert client.get(f"/events/{event.id}/edit").status_code == 302


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
