"""A scanner's well-formed check-in is answered before Flask, exactly as the view answers
it; everything the fast path is not sure of reaches the view; both count in one limit."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import request_started
from limits import parse as parse_limit
from werkzeug.test import Client

from experience.checkin import api as protocol
from experience.checkin import services
from experience.checkin.fastpath import ScannerCheckIns
from experience.checkin.models import ApiToken, Scan
from experience.core.fastpath import innermost
from experience.core.ratelimit import FAILURE_BUDGET
from experience.extensions import db, limiter
from experience.guests.models import Guest


@pytest.fixture
def flask_requests(app):
    """How many requests Flask itself handled."""
    seen = []
    request_started.connect(lambda sender, **kw: seen.append(1), app, weak=False)
    return seen


def scan(client, token, body):
    return client.post(protocol.PATH, json=body, headers={"Authorization": f"Bearer {token}"})


def browser(app):
    """A client with a cookie, as a browser posting the API would have."""
    client = app.test_client()
    client.set_cookie("session", "x")
    return client


def test_the_fast_path_is_in_front_of_flask(app):
    chain, found = app.wsgi_app, []
    while hasattr(chain, "wsgi_app"):
        found.append(type(chain))
        chain = chain.wsgi_app
    assert ScannerCheckIns in found


def test_each_answer_is_the_views_answer_without_flask(
    app, client, event, token, make_guest, make_event, flask_requests
):
    view = Client(innermost(app.wsgi_app))
    other_event = make_event(title="另一场")
    guests = [make_guest(event, name=f"嘉宾{i}") for i in range(2)]
    stranger = make_guest(other_event, name="外场嘉宾")
    db.session.commit()
    cases = [
        ({"code": guests[0].code, "nonce": "n-1"}, {"code": guests[1].code, "nonce": "n-2"}),  # checked in
        ({"code": guests[0].code}, {"code": guests[1].code}),  # already checked in
        ({"code": guests[0].code, "nonce": "n-1"}, {"code": guests[1].code, "nonce": "n-2"}),  # a nonce replayed
        ({"code": "A" * 22}, {"code": "B" * 22}),  # no such invitation
        ({"code": stranger.code}, {"code": stranger.code}),  # another event's guest
        ({"code": guests[1].code, "nonce": "n-1"}, {"code": guests[0].code, "nonce": "n-2"}),  # a nonce reused
    ]
    for fast_body, slow_body in cases:
        fast = scan(client, token, fast_body)
        assert flask_requests == []  # Flask never saw it
        slow = scan(view, token, slow_body)
        flask_requests.clear()
        assert fast.status_code == slow.status_code, (fast_body, fast.json, slow.json)
        expected = slow.json
        if "guest" in expected:  # the same answer, for the other guest of the same event
            expected["guest"]["name"] = fast.json["guest"]["name"]
        assert fast.json == expected
        for header in (
            "Content-Type",
            "X-Content-Type-Options",
            "X-Frame-Options",
            "Referrer-Policy",
            "Permissions-Policy",
            "X-RateLimit-Limit",
        ):
            assert fast.headers[header] == slow.headers[header], header
    assert fast.json["result"] == "nonce_reused" and fast.status_code == 409
    # every attempt is in the scan log, whichever path took it (a replay is the first attempt)
    logged = db.session.scalar(sa.select(sa.func.count()).select_from(Scan))
    assert logged == 2 * (len(cases) - 2)
    assert db.session.scalar(sa.select(sa.func.count()).where(Guest.checked_in_at.is_not(None))) == 2


def test_the_messages_are_chinese(client, event, token, make_guest):
    guest = make_guest(event, name="王五")
    db.session.commit()
    first = scan(client, token, {"code": guest.code})
    assert first.status_code == 201 and first.json["message"] == "签到成功"
    assert first.json["guest"] == {"name": "王五", "category": guest.category.value, "category_label": "消费者"}


def test_what_the_fast_path_is_not_sure_of_reaches_the_view(
    app, client, event, token, staff, make_guest, flask_requests
):
    guest = make_guest(event)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    answers = [
        client.post(protocol.PATH, data="{", headers={**headers, "Content-Type": "application/json"}).status_code,
        client.post(protocol.PATH, data=f"code={guest.code}", headers=headers).status_code,
        scan(client, token, {"code": 5}).status_code,
        scan(client, token, {"code": guest.code, "nonce": "x" * 65}).status_code,
        client.post(protocol.PATH, json={"code": guest.code, "pad": "x" * 5000}, headers=headers).status_code,
        scan(client, "not-a-token", {"code": guest.code}).status_code,
        client.post(protocol.PATH, json={"code": guest.code}).status_code,  # no token at all
    ]
    assert answers == [400, 415, 400, 400, 413, 401, 401]
    assert len(flask_requests) == len(answers)
    # a browser (it has a cookie): the view, where its session and language apply
    assert scan(browser(app), token, {"code": guest.code}).status_code == 201
    assert len(flask_requests) == len(answers) + 1
    # a revoked token: the view answers 401 (a revoked token was real: no budget spent)
    token_row = db.session.scalar(sa.select(ApiToken))
    services.revoke_api_token(token_row, actor=staff, now=app.config["FROZEN_NOW"])
    db.session.commit()
    assert scan(client, token, {"code": make_guest(event).code}).status_code == 401
    assert len(flask_requests) == len(answers) + 2


def test_fast_and_slow_requests_count_in_one_limit(app, client, event, token, make_guest, flask_requests):
    guests = [make_guest(event) for _ in range(4)]
    db.session.commit()
    rate = parse_limit(protocol.RATE)
    bucket = [protocol.token_rate_key(token, None), protocol.ENDPOINT]
    with app.app_context():
        first = scan(client, token, {"code": guests[0].code})
        assert first.status_code == 201
        assert int(first.headers["X-RateLimit-Remaining"]) == rate.amount - 1
        scan(browser(app), token, {"code": guests[1].code})  # through Flask
        assert limiter.limiter.get_window_stats(rate, *bucket).remaining == rate.amount - 2
        limiter.limiter.hit(rate, *bucket, cost=rate.amount - 3)  # a busy minute
        assert scan(client, token, {"code": guests[2].code}).status_code == 201  # the last one allowed
        assert flask_requests == [1]
        refused = scan(client, token, {"code": guests[3].code})
    assert refused.status_code == 429 and flask_requests == [1, 1]  # the view refuses it, as always
    assert db.session.get(Guest, guests[3].id).checked_in_at is None


def test_an_address_that_spent_its_budget_is_refused_by_the_view(app, client, event, token, make_guest, flask_requests):
    guest = make_guest(event)
    db.session.commit()
    for _ in range(parse_limit(FAILURE_BUDGET).amount):
        assert scan(client, "unknown-token-" + "x" * 20, {"code": guest.code}).status_code == 401
    flask_requests.clear()
    refused = scan(client, token, {"code": guest.code})
    assert refused.status_code == 429 and refused.json["result"] == "too_many_requests"
    assert flask_requests == [1]
    assert db.session.get(Guest, guest.id).checked_in_at is None


def test_a_database_error_before_the_commit_leaves_the_scan_to_the_view(
    app, client, event, token, make_guest, flask_requests, monkeypatch
):
    guest = make_guest(event)
    db.session.commit()
    real_scan, calls = services.scan, []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE guest", {}, Exception("database is locked"))
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(services, "scan", failing_once)
    answer = scan(client, token, {"code": guest.code, "nonce": "once"})
    assert answer.status_code == 201 and flask_requests == [1] and len(calls) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Scan)) == 1
