"""Notices: who receives one, what it says, marking read, and the deadline reminders."""

from datetime import datetime, timedelta

import pytest
from flask import session

from experience.campaigns.services import calendar
from experience.core import clock
from experience.extensions import db
from experience.notices import services
from tests.conftest import NOW

LATER = NOW + timedelta(hours=1)


def notify(province_code, kind="plan_confirmed", at=NOW, **params):
    notice = services.notify(province_code, kind, now=at, **params)
    db.session.commit()
    return notice


# -- delivery --------------------------------------------------------------------------------


def test_a_province_notice_reaches_that_province(app):
    notice = notify("11")
    assert services.notices_for("11") == [notice]


def test_a_province_notice_never_reaches_another_province(app):
    notify("11")
    assert services.notices_for("33") == []


def test_a_province_notice_is_not_hqs(app):
    notify("11")
    assert services.notices_for(None) == []


def test_an_hq_notice_reaches_hq_and_no_province(app):
    notice = notify(None, "plan_submitted", province="北京市")
    assert services.notices_for(None) == [notice]
    assert services.notices_for("11") == []


def test_notices_come_newest_first(app):
    old = notify("11", at=NOW)
    new = notify("11", at=LATER)
    assert services.notices_for("11") == [new, old]


def test_notices_at_the_same_moment_keep_the_order_they_were_sent(app):
    first = notify("11")
    second = notify("11")
    assert services.notices_for("11") == [second, first]


def test_the_list_stops_at_its_limit_keeping_the_newest(app):
    for minutes in range(5):
        notify("11", at=NOW + timedelta(minutes=minutes))
    listed = services.notices_for("11", limit=3)
    assert [n.created_at for n in listed] == [NOW + timedelta(minutes=m) for m in (4, 3, 2)]


def test_a_notice_keeps_its_link(app):
    notice = notify("11", "plan_returned", comment="补充安全预案")
    services.notify("11", "plan_confirmed", now=NOW, link=("plans.edit", {}))
    db.session.commit()
    linked = services.notices_for("11")[0]
    assert (linked.link_endpoint, linked.link_args) == ("plans.edit", {})
    assert notice.link_endpoint == ""


# -- what it says ----------------------------------------------------------------------------


def test_the_text_is_written_from_the_kind_and_its_params(app):
    with app.test_request_context("/"):
        assert services.text("plan_returned", {"comment": "补充安全预案"}) == "总局已将活动方案退回修改：补充安全预案"


def test_the_text_follows_the_readers_language(app):
    with app.test_request_context("/"):
        session["lang"] = "en"
        assert services.text("plan_submitted", {"province": "Beijing"}) == "Beijing submitted its plan."


# -- unread and read -------------------------------------------------------------------------


def test_unread_count_counts_the_readers_unread_notices_only(app):
    notify("11")
    notify("11")
    notify("33")
    notify(None, "plan_submitted", province="北京市")
    assert services.unread_count("11") == 2


def test_marking_read_clears_the_readers_unread_count(app):
    notify("11")
    services.mark_all_read("11", LATER)
    db.session.commit()
    assert services.unread_count("11") == 0


def test_marking_read_records_when(app):
    notice = notify("11")
    services.mark_all_read("11", LATER)
    db.session.commit()
    db.session.refresh(notice)
    assert notice.read_at == LATER


def test_marking_read_leaves_other_provinces_and_hq_unread(app):
    notify("11")
    notify("33")
    notify(None, "plan_submitted", province="北京市")
    services.mark_all_read("11", LATER)
    db.session.commit()
    assert (services.unread_count("33"), services.unread_count(None)) == (1, 1)


def test_hq_marking_read_leaves_the_provinces_unread(app):
    notify(None, "plan_submitted", province="北京市")
    notify("11")
    services.mark_all_read(None, LATER)
    db.session.commit()
    assert (services.unread_count(None), services.unread_count("11")) == (0, 1)


def test_marking_read_again_keeps_the_first_read_time(app):
    first = notify("11")
    services.mark_all_read("11", LATER)
    second = notify("11", at=LATER)
    services.mark_all_read("11", LATER + timedelta(days=1))
    db.session.commit()
    db.session.refresh(first)
    db.session.refresh(second)
    assert (first.read_at, second.read_at) == (LATER, LATER + timedelta(days=1))


# -- deadline reminders (plans due 2024-08-23) ------------------------------------------------


def at_beijing(*args) -> datetime:
    return clock.from_beijing(datetime(*args))


def plan_reminders(campaign, now, done=frozenset()):
    with_plan = [r for r in services.reminders(calendar(campaign, now), set(done)) if "08-23" in r.params["date"]]
    return [(r.kind, r.params["days"]) for r in with_plan]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (15, []),  # 8 days before: too early
        (16, [("deadline_7", 7)]),
        (20, [("deadline_7", 3)]),
        (22, [("deadline_1", 1)]),
        (23, [("deadline_0", 0)]),
        (24, []),  # passed: nothing left to remind of
    ],
)
def test_plan_reminders_from_a_week_before_to_the_day(campaign, day, expected):
    assert plan_reminders(campaign, at_beijing(2024, 8, day, 9, 0)) == expected


def test_the_reminder_day_is_the_beijing_day(campaign):
    # 16:30 UTC on the 22nd is already the 23rd in Beijing: "due today", not "tomorrow".
    assert plan_reminders(campaign, datetime(2024, 8, 22, 16, 30)) == [("deadline_0", 0)]


def test_no_reminder_for_what_was_handed_in(campaign):
    assert plan_reminders(campaign, at_beijing(2024, 8, 22, 9, 0), done={"plan"}) == []


def test_a_reminder_says_what_is_due_and_when(app, campaign):
    with app.test_request_context("/"):
        (reminder,) = services.reminders(calendar(campaign, at_beijing(2024, 8, 22, 9, 0)), set())
        assert reminder.text == "省级活动方案报送总局截止：明天截止（2024-08-23）。"
