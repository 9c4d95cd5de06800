"""Refusals in the audit log, bounded per user and minute: the first 20 are written one by
one, the rest become one ``access.denied_count`` entry when the minute is over."""

import sqlite3
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core import audit
from experience.core.audit import (
    REFUSALS_PER_MINUTE,
    AuditEntry,
    RefusalCount,
    flush_refusal_counts,
    record_refusal,
    unwritten_refusal_counts,
)
from experience.extensions import db, limiter

T = datetime(2024, 8, 13, 2, 0, 5)  # 10:00:05 Beijing
MINUTE = datetime(2024, 8, 13, 2, 0)


def refuse(user, at: datetime, times: int = 1) -> None:
    for _ in range(times):
        record_refusal(now=at, actor=user, target_type="route", target_id="plans.national", ip="192.0.2.1", path="/x")
        db.session.commit()


def entries(action: str, user=None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    if user is not None:
        query = query.where(AuditEntry.actor_id == user.id)
    return list(db.session.scalars(query))


def test_the_bound_is_twenty_a_minute():
    assert REFUSALS_PER_MINUTE == 20
    assert "access.denied_count" in audit.ACTIONS and "access.denied_count" in audit.ACTION_LABELS


def test_the_first_twenty_are_written_and_the_rest_counted(app, make_user):
    user = make_user(Role.ORGANIZER, "11", username="walker")
    refuse(user, T, 50)
    assert len(entries("access.denied", user)) == 20
    assert entries("access.denied_count") == []
    assert unwritten_refusal_counts(T + timedelta(minutes=1)) == [RefusalCount(user.id, "walker", MINUTE, 30)]
    assert unwritten_refusal_counts(MINUTE) == []  # the minute has not started before MINUTE


def test_the_users_next_refusal_after_the_minute_writes_the_count(app, make_user):
    user = make_user(Role.ORGANIZER, "11", username="walker")
    refuse(user, T, 25)
    refuse(user, T + timedelta(minutes=7))
    (count,) = entries("access.denied_count", user)
    assert count.detail == {"minute": "2024-08-13T02:00Z", "count": 5, "written_one_by_one": 20}
    assert count.at == MINUTE + timedelta(minutes=1) and count.actor_name == "walker"
    assert count.target_id == "2024-08-13T02:00Z"
    assert len(entries("access.denied", user)) == 21  # the new minute's first, written as usual
    refuse(user, T + timedelta(minutes=9))
    flush_refusal_counts(T + timedelta(hours=1))
    db.session.commit()
    assert len(entries("access.denied_count", user)) == 1  # written once


def test_a_periodic_flush_writes_each_minute_that_is_over_once(app, make_user):
    walker = make_user(Role.ORGANIZER, "11", username="walker")
    other = make_user(Role.PROVINCE, "33", username="other")
    calm = make_user(Role.PROVINCE, "11", username="calm")
    refuse(walker, T, 23)
    refuse(other, T + timedelta(seconds=30), 40)
    refuse(calm, T, 5)
    assert flush_refusal_counts(T) == 0  # the minute is not over
    assert flush_refusal_counts(T + timedelta(minutes=1)) == 2  # walker's and other's
    assert flush_refusal_counts(T + timedelta(minutes=1)) == 0
    refuse(walker, T + timedelta(minutes=1), 21)  # its first refusal there finds nothing left to write
    assert flush_refusal_counts(T + timedelta(minutes=5)) == 1  # walker's second minute
    db.session.commit()
    counts = sorted((e.actor_name, e.detail["minute"], e.detail["count"]) for e in entries("access.denied_count"))
    assert counts == [
        ("other", "2024-08-13T02:00Z", 20),
        ("walker", "2024-08-13T02:00Z", 3),
        ("walker", "2024-08-13T02:01Z", 1),
    ]
    assert entries("access.denied_count", calm) == []
    assert len(entries("access.denied")) == 20 + 20 + 20 + 5
    assert unwritten_refusal_counts(T + timedelta(minutes=5)) == []


def test_a_count_older_than_its_keep_is_not_looked_for(app, make_user):
    user = make_user(Role.ORGANIZER, "11", username="walker")
    refuse(user, T, 22)
    assert unwritten_refusal_counts(T + audit.REFUSAL_COUNT_KEPT + timedelta(minutes=1)) == []


@pytest.fixture
def walker(app, make_user, make_event, auth):
    """An organiser trying pages that refuse them: HQ's (403) and another province's event (404)."""
    user = make_user(Role.ORGANIZER, "11", username="walker")
    elsewhere = make_event("33")
    app.config["FROZEN_NOW"] = T
    auth.login("walker")
    return user, elsewhere


def test_refused_requests_write_at_most_twenty_rows_a_minute(app, client, walker):
    user, elsewhere = walker
    for i in range(45):
        r = client.get("/hq/plans") if i % 2 else client.get(f"/events/{elsewhere.id}/edit")
        assert r.status_code == (403 if i % 2 else 404)
    assert len(entries("access.denied", user)) == 20
    assert unwritten_refusal_counts(T + timedelta(minutes=1)) == [RefusalCount(user.id, "walker", MINUTE, 25)]
    app.config["FROZEN_NOW"] = T + timedelta(minutes=3)
    assert client.get("/hq/plans").status_code == 403
    (count,) = entries("access.denied_count", user)
    assert count.detail["count"] == 25
    assert len(entries("access.denied", user)) == 21


def test_hq_reads_the_count_in_the_log(app, client, walker, make_user, auth):
    user, _ = walker
    for _ in range(REFUSALS_PER_MINUTE + 3):
        client.get("/hq/plans")
    flush_refusal_counts(T + timedelta(minutes=1))
    db.session.commit()
    make_user(Role.HQ, username="hqboss")
    auth.logout()
    auth.login("hqboss")
    page = client.get("/audit").get_data(as_text=True)
    assert "拒绝访问（仅计数）" in page and "计数的拒绝次数：3" in page


def test_with_the_limits_store_down_every_refusal_is_written(app, make_user, monkeypatch):
    user = make_user(Role.ORGANIZER, "11", username="walker")

    def down(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(limiter.storage, "incr", down)
    refuse(user, T, REFUSALS_PER_MINUTE + 5)
    assert len(entries("access.denied", user)) == REFUSALS_PER_MINUTE + 5
