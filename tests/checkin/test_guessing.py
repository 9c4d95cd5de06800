"""The failure budget: an address that keeps looking up unknown codes or tokens is refused
(429) for the rest of the window, while a venue's phones behind one address never notice."""

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience import create_app
from experience.accounts.models import Role
from experience.checkin import services
from experience.checkin.models import ApiToken, Scan
from experience.config import TestConfig
from experience.core.ratelimit import FAILURE_BUDGET
from experience.events.services import cancel_event
from experience.extensions import db
from experience.guests import services as guests
from experience.guests.models import Guest
from tests.checkin.test_views import SERVE
from tests.conftest import _free_port, stop_process, wait_for

BUDGET = int(FAILURE_BUDGET.split()[0])
GUESSER, VENUE, ELSEWHERE = "203.0.113.7", "198.51.100.1", "192.0.2.44"
BLOCKED = "您所在的网络打开了过多无效的邀请链接"


@pytest.fixture
def event(app, make_event):
    event = make_event()
    app.config["FROZEN_NOW"] = event.starts_at + timedelta(minutes=10)
    return event


@pytest.fixture
def staff(make_user):
    return make_user(Role.PROVINCE, "11", username="bjstaff")


@pytest.fixture
def token(event, staff, app):
    _, plain = services.create_api_token(event, "闸机", actor=staff, now=app.config["FROZEN_NOW"])
    db.session.commit()
    return plain


def from_ip(app, ip: str):
    """A test client whose requests come from ``ip``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def unknown_code() -> str:
    return secrets.token_urlsafe(16)  # the shape of a real code (22 characters), matching none


def api(client, token: str, body: dict | None = None):
    return client.post("/api/v1/checkins", json=body or {"code": "x"}, headers={"Authorization": f"Bearer {token}"})


def test_the_budget_is_thirty_failures_in_ten_minutes():
    assert FAILURE_BUDGET == "30 per 10 minutes"


def test_a_guessing_address_is_refused_after_its_budget_on_every_guest_page(app, event, make_guest):
    guest = make_guest(event)
    guesser = from_ip(app, GUESSER)
    # failures on every page that looks up a code spend one budget: phone, rating, poster
    pages = [
        lambda: guesser.get(f"/c/{unknown_code()}"),
        lambda: guesser.post(f"/c/{unknown_code()}", data={"consent": "y"}),
        lambda: guesser.get(f"/c/{unknown_code()}/rate"),
        lambda: guesser.get(f"/w/{unknown_code()}"),
        lambda: guesser.get("/c/not-a-code"),
    ]
    assert [pages[i % len(pages)]().status_code for i in range(BUDGET)] == [404] * BUDGET
    scans = db.session.scalar(sa.select(sa.func.count()).select_from(Scan))
    for page in pages:
        r = page()
        assert r.status_code == 429
        assert BLOCKED in r.get_data(as_text=True) and "分钟后再试" in r.get_data(as_text=True)
        assert int(r.headers["Retry-After"]) <= 600
    # a blocked address's lookups all answer 429, a real code's too: a 404 beside a 200 would
    # still tell the guesser which codes exist
    assert guesser.get(f"/c/{guest.code}").status_code == 429
    assert guesser.post(f"/c/{guest.code}", data={"consent": "y"}).status_code == 429
    assert guesser.get(f"/w/{event.walk_in_code}").status_code == 429
    assert db.session.get(Guest, guest.id).checked_in_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Scan)) == scans  # the view did not run
    # another address: a real code works, an unknown one is a plain 404 (its own budget)
    other = from_ip(app, ELSEWHERE)
    assert "签到成功" in other.post(f"/c/{guest.code}", data={"consent": "y"}).get_data(as_text=True)
    assert other.get(f"/c/{unknown_code()}").status_code == 404


def test_the_block_ends_with_its_window(app, event, make_guest, monkeypatch):
    guest = make_guest(event)
    guesser = from_ip(app, GUESSER)
    for _ in range(BUDGET):
        guesser.get(f"/c/{unknown_code()}")
    assert guesser.get(f"/c/{guest.code}").status_code == 429
    later = time.time() + 601  # the limits storage keeps wall-clock time
    monkeypatch.setattr(time, "time", lambda: later)
    assert guesser.get(f"/c/{guest.code}").status_code == 200
    assert guesser.get(f"/c/{unknown_code()}").status_code == 404


def test_withdrawn_codes_and_cancelled_posters_spend_nothing(app, event, make_guest, staff, make_event):
    """They were real: an old card scanned again and again is not a guess."""
    guest = make_guest(event)
    old = guest.code
    guests.revoke_code(guest, actor=staff, now=event.starts_at)
    cancelled = make_event(title="取消的活动")
    cancel_event(cancelled, "天气", actor=staff, now=event.starts_at)
    db.session.commit()
    venue = from_ip(app, VENUE)
    for _ in range(BUDGET + 5):
        assert venue.get(f"/c/{old}").status_code == 410
        assert venue.get(f"/w/{cancelled.walk_in_code}").status_code == 404
    assert venue.get(f"/c/{guest.code}").status_code == 200


def test_three_hundred_phones_behind_one_address_all_check_in(app, event, make_guest):
    """A venue: every phone on its Wi-Fi shares one address; a few mistype the link."""
    codes = [make_guest(event).code for _ in range(300)]
    venue = from_ip(app, VENUE)
    answers = []
    for i, code in enumerate(codes):
        if i % 100 == 50:
            assert venue.get(f"/c/{code[:-3]}").status_code == 404  # a truncated link
        r = venue.post(f"/c/{code}", data={"consent": "y"})
        answers.append((r.status_code, "签到成功" in r.get_data(as_text=True)))
    assert answers == [(200, True)] * 300
    checked_in = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Guest)
        .where(Guest.event_id == event.id, Guest.checked_in_at.is_not(None))
    )
    assert checked_in == 300


def test_a_bad_token_storm_blocks_only_that_addresss_api_calls(app, event, make_guest, token):
    guest = make_guest(event)
    storm = from_ip(app, GUESSER)
    assert [api(storm, "exp_" + secrets.token_urlsafe(32)).status_code for _ in range(BUDGET)] == [401] * BUDGET
    r = api(storm, "exp_" + secrets.token_urlsafe(32))
    assert r.status_code == 429 and r.json["result"] == "too_many_requests" and "min" in r.json["message"]
    assert api(storm, token, {"code": guest.code}).status_code == 429  # its real token too
    # another address's scanner goes on; the storm's own address still opens guests' pages
    assert api(from_ip(app, ELSEWHERE), token, {"code": guest.code}).status_code == 201
    assert storm.get(f"/c/{guest.code}").status_code == 200


def test_revoked_and_missing_tokens_spend_no_budget(app, event, make_guest, token, staff):
    revoked = db.session.scalar(sa.select(ApiToken))
    services.revoke_api_token(revoked, actor=staff, now=event.starts_at)
    db.session.commit()
    scanner = from_ip(app, VENUE)
    for _ in range(BUDGET + 5):
        assert api(scanner, token).status_code == 401  # a device still holding its revoked token
        assert scanner.post("/api/v1/checkins", json={"code": "x"}).status_code == 401
    _, fresh = services.create_api_token(event, "新闸机", actor=staff, now=event.starts_at)
    db.session.commit()
    assert api(scanner, fresh, {"code": make_guest(event).code}).status_code == 201


def test_a_forged_forwarded_for_does_not_escape_the_budget(app, event):
    """Without a trusted proxy (TRUSTED_PROXIES=0) X-Forwarded-For is the client's own say."""
    guesser = from_ip(app, GUESSER)
    statuses = [
        guesser.get(f"/c/{unknown_code()}", headers={"X-Forwarded-For": f"10.0.{i}.1"}).status_code
        for i in range(BUDGET + 1)
    ]
    assert statuses == [404] * BUDGET + [429]


def test_behind_a_trusted_proxy_the_budget_counts_the_forwarded_address(app, event, make_guest, database_url, tmp_path):
    guest = make_guest(event)
    db.session.commit()
    proxied = create_app(
        type(
            "C",
            (TestConfig,),
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "UPLOAD_DIR": str(tmp_path / "uploads"),
                "WTF_CSRF_ENABLED": False,
                "RATELIMIT_STORAGE_URI": f"sqlitefile://{tmp_path / 'proxied-limits.db'}",
                "TRUSTED_PROXIES": 1,
                "FROZEN_NOW": app.config["FROZEN_NOW"],
            },
        )
    )
    try:
        nginx = from_ip(proxied, "10.0.0.1")  # every request comes through it

        def get(path, client_ip):
            return nginx.get(path, headers={"X-Forwarded-For": client_ip}).status_code

        assert [get(f"/c/{unknown_code()}", GUESSER) for _ in range(BUDGET)] == [404] * BUDGET
        assert get(f"/c/{guest.code}", GUESSER) == 429
        assert get(f"/c/{guest.code}", VENUE) == 200  # another client behind the same proxy
    finally:
        with proxied.app_context():
            db.engine.dispose()


def test_the_budget_is_shared_by_two_workers(app, event, make_guest, tmp_path, database_url):
    """Each worker alone would see 15 failures and never refuse."""
    db.session.commit()  # and hold no lock while the workers run
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "x",
        "UPLOAD_DIR": str(tmp_path / "u"),
        "RATELIMIT_STORAGE_URI": f"sqlitefile://{tmp_path / 'shared-limits.db'}",
    }
    ports = [_free_port(), _free_port()]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    workers = []
    for p in ports:
        with open(tmp_path / f"worker-{p}.log", "w") as log:  # read them when this fails; the worker keeps it open
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", SERVE, str(p)], env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=log
                )
            )

    def get(port, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    try:
        assert all(wait_for(lambda p=p: get(p, "/healthz") == 200, 60) for p in ports)  # /healthz spends nothing
        statuses = [get(ports[i % 2], f"/c/{unknown_code()}") for i in range(BUDGET + 6)]
    finally:
        for w in workers:
            stop_process(w)
    # core.ratelimit: a worker writes a key's hits from its second one on, so each worker may
    # accept one failure beyond the budget that the other has not seen yet, never more
    refused = statuses.index(429)
    assert BUDGET <= refused <= BUDGET + len(ports)
    assert statuses[:refused] == [404] * refused
    assert statuses[refused:] == [429] * (len(statuses) - refused)
