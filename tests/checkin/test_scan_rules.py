"""What a scan may tell, and to whom: a nonce belongs to one code; another event is named
only within the same province."""

import sqlite3

import sqlalchemy as sa

from experience.accounts.models import Role
from experience.checkin.api import token_rate_key
from experience.checkin.models import Scan
from experience.extensions import db, limiter

# ``event``, ``staff`` and ``token``: tests/checkin/conftest.py


def api(client, token, body):
    return client.post("/api/v1/checkins", json=body, headers={"Authorization": f"Bearer {token}"})


def test_a_nonce_belongs_to_one_code(client, event, token, make_guest):
    first, second = make_guest(event, name="张三"), make_guest(event, name="李四")
    assert api(client, token, {"code": first.code, "nonce": "n-1"}).status_code == 201
    # the same request again: the first answer, replayed
    again = api(client, token, {"code": first.code, "nonce": "n-1"})
    assert again.status_code == 201 and again.json["replayed"] is True and again.json["guest"]["name"] == "张三"
    # another code under a used nonce: a conflict that names nobody and checks nobody in
    other = api(client, token, {"code": second.code, "nonce": "n-1"})
    assert other.status_code == 409
    assert other.json["result"] == "nonce_reused"
    assert "guest" not in other.json and "张三" not in other.get_data(as_text=True)
    db.session.refresh(second)
    assert second.checked_in_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Scan)) == 1


def test_an_unknown_code_under_a_used_nonce_is_a_conflict_too(client, event, token, make_guest):
    guest = make_guest(event)
    api(client, token, {"code": guest.code, "nonce": "n-2"})
    r = api(client, token, {"code": "Q" * 22, "nonce": "n-2"})
    assert r.status_code == 409 and r.json["result"] == "nonce_reused" and "guest" not in r.json


def test_wrong_event_is_named_only_within_the_province(client, event, token, make_event, make_guest):
    same_province = make_event(title="北京另一场活动")
    elsewhere = make_event(province="33", title="浙江站体验活动")
    near, far = make_guest(same_province), make_guest(elsewhere)
    r = api(client, token, {"code": near.code})
    assert r.status_code == 409 and r.json["result"] == "wrong_event" and "北京另一场活动" in r.json["message"]
    r = api(client, token, {"code": far.code})
    assert r.status_code == 409 and r.json["result"] == "wrong_event"
    assert "浙江" not in r.json["message"] and "guest" not in r.json


def test_the_api_rate_limit_counts_by_a_digest_of_the_token(app, client, event, token, make_guest, monkeypatch):
    """The limits store (a file shared by the workers, or Redis) never holds a token."""
    # core.ratelimit writes a key's hits in batches of a share of the headroom, at least
    # one: with the smallest batches the token's second request reaches the shared store
    monkeypatch.setattr(type(limiter.storage), "SHARE", 10**9)
    guest = make_guest(event)
    assert api(client, token, {"code": guest.code}).status_code == 201
    assert api(client, token, {"code": guest.code}).status_code == 200
    with sqlite3.connect(limiter.storage.path) as store:  # the sqlitefile:// store the workers share
        keys = " ".join(k for (k,) in store.execute("SELECT key FROM hits"))
    assert keys and token not in keys and token[4:20] not in keys
    assert token_rate_key(token, "1.2.3.4") == token_rate_key(token, "5.6.7.8")
    assert token_rate_key(token, "1.2.3.4") != token_rate_key(token + "x", "1.2.3.4")


def test_an_event_past_midnight_says_it_ends_the_next_day(
    app, client, auth, make_event, make_guest, make_user, tmp_path
):
    from datetime import datetime

    from experience.core import web
    from tests.reports.test_pdfs import pdf_text

    night = make_event(starts_at=datetime(2024, 9, 10, 15, 30), ends_at=datetime(2024, 9, 10, 17, 0))  # 23:30–01:00
    guest = make_guest(night)
    page = client.get(f"/c/{guest.code}").get_data(as_text=True)
    assert "2024-09-10 23:30 – 次日 01:00" in page
    make_user(Role.PROVINCE, "11", username="nightstaff")
    auth.login("nightstaff")
    with client.get(f"/events/{night.id}/poster.pdf") as r:
        assert "次日 01:00" in pdf_text(r.data, tmp_path)
    with app.test_request_context():
        assert web.time_range(datetime(2024, 9, 10, 1), datetime(2024, 9, 10, 4)) == "2024-09-10 09:00 – 12:00"
        assert (
            web.time_range(datetime(2024, 9, 10, 1), datetime(2024, 9, 12, 9)) == "2024-09-10 09:00 – 2024-09-12 17:00"
        )
