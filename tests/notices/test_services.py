"""Notices: who receives one (a province's staff, HQ, one account, a role), what it says,
marking read, and the deadline reminders."""

from datetime import datetime, timedelta

import pytest
from flask import session

from experience.accounts.models import Role
from experience.campaigns.services import calendar
from experience.core import clock
from experience.extensions import db
from experience.notices import services
from tests.conftest import NOW
from tests.units.helpers import register_unit

LATER = NOW + timedelta(hours=1)


def notify(province_code, kind="plan_confirmed", at=NOW, **params):
    notice = services.notify(province_code, kind, now=at, **params)
    db.session.commit()
    return notice


@pytest.fixture
def readers(app, make_user):
    """HQ, Beijing's and Zhejiang's staff, two secretaries, an organiser in Beijing, and two
    units (Beijing's, Guangdong's) with their accounts."""
    beijing_unit = register_unit(province_code="11", credit_code="914403001922038216")
    guangdong_unit = register_unit(
        province_code="44", credit_code="91440300MA5H0HLK5U", name="柯兴科技（深圳）有限公司"
    )
    return {
        "hq": make_user(Role.HQ),
        "beijing": make_user(Role.PROVINCE, "11"),
        "zhejiang": make_user(Role.PROVINCE, "33"),
        "secretary": make_user(Role.SECRETARIAT),
        "secretary2": make_user(Role.SECRETARIAT),
        "organizer": make_user(Role.ORGANIZER, "11"),
        "unit": beijing_unit.account,
        "other_unit": guangdong_unit.account,
    }


def who_sees(readers, notice) -> set[str]:
    return {name for name, user in readers.items() if notice in services.notices_for(user)}


# -- delivery --------------------------------------------------------------------------------


def test_a_province_notice_reaches_that_provinces_staff_only(readers):
    notice = notify("11")
    assert who_sees(readers, notice) == {"beijing"}


def test_an_hq_notice_reaches_hq_only(readers):
    notice = notify(None, "plan_submitted", province="北京市")
    assert who_sees(readers, notice) == {"hq"}


def test_a_notice_to_a_units_account_reaches_that_unit_only(readers):
    notice = notify(None, "works_extension_granted", user_id=readers["unit"].id, date="2024-09-06")
    assert who_sees(readers, notice) == {"unit"}


def test_a_notice_to_a_role_reaches_everyone_of_that_role_only(readers):
    notice = notify(None, "work_submitted", role=Role.SECRETARIAT.value, unit="甲", number="2024-ZP-00001", title="乙")
    assert who_sees(readers, notice) == {"secretary", "secretary2"}


def test_hq_reads_its_own_notices_and_none_addressed_to_others(readers):
    own = notify(None, "plan_submitted", province="北京市")
    notify("11")
    notify(None, "works_extension_granted", user_id=readers["unit"].id, date="2024-09-06")
    notify(None, "work_submitted", role=Role.SECRETARIAT.value, unit="甲", number="2024-ZP-00001", title="乙")
    assert services.notices_for(readers["hq"]) == [own]


def test_province_staff_read_their_province_and_their_account_together(readers):
    to_province = notify("11", at=NOW)
    to_account = notify(None, user_id=readers["beijing"].id, at=LATER)
    assert services.notices_for(readers["beijing"]) == [to_account, to_province]


def test_notices_come_newest_first(readers):
    old = notify("11", at=NOW)
    new = notify("11", at=LATER)
    assert services.notices_for(readers["beijing"]) == [new, old]


def test_notices_at_the_same_moment_keep_the_order_they_were_sent(readers):
    first = notify("11")
    second = notify("11")
    assert services.notices_for(readers["beijing"]) == [second, first]


def test_the_list_stops_at_its_limit_keeping_the_newest(readers):
    for minutes in range(5):
        notify("11", at=NOW + timedelta(minutes=minutes))
    listed = services.notices_for(readers["beijing"], limit=3)
    assert [n.created_at for n in listed] == [NOW + timedelta(minutes=m) for m in (4, 3, 2)]


def test_a_notice_keeps_its_link(readers):
    notice = notify("11", "plan_returned", comment="补充安全预案")
    services.notify("11", "plan_confirmed", now=NOW, link=("plans.edit", {}))
    db.session.commit()
    linked = services.notices_for(readers["beijing"])[0]
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


def unread(readers) -> dict[str, int]:
    return {name: services.unread_count(user) for name, user in readers.items()}


def test_unread_count_counts_the_readers_unread_notices_only(readers):
    notify("11")
    notify("11")
    notify("33")
    notify(None, "plan_submitted", province="北京市")
    notify(None, user_id=readers["unit"].id)
    assert unread(readers) == {
        "hq": 1,
        "beijing": 2,
        "zhejiang": 1,
        "secretary": 0,
        "secretary2": 0,
        "organizer": 0,
        "unit": 1,
        "other_unit": 0,
    }


def test_marking_read_clears_the_readers_unread_count(readers):
    notify("11")
    services.mark_all_read(readers["beijing"], LATER)
    db.session.commit()
    assert services.unread_count(readers["beijing"]) == 0


def test_marking_read_records_when(readers):
    notify("11")
    services.mark_all_read(readers["beijing"], LATER)
    db.session.commit()
    assert [n.read_at for n in services.notices_for(readers["beijing"])] == [LATER]


def test_marking_read_leaves_other_provinces_and_hq_unread(readers):
    notify("11")
    notify("33")
    notify(None, "plan_submitted", province="北京市")
    services.mark_all_read(readers["beijing"], LATER)
    db.session.commit()
    assert (services.unread_count(readers["zhejiang"]), services.unread_count(readers["hq"])) == (1, 1)


def test_hq_marking_read_leaves_the_provinces_the_units_and_the_secretariat_unread(readers):
    notify(None, "plan_submitted", province="北京市")
    notify("11")
    notify(None, user_id=readers["unit"].id)
    notify(None, role=Role.SECRETARIAT.value)
    services.mark_all_read(readers["hq"], LATER)
    db.session.commit()
    counts = unread(readers)
    assert (counts["hq"], counts["beijing"], counts["unit"], counts["secretary"]) == (0, 1, 1, 1)


def test_a_unit_marking_read_leaves_the_other_units_unread(readers):
    notify(None, user_id=readers["unit"].id)
    notify(None, user_id=readers["other_unit"].id)
    services.mark_all_read(readers["unit"], LATER)
    db.session.commit()
    assert (services.unread_count(readers["unit"]), services.unread_count(readers["other_unit"])) == (0, 1)


def test_a_role_notice_read_by_one_secretary_stays_unread_for_the_others(readers):
    notify(None, role=Role.SECRETARIAT.value)
    services.mark_all_read(readers["secretary"], LATER)
    db.session.commit()
    assert (services.unread_count(readers["secretary"]), services.unread_count(readers["secretary2"])) == (0, 1)
    assert [n.read_at for n in services.notices_for(readers["secretary2"])] == [None]


def test_two_of_a_provinces_staff_each_have_their_own_unread_mark(readers, make_user):
    colleague = make_user(Role.PROVINCE, "11")
    notify("11")
    services.mark_all_read(readers["beijing"], LATER)
    services.mark_all_read(readers["beijing"], LATER)  # a second tab: nothing twice
    db.session.commit()
    assert (services.unread_count(readers["beijing"]), services.unread_count(colleague)) == (0, 1)


def test_marking_read_again_keeps_the_first_read_time(readers):
    notify("11")
    services.mark_all_read(readers["beijing"], LATER)
    notify("11", at=LATER)
    services.mark_all_read(readers["beijing"], LATER + timedelta(days=1))
    db.session.commit()
    newest, oldest = services.notices_for(readers["beijing"])
    assert (oldest.read_at, newest.read_at) == (LATER, LATER + timedelta(days=1))


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
