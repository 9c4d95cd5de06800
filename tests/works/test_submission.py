"""A work's submission: its number, the sealed form's version, the deadline in Beijing
time, taking back, returns with a reopen day, extensions per unit; and the pages that do it."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core import clock
from experience.core.errors import RuleError
from experience.extensions import db
from experience.notices.models import Notice
from experience.works import services, submission
from experience.works.models import FileCheck, FileKind, WorkCategory, WorkFile, WorkState
from tests.conftest import NOW, PASSWORD

#: the 2024 campaign's works deadline: Aug 30, until 23:59:59 Beijing time
LAST_SECOND = clock.from_beijing(datetime(2024, 8, 30, 23, 59, 59))
NEXT_DAY = clock.from_beijing(datetime(2024, 8, 31, 0, 0, 0))


def _bj(*args) -> datetime:
    return clock.from_beijing(datetime(*args))


@pytest.fixture
def secretariat(make_user):
    return make_user(Role.SECRETARIAT, province=None)


@pytest.fixture
def complete_work(make_work, unit):
    """``complete_work(**fields)``: a text work with its text and declarations: ready for its form."""

    def make(owner=None, **fields):
        owner = owner or unit
        work = make_work(owner, category=WorkCategory.TEXT, **fields)
        services.set_text(work, "服务认证让生活更美好。" * 20, actor=owner.account, now=NOW)
        services.accept_declarations(
            work, version=services.DECLARATION_VERSION, title=work.title, actor=owner.account, now=NOW
        )
        db.session.commit()
        return work

    return make


def seal(work, *, read: bool = True) -> WorkFile:
    """What the registration form's upload leaves when the scan matches the work as it is
    now: the scan's row, for the current version (the reading itself is test_regform's)."""
    submission.assign_number(work, actor=work.unit.account, now=NOW)
    scan = work.form_scan
    if scan is None:
        scan = WorkFile(kind=FileKind.FORM_SCAN, check_state=FileCheck.PASSED, created_at=NOW)
        work.files.append(scan)
    scan.form_hash, scan.form_read = submission.form_hash(work), read
    db.session.commit()
    return scan


# -- Numbers and versions --------------------------------------------------------------------


def test_numbers_count_up_per_campaign_and_are_never_given_twice(complete_work, unit):
    first, second = complete_work(), complete_work(title="第二件作品")
    assert submission.assign_number(first, actor=unit.account, now=NOW) == "2024-ZP-00001"
    assert submission.assign_number(first, actor=unit.account, now=NOW) == "2024-ZP-00001"  # kept
    services.delete_work(first, actor=unit.account, now=NOW)
    db.session.commit()
    assert submission.assign_number(second, actor=unit.account, now=NOW) == "2024-ZP-00002"


def test_the_form_version_follows_what_the_form_shows_and_nothing_else(complete_work, unit):
    work = complete_work()
    seal(work)
    before = submission.form_hash(work)
    assert submission.scan_current(work)
    # the scan itself, the check state, the time of a change: not on the form
    work.updated_at = NOW + timedelta(hours=1)
    assert submission.form_hash(work) == before
    services.update_work(work, actor=unit.account, now=NOW, summary="另一段简介。")
    assert submission.form_hash(work) != before
    assert not submission.scan_current(work)
    assert submission.status(work) is submission.Status.AWAITING_FORM


def test_qr_text_reads_back_as_number_and_hash(complete_work, unit):
    work = complete_work()
    submission.assign_number(work, actor=unit.account, now=NOW)
    assert submission.parse_qr(submission.qr_text(work)) == (work.number, submission.form_hash(work))
    assert submission.parse_qr("https://example.com/x") is None
    assert submission.parse_qr("2024-ZP-00001/short") is None


# -- Submitting -------------------------------------------------------------------------------


def test_a_work_is_submitted_only_complete_and_with_the_current_sealed_form(make_work, complete_work, unit):
    draft = make_work(category=WorkCategory.TEXT)
    with pytest.raises(RuleError) as e:
        submission.submit(draft, actor=unit.account, now=NOW)
    assert e.value.code == "not_ready"
    work = complete_work()
    assert submission.status(work) is submission.Status.AWAITING_FORM
    with pytest.raises(RuleError) as e:
        submission.submit(work, actor=unit.account, now=NOW)
    assert e.value.code == "form_scan_needed"
    seal(work)
    services.update_work(work, actor=unit.account, now=NOW, title="改过的题目")
    services.accept_declarations(
        work, version=services.DECLARATION_VERSION, title="改过的题目", actor=unit.account, now=NOW
    )
    with pytest.raises(RuleError) as e:
        submission.submit(work, actor=unit.account, now=NOW)
    assert e.value.code == "form_scan_outdated"
    seal(work)
    assert submission.status(work) is submission.Status.READY
    assert submission.submit(work, actor=unit.account, now=NOW) is True
    assert work.state is WorkState.SUBMITTED and not work.late


def test_the_deadline_is_the_last_second_of_aug_30_in_beijing(complete_work, unit):
    on_time, late = complete_work(), complete_work(title="晚了一秒")
    seal(on_time), seal(late)
    assert submission.can_submit(on_time, LAST_SECOND)
    submission.submit(on_time, actor=unit.account, now=LAST_SECOND)
    assert not submission.can_submit(late, NEXT_DAY)
    with pytest.raises(RuleError) as e:
        submission.submit(late, actor=unit.account, now=NEXT_DAY)
    assert e.value.code == "past_deadline"
    assert late.state is WorkState.NOT_SUBMITTED  # drafts stay drafts


def test_after_the_deadline_drafts_and_submitted_works_are_locked(complete_work, unit):
    draft, sent = complete_work(), complete_work(title="已提交")
    seal(sent)
    submission.submit(sent, actor=unit.account, now=NOW)
    assert submission.edit_refusal(draft, LAST_SECOND) is None
    assert submission.edit_refusal(draft, NEXT_DAY).code == "deadline_passed"
    with pytest.raises(RuleError) as e:
        services.update_work(draft, actor=unit.account, now=NEXT_DAY, summary="晚了")
    assert e.value.code == "deadline_passed"
    # before the deadline a submitted work must be taken back first; after it, it is locked
    assert submission.edit_refusal(sent, LAST_SECOND).code == "wrong_state"
    assert submission.edit_refusal(sent, NEXT_DAY).code == "locked_submitted"
    with pytest.raises(RuleError) as e:
        submission.withdraw(sent, actor=unit.account, now=NEXT_DAY)
    assert e.value.code == "withdraw_after_deadline"


def test_taking_back_before_the_deadline_reopens_and_a_change_needs_a_new_form(complete_work, unit):
    work = complete_work()
    seal(work)
    submission.submit(work, actor=unit.account, now=NOW)
    submission.withdraw(work, actor=unit.account, now=LAST_SECOND)
    assert work.state is WorkState.NOT_SUBMITTED and work.first_submitted_at is None
    assert submission.status(work) is submission.Status.READY  # nothing changed yet
    services.update_work(work, actor=unit.account, now=LAST_SECOND, contact_name="李四")
    assert submission.status(work) is submission.Status.AWAITING_FORM


def test_an_extension_for_one_unit_lets_its_works_in_late_and_no_one_elses(
    complete_work, unit, other_unit, campaign, secretariat
):
    ours, theirs = complete_work(), complete_work(owner=other_unit, title="别人的")
    seal(ours), seal(theirs)
    submission.extend_deadline(unit, campaign, date(2024, 9, 5), "材料盖章延误", actor=secretariat, now=NOW)
    db.session.commit()
    assert submission.deadline(ours).day == date(2024, 9, 5)
    assert submission.submit(ours, actor=unit.account, now=_bj(2024, 9, 5, 23, 59, 59))
    assert ours.late  # after the call's deadline, within the extension
    with pytest.raises(RuleError):
        submission.submit(theirs, actor=other_unit.account, now=NEXT_DAY)
    notice = db.session.scalar(sa.select(Notice).where(Notice.kind == "works_extension_granted"))
    assert notice.user_id == unit.account.id
    with pytest.raises(RuleError) as e:  # not earlier than the current one
        submission.extend_deadline(unit, campaign, date(2024, 9, 1), "", actor=secretariat, now=NOW)
    assert e.value.code == "extension_past"


# -- Returns ----------------------------------------------------------------------------------


def test_a_returned_work_reopens_until_its_day_then_stays_returned(complete_work, unit, secretariat):
    work = complete_work()
    seal(work)
    submission.submit(work, actor=unit.account, now=NOW)
    with pytest.raises(RuleError) as e:
        submission.send_back(work, "请补充作品简介", None, actor=secretariat, now=NEXT_DAY)
    assert e.value.code == "reopen_until_required"
    submission.send_back(work, "请补充作品简介", date(2024, 9, 6), actor=secretariat, now=NEXT_DAY)
    db.session.commit()
    assert work.state is WorkState.RETURNED
    notice = db.session.scalar(sa.select(Notice).where(Notice.kind == "work_returned"))
    assert notice.user_id == unit.account.id and notice.params["comment"] == "请补充作品简介"
    # after the call's deadline, the return's window opens the work again
    last = _bj(2024, 9, 6, 23, 59, 59)
    services.update_work(work, actor=unit.account, now=last, summary="补充后的简介。")
    assert not submission.can_submit(work, last)  # the form changed: a new one is needed
    seal(work)
    assert submission.can_submit(work, last)
    assert submission.edit_refusal(work, _bj(2024, 9, 7, 0, 0, 0)).code == "reopen_closed"
    with pytest.raises(RuleError) as e:
        submission.submit(work, actor=unit.account, now=_bj(2024, 9, 7, 0, 0, 0))
    assert e.value.code == "reopen_closed"
    assert work.state is WorkState.RETURNED
    assert submission.submit(work, actor=unit.account, now=last) is False  # a resubmission
    assert db.session.scalar(sa.select(Notice).where(Notice.kind == "work_resubmitted")).role == "secretariat"


# -- The pages ---------------------------------------------------------------------------------


@pytest.fixture
def as_unit(app, unit):
    return _login(app, unit.credit_code)


def _login(app, username):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


def test_the_unit_submits_takes_back_and_the_secretariat_returns_and_extends(
    app, complete_work, unit, as_unit, secretariat
):
    work = complete_work()
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert "待上传盖章登记表" in page and "提交作品" not in page
    seal(work)
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert "可提交" in page and "提交作品" in page
    r = as_unit.post(f"/works/{work.id}/submit", data={"csrf_token": _csrf(as_unit, work)})
    assert r.status_code == 302
    assert db.session.get(type(work), work.id).state is WorkState.SUBMITTED
    # changing a submitted work first says what it means
    r = as_unit.post(f"/works/{work.id}/withdraw", data={"csrf_token": _csrf(as_unit, work)})
    assert r.status_code == 200 and "加盖公章" in r.get_data(as_text=True)
    assert db.session.get(type(work), work.id).state is WorkState.SUBMITTED
    r = as_unit.post(f"/works/{work.id}/withdraw", data={"csrf_token": _csrf(as_unit, work), "confirmed": "1"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(work), work.id).state is WorkState.NOT_SUBMITTED
    as_unit.post(f"/works/{work.id}/submit", data={"csrf_token": _csrf(as_unit, work)})
    db.session.expire_all()
    assert db.session.get(type(work), work.id).state is WorkState.SUBMITTED

    desk = _login(app, secretariat.username)
    token = _csrf(desk, work)
    r = desk.post(f"/works/{work.id}/return", data={"csrf_token": token, "comment": "", "reopen_until": "2024-09-06"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(work), work.id).state is WorkState.SUBMITTED  # a reason is required
    r = desk.post(
        f"/works/{work.id}/return", data={"csrf_token": token, "comment": "请补充简介", "reopen_until": "2024-09-06"}
    )
    db.session.expire_all()
    assert db.session.get(type(work), work.id).state is WorkState.RETURNED
    r = desk.post(f"/works/{work.id}/extension", data={"csrf_token": token, "new_deadline": "2024-09-10"})
    assert r.status_code == 302
    assert submission.deadline(db.session.get(type(work), work.id)).day == date(2024, 9, 10)
    # the unit cannot decide for the secretariat
    r = as_unit.post(
        f"/works/{work.id}/extension", data={"csrf_token": _csrf(as_unit, work), "new_deadline": "2024-12-01"}
    )
    assert r.status_code == 404


def _csrf(client, work) -> str:
    import re

    page = client.get(f"/works/{work.id}").get_data(as_text=True)
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


# -- What the review found ----------------------------------------------------------------------


def test_a_work_sent_again_after_its_reopen_day_cannot_be_taken_back_and_lost(complete_work, unit, secretariat):
    work = complete_work()
    seal(work)
    submission.submit(work, actor=unit.account, now=NOW)
    submission.send_back(work, "请补充", date(2024, 8, 15), actor=secretariat, now=NOW)
    submission.submit(work, actor=unit.account, now=_bj(2024, 8, 14, 9, 0))
    assert submission.can_reopen(work, _bj(2024, 8, 15, 23, 59, 59))
    later = _bj(2024, 8, 20, 9, 0)  # before the call's deadline, after the return's day
    assert not submission.can_reopen(work, later)
    with pytest.raises(RuleError) as e:
        submission.withdraw(work, actor=unit.account, now=later)
    assert e.value.code == "withdraw_after_deadline"
    assert work.state is WorkState.SUBMITTED


def test_a_work_the_secretariat_received_cannot_be_deleted(complete_work, unit, secretariat):
    work = complete_work()
    seal(work)
    submission.submit(work, actor=unit.account, now=NOW)
    submission.send_back(work, "请补充", date(2024, 9, 6), actor=secretariat, now=NOW)
    assert submission.can_edit(work, NOW)  # a returned work changes ...
    with pytest.raises(RuleError) as e:  # ... but is not a draft to throw away
        services.delete_work(work, actor=unit.account, now=NOW)
    assert e.value.code == "not_deletable"


def test_the_sealed_form_shows_the_phone_so_the_province_does_not_get_it(app, complete_work, unit, make_user):
    from experience.core import uploads

    work = complete_work()
    scan = seal(work)
    scan.storage_key = uploads.store_bytes(b"\xff\xd8 sealed form \xff\xd9", "work", "jpg")
    scan.content_type = "image/jpeg"
    db.session.commit()
    staff, secretary = make_user(Role.PROVINCE, "11"), make_user(Role.SECRETARIAT, province=None)
    for who, status in ((staff.username, 404), (secretary.username, 200), (unit.credit_code, 200)):
        response = _login(app, who).get(f"/works/files/{scan.id}")
        assert response.status_code == status, who
        response.close()  # the file it streams
    page = _login(app, staff.username).get(f"/works/{work.id}").get_data(as_text=True)
    assert f"/works/files/{scan.id}" not in page
