"""The scan's common case costs one claiming statement and the log row; what it keeps in
memory (a token, its event's window) never outlives a change by more than CACHE_SECONDS."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.checkin import services
from experience.checkin.models import ApiToken, Scan
from experience.events.services import cancel_event
from experience.extensions import db
from experience.guests.models import CheckInVia, Guest
from tests.checkin.test_scan_rules import api
from tests.conftest import ENGINE


@pytest.fixture
def clock_of_the_cache(monkeypatch):
    """Move the caches' clock (time.monotonic in production) by hand."""
    now = [1000.0]
    monkeypatch.setattr(services, "_monotonic", lambda: now[0])
    return now


def _statements(app):
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(db.engine, "before_cursor_execute", count)
    return seen, lambda: sa.event.remove(db.engine, "before_cursor_execute", count)


def test_an_api_check_in_is_one_claim_and_one_log_row(app, client, event, token, make_guest, clock_of_the_cache):
    first, second = make_guest(event, name="张三"), make_guest(event, name="李四")
    code = second.code
    assert api(client, token, {"code": first.code, "nonce": "a"}).status_code == 201  # token and window now kept
    seen, stop = _statements(app)
    try:
        r = api(client, token, {"code": code, "nonce": "b"})
    finally:
        stop()
    assert r.status_code == 201 and r.json["guest"] == {
        "name": "李四",
        "category": "consumer",
        "category_label": "消费者",
    }
    # PostgreSQL claims and logs in one statement (the UPDATE and the INSERT as CTEs)
    expected = ["WITH"] if ENGINE == "postgresql" else ["UPDATE", "INSERT"]
    assert [s for s in seen if s not in ("BEGIN", "COMMIT", "ROLLBACK")] == expected, seen
    row = db.session.execute(sa.select(Scan).where(Scan.guest_id == second.id)).scalar_one()
    assert (row.result, row.via, row.event_id, row.api_token_id, row.nonce, row.code_hint, row.ip) == (
        "ok",
        CheckInVia.API,
        event.id,
        db.session.scalar(sa.select(ApiToken.id).where(ApiToken.event_id == event.id)),
        "b",
        "",
        "127.0.0.1",
    )
    assert db.session.get(Guest, second.id).checked_in_at == row.at


def test_a_repeat_is_still_decided_by_the_rules_and_logged(client, event, token, make_guest):
    guest = make_guest(event, name="张三")
    assert api(client, token, {"code": guest.code}).status_code == 201
    again = api(client, token, {"code": guest.code})
    assert again.status_code == 200 and again.json["result"] == "already_checked_in"
    assert again.json["guest"]["name"] == "张三"
    results = db.session.scalars(sa.select(Scan.result).where(Scan.guest_id == guest.id).order_by(Scan.id)).all()
    assert results == ["ok", "already_checked_in"]


def test_a_token_revoked_in_another_worker_stops_within_the_cache_time(
    client, event, token, make_guest, clock_of_the_cache
):
    a, b, c = (make_guest(event) for _ in range(3))
    assert api(client, token, {"code": a.code}).status_code == 201
    # another worker revokes it: this worker's copy is not told
    db.session.execute(sa.update(ApiToken).values(revoked_at=event.starts_at))
    db.session.commit()
    clock_of_the_cache[0] += services.CACHE_SECONDS - 0.5
    assert api(client, token, {"code": b.code}).status_code == 201  # still kept, as stated
    clock_of_the_cache[0] += 0.5
    refused = api(client, token, {"code": c.code})
    assert refused.status_code == 401 and refused.json["result"] == "unauthorized"
    assert db.session.get(Guest, c.id).checked_in_at is None


def test_a_token_revoked_in_this_worker_stops_at_once(app, client, event, token, staff, make_guest, clock_of_the_cache):
    a, b = make_guest(event), make_guest(event)
    assert api(client, token, {"code": a.code}).status_code == 201
    services.revoke_api_token(db.session.scalar(sa.select(ApiToken)), actor=staff, now=event.starts_at)
    db.session.commit()
    assert api(client, token, {"code": b.code}).status_code == 401


def test_a_cancelled_events_invitations_no_longer_check_in(app, client, event, token, staff, make_guest):
    kept, phone = make_guest(event), make_guest(event)
    assert api(client, token, {"code": kept.code}).status_code == 201  # the window is kept
    cancel_event(event, "场地检修", actor=staff, now=event.starts_at)
    db.session.commit()
    r = api(client, token, {"code": phone.code})
    assert r.status_code == 409 and r.json["result"] == "not_open" and "取消" in r.json["message"]
    page = client.post(f"/c/{phone.code}", data={"consent": "y"})
    assert "取消" in page.get_data(as_text=True)
    assert db.session.get(Guest, phone.id).checked_in_at is None
    assert db.session.scalars(sa.select(Scan.result).where(Scan.guest_id == phone.id)).all() == ["not_open"] * 2


def test_a_window_moved_in_this_worker_applies_at_once(client, event, token, staff, make_guest):
    early, late = make_guest(event), make_guest(event)
    assert api(client, token, {"code": early.code}).status_code == 201
    services.update_settings(
        event,
        actor=staff,
        now=event.starts_at,
        checkin_opens_minutes=0,
        checkin_closes_minutes=0,
        walk_ins_enabled=True,
        capacity=None,
    )
    event.starts_at = event.starts_at + timedelta(hours=1)  # now 10 minutes after the old start: not yet open
    event.ends_at = event.ends_at + timedelta(hours=1)
    db.session.commit()
    services.forget_event(event.id)
    assert api(client, token, {"code": late.code}).json["result"] == "not_open"
