"""公示: the selection published for a period of Beijing dates, objections from anyone
during it (the notice first, consent required, throttled per address, read by the
secretariat only), the secretariat's answers, and a selected work withdrawn for a cause."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role, User
from experience.core import clock
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from experience.notices.models import Notice
from experience.screening import decisions, publication, rounds
from experience.screening.models import Entry, Objection, Outcome, Publication, Withdrawal
from experience.screening.publication import PeriodState
from experience.works.models import WorkCategory
from tests.conftest import PASSWORD
from tests.screening.conftest import AFTER, clock_at
from tests.test_chinese_text import ascii_punctuation_in_chinese

#: AFTER is Sep 2, 2024, 10:00 Beijing time: a period from that day is open at once
TODAY = date(2024, 9, 2)
FIRST = date(2024, 9, 3)
LAST = date(2024, 9, 9)  # FIRST + 7 days, the first included

OBJECTION = {
    "name": "张 三",
    "phone": "138 1234 5678",
    "reason": "该作品的照片与另一单位去年发表的照片相同，请核实。",
    "consent": "y",
    "notice_version": publication.NOTICE_VERSION,
}


def bj(*args) -> datetime:
    return clock.from_beijing(datetime(*args))


@pytest.fixture
def select(screening_round, secretariat, make_expert):
    """``select(works, outcome=SELECTED)``: a round opened at AFTER with the works in it,
    each decided (入选 unless said) and the decisions applied."""

    def make(works, outcome=Outcome.SELECTED):
        make_expert("expert1")
        round_ = screening_round(experts_per_work=1)
        rounds.open_round(round_, actor=secretariat, now=AFTER)
        db.session.commit()
        for work in works:
            entry = db.session.scalar(sa.select(Entry).where(Entry.round_id == round_.id, Entry.work_id == work.id))
            decisions.decide(entry, outcome, "", None, actor=secretariat, now=AFTER)
        db.session.commit()
        preview = decisions.preview(round_)
        decisions.apply_pending(round_, actor=secretariat, now=AFTER, expected=set(preview.ids))
        db.session.commit()
        return works

    return make


@pytest.fixture
def selected_work(submitted_work, select):
    """One text work, selected."""
    return select([submitted_work()])[0]


@pytest.fixture
def published(campaign, selected_work, secretariat):
    """The selection published from TODAY for 7 days (open at AFTER); returns the work."""
    publication.publish(campaign, TODAY, 7, actor=secretariat, now=AFTER)
    db.session.commit()
    return selected_work


def objection_url(work) -> str:
    return f"/gongshi/works/{work.id}/objection"


def objections() -> list[Objection]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Objection)))


def field_errors(page: str, name: str) -> str:
    m = re.search(rf'id="{name}-errors"><ul class="errors">(.*?)</ul>', page, re.S)
    return m.group(1) if m else ""


# -- The period, at the edges of Beijing dates -----------------------------------------------------


def test_the_period_opens_and_closes_at_beijing_midnight(campaign, selected_work, secretariat):
    pub = publication.publish(campaign, FIRST, 7, actor=secretariat, now=AFTER)
    db.session.commit()
    assert (pub.starts_on, pub.ends_on) == (FIRST, LAST)
    assert publication.period_state(pub, bj(2024, 9, 2, 23, 59, 59)) is PeriodState.BEFORE
    assert not publication.in_period(pub, bj(2024, 9, 2, 23, 59, 59))
    assert publication.period_state(pub, bj(2024, 9, 3, 0, 0, 0)) is PeriodState.OPEN
    assert publication.period_state(pub, bj(2024, 9, 9, 23, 59, 59)) is PeriodState.OPEN
    assert publication.period_state(pub, bj(2024, 9, 10, 0, 0, 0)) is PeriodState.OVER
    assert not publication.in_period(pub, bj(2024, 9, 10, 0, 0, 0))


def test_the_objection_form_exists_only_during_the_period(app, client, campaign, selected_work, secretariat):
    publication.publish(campaign, FIRST, 7, actor=secretariat, now=AFTER)
    db.session.commit()
    url = objection_url(selected_work)
    for moment, status in [
        (bj(2024, 9, 2, 23, 59, 59), 404),  # 15:59:59 UTC on Sep 2: still the day before in Beijing
        (bj(2024, 9, 3, 0, 0, 0), 200),
        (bj(2024, 9, 9, 23, 59, 59), 200),
        (bj(2024, 9, 10, 0, 0, 0), 404),
    ]:
        with clock_at(app, moment):
            assert client.get(url).status_code == status, moment
            assert client.post(url, data=OBJECTION).status_code == (302 if status == 200 else 404), moment
    # the two posts inside the period went through; the two outside did not
    assert len(objections()) == 2


def test_objections_are_refused_outside_the_period(campaign, selected_work, secretariat):
    publication.publish(campaign, FIRST, 1, actor=secretariat, now=AFTER)
    db.session.commit()
    for moment in (bj(2024, 9, 2, 23, 59, 59), bj(2024, 9, 4, 0, 0, 0)):
        with pytest.raises(RuleError) as e:
            publication.object(selected_work, **_args(), ip="203.0.113.9", now=moment)
        assert e.value.code == "not_open"


# -- Publishing -----------------------------------------------------------------------------------


def test_nothing_is_published_without_a_selected_work(campaign, submitted_work, select, secretariat):
    select([submitted_work()], outcome=Outcome.NOT_SELECTED)
    with pytest.raises(RuleError) as e:
        publication.publish(campaign, FIRST, actor=secretariat, now=AFTER)
    assert e.value.code == "nothing_selected"


@pytest.mark.parametrize(
    ("starts_on", "days", "code"),
    [
        (date(2024, 9, 1), 7, "start_past"),  # AFTER is Sep 2 in Beijing
        (FIRST, 0, "days_range"),
        (FIRST, 31, "days_range"),
    ],
)
def test_a_period_starts_today_or_later_and_lasts_1_to_30_days(
    campaign, selected_work, secretariat, starts_on, days, code
):
    with pytest.raises(RuleError) as e:
        publication.publish(campaign, starts_on, days, actor=secretariat, now=AFTER)
    assert e.value.code == code
    assert publication.publication_of(campaign) is None


def test_the_period_can_change_until_it_starts_and_never_after(campaign, selected_work, secretariat):
    publication.publish(campaign, FIRST, 7, actor=secretariat, now=AFTER)
    db.session.commit()
    pub = publication.publish(campaign, date(2024, 9, 5), 10, actor=secretariat, now=AFTER)
    db.session.commit()
    assert (pub.starts_on, pub.ends_on) == (date(2024, 9, 5), date(2024, 9, 14))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Publication)) == 1
    with pytest.raises(RuleError) as e:
        publication.publish(campaign, date(2024, 9, 6), 7, actor=secretariat, now=bj(2024, 9, 5, 0, 0, 0))
    assert e.value.code == "already_started"
    entries = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "screening.publish").order_by(AuditEntry.id)
    ).all()
    assert [e.detail["changed"] for e in entries] == [False, True]
    assert entries[0].detail["numbers"] == [selected_work.number]


def test_the_secretariat_publishes_after_a_confirmation(client, auth, campaign, selected_work, secretariat):
    auth.login(secretariat.username)
    page = client.get("/screening/publication").get_data(as_text=True)
    assert selected_work.number in page
    assert "（1 件）" in page
    form = {"starts_on": "2024-09-03", "days": "7"}
    confirm = client.post("/screening/publication", data=form)
    assert confirm.status_code == 200
    assert 'name="confirmed" value="1"' in confirm.get_data(as_text=True)
    assert publication.publication_of(campaign) is None
    r = client.post("/screening/publication", data={**form, "confirmed": "1"})
    assert r.status_code == 302
    db.session.expire_all()
    pub = publication.publication_of(campaign)
    assert (pub.starts_on, pub.ends_on) == (FIRST, LAST)


def test_a_start_in_the_past_is_refused_on_the_page(client, auth, campaign, selected_work, secretariat):
    auth.login(secretariat.username)
    for confirmed in ("", "1"):  # said before the confirmation is asked, and after it
        r = client.post("/screening/publication", data={"starts_on": "2024-09-01", "days": "7", "confirmed": confirmed})
        assert r.status_code == 200
        assert "不能早于今天" in field_errors(r.get_data(as_text=True), "starts_on")
    r = client.post("/screening/publication", data={"starts_on": "2024-09-03", "days": "0", "confirmed": "1"})
    assert "1 至 30 天" in field_errors(r.get_data(as_text=True), "days")
    r = client.post("/screening/publication", data={"starts_on": "9/3", "days": "7", "confirmed": "1"})
    assert "YYYY-MM-DD" in field_errors(r.get_data(as_text=True), "starts_on")
    assert publication.publication_of(campaign) is None


# -- Objections -----------------------------------------------------------------------------------


def _args(**changes) -> dict:
    data = {
        "name": OBJECTION["name"],
        "phone": OBJECTION["phone"],
        "reason": OBJECTION["reason"],
        "consent": True,
    }
    return data | changes


def test_an_objection_is_kept_and_the_secretariat_told(published, secretariat):
    o = publication.object(published, **_args(phone="+86 138-1234-5678"), ip="203.0.113.9", now=AFTER)
    db.session.commit()
    assert (o.name, o.phone, o.notice_version) == ("张 三", "13812345678", publication.NOTICE_VERSION)
    notice = db.session.scalar(sa.select(Notice).where(Notice.kind == "objection_received"))
    assert notice.role == Role.SECRETARIAT.value
    assert notice.link_args == {"objection_id": o.id}
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.objection"))
    assert entry.ip == "203.0.113.9"
    # HQ reads the log: the objector's name and phone stay out of it
    assert "13812345678" not in str(entry.detail)
    assert "张" not in str(entry.detail)


def test_objections_go_a_year_after_the_period_as_the_notice_says(published, secretariat):
    publication.object(published, **_args(), ip="203.0.113.9", now=AFTER)
    db.session.commit()
    ends = db.session.scalar(sa.select(Publication.ends_on))
    kept_until = ends + timedelta(days=publication.KEEP_OBJECTIONS_DAYS)
    assert publication.purge_objections(bj(kept_until.year, kept_until.month, kept_until.day, 23, 59)) == 0
    assert len(objections()) == 1
    gone_on = kept_until + timedelta(days=1)
    assert publication.purge_objections(bj(gone_on.year, gone_on.month, gone_on.day, 0, 30)) == 1
    db.session.commit()
    assert objections() == []
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.objections_purge"))
    assert entry.detail["count"] == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"consent": False}, "consent_required"),
        ({"notice_version": "2023-1"}, "notice_changed"),
        ({"name": "  "}, "name_required"),
        ({"name": "名" * 61}, "name_too_long"),
        ({"phone": "12345"}, "phone_invalid"),
        ({"reason": "不对" * 4}, "reason_too_short"),
        ({"reason": "长" * 2001}, "reason_too_long"),
    ],
)
def test_an_objection_needs_consent_a_name_a_phone_and_a_reason(published, changes, code):
    with pytest.raises(RuleError) as e:
        publication.object(published, **_args(**changes), ip="203.0.113.9", now=AFTER)
    assert e.value.code == code


def test_the_public_form_shows_the_notice_first_and_needs_consent(client, published):
    page = client.get(objection_url(published)).get_data(as_text=True)
    assert "个人信息告知" in page
    assert page.index("个人信息告知") < page.index('name="name"')
    for words in ("姓名", "电话", "秘书处", "一年"):  # what, who sees it, how long
        assert words in page[: page.index('name="name"')]
    r = client.post(objection_url(published), data={**OBJECTION, "consent": ""})
    assert r.status_code == 200
    assert "个人信息告知" in field_errors(r.get_data(as_text=True), "consent")
    assert objections() == []


def test_the_public_form_sends_an_objection_and_thanks(client, published):
    r = client.post(objection_url(published), data=OBJECTION)
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/gongshi/works/{published.id}/objection/thanks")
    thanks = client.get(r.headers["Location"])
    assert thanks.status_code == 200
    assert "已送达作品征集秘书处" in thanks.get_data(as_text=True)
    assert [o.phone for o in objections()] == ["13812345678"]


def test_the_public_form_says_what_is_wrong_in_chinese(client, published):
    r = client.post(objection_url(published), data={**OBJECTION, "phone": "12345"})
    assert r.status_code == 200
    assert "手机号码" in field_errors(r.get_data(as_text=True), "phone")
    r = client.post(objection_url(published), data={**OBJECTION, "reason": "太短"})
    assert r.status_code == 200
    assert "至少 10 个字" in field_errors(r.get_data(as_text=True), "reason")
    assert objections() == []


def test_the_public_form_needs_its_csrf_token(app, client, published):
    app.config["WTF_CSRF_ENABLED"] = True
    assert 'name="csrf_token"' in client.get(objection_url(published)).get_data(as_text=True)
    assert client.post(objection_url(published), data=OBJECTION).status_code == 400
    assert objections() == []


def test_objections_from_one_address_are_throttled(client, published):
    for _ in range(5):
        assert client.post(objection_url(published), data=OBJECTION).status_code == 302
    r = client.post(objection_url(published), data=OBJECTION)
    assert r.status_code == 429
    page = r.get_data(as_text=True)
    assert "异议过多" in page
    assert "北京时间" in page
    other = client.post(objection_url(published), data=OBJECTION, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 302
    assert len(objections()) == 6


def test_refused_posts_do_not_use_up_the_objections_but_are_bounded(app, client, published):
    app.config["SCREENING_OBJECTION_ATTEMPTS_PER_ADDRESS"] = "8 per hour"
    for _ in range(6):
        assert client.post(objection_url(published), data={**OBJECTION, "consent": ""}).status_code == 200
    assert client.post(objection_url(published), data=OBJECTION).status_code == 302
    assert client.post(objection_url(published), data=OBJECTION).status_code == 302
    assert client.post(objection_url(published), data=OBJECTION).status_code == 429


def test_no_form_for_a_work_not_on_the_list(client, campaign, submitted_work, make_unit, select, secretariat):
    chosen = submitted_work()
    other = submitted_work(owner=make_unit("33"), category=WorkCategory.TEXT)
    select([chosen])
    publication.publish(campaign, TODAY, actor=secretariat, now=AFTER)
    db.session.commit()
    assert client.get(objection_url(chosen)).status_code == 200
    assert client.get(objection_url(other)).status_code == 404
    assert client.post(objection_url(other), data=OBJECTION).status_code == 404
    assert client.get("/gongshi/works/999999/objection").status_code == 404
    with pytest.raises(RuleError) as e:
        publication.object(other, **_args(), ip="", now=AFTER)
    assert e.value.code == "not_published"


# -- Only the secretariat reads them --------------------------------------------------------------


@pytest.fixture
def an_objection(published):
    o = publication.object(published, **_args(), ip="203.0.113.9", now=AFTER)
    db.session.commit()
    return o


def test_the_list_masks_the_phone_and_the_objection_page_shows_it(client, auth, secretariat, an_objection):
    auth.login(secretariat.username)
    page = client.get("/screening/publication").get_data(as_text=True)
    assert "138****5678" in page
    assert "13812345678" not in page
    one = client.get(f"/screening/objections/{an_objection.id}").get_data(as_text=True)
    assert "13812345678" in one
    assert OBJECTION["reason"] in one


@pytest.mark.parametrize("role", [Role.HQ, Role.PROVINCE, Role.ORGANIZER])
def test_other_staff_cannot_read_objections(client, auth, make_user, an_objection, role):
    user = make_user(role, province="11")
    auth.login(user.username)
    assert client.get("/screening/publication").status_code == 403
    assert client.get(f"/screening/objections/{an_objection.id}").status_code == 403
    assert client.post(f"/screening/objections/{an_objection.id}", data={"answer": "好"}).status_code == 403


def test_the_unit_and_the_experts_cannot_read_objections(app, unit, an_objection):
    reviewer = db.session.scalar(sa.select(User).where(User.role == Role.REVIEWER))  # select's expert
    for username in (unit.account.username, reviewer.username):
        c = app.test_client()
        assert c.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
        assert c.get("/screening/publication").status_code == 403
        assert c.get(f"/screening/objections/{an_objection.id}").status_code == 403


def test_anonymous_visitors_are_sent_to_the_login(client, an_objection):
    for url in ("/screening/publication", f"/screening/objections/{an_objection.id}"):
        r = client.get(url)
        assert r.status_code == 302
        assert "/login" in r.headers["Location"]


# -- Answers --------------------------------------------------------------------------------------


def test_the_secretariat_answers_an_objection(client, auth, secretariat, an_objection):
    auth.login(secretariat.username)
    url = f"/screening/objections/{an_objection.id}"
    r = client.post(url, data={"answer": "  "})
    assert r.status_code == 200
    assert field_errors(r.get_data(as_text=True), "answer")
    r = client.post(url, data={"answer": "经核实，该照片为报送单位原创，异议不成立。"})
    assert r.status_code == 302
    db.session.expire_all()
    o = db.session.get(Objection, an_objection.id)
    assert o.answer == "经核实，该照片为报送单位原创，异议不成立。"
    assert o.answered_by_id == secretariat.id
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.objection_answer"))
    page = client.get("/screening/publication").get_data(as_text=True)
    assert "待答复 0 条" in page
    assert '<span class="late">' not in page


def test_an_answer_is_required_and_bounded(an_objection, secretariat):
    for text, code in (("", "answer_required"), ("长" * 2001, "answer_too_long")):
        with pytest.raises(RuleError) as e:
            publication.answer(an_objection, text, actor=secretariat, now=AFTER)
        assert e.value.code == code


# -- Withdrawal for a cause -----------------------------------------------------------------------


def test_a_withdrawn_work_leaves_the_published_list(campaign, published, secretariat, unit):
    assert publication.withdrawn_ids(campaign) == set()
    publication.withdraw_selected(published, "经核实存在抄袭。", actor=secretariat, now=bj(2024, 9, 20, 9, 0))
    db.session.commit()
    assert publication.withdrawn_ids(campaign) == {published.id}
    assert publication.published_works(campaign) == []
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.withdraw_selected"))
    kinds = db.session.scalars(sa.select(Notice.kind).where(Notice.user_id == unit.account.id)).all()
    assert "screening_withdrawn" in kinds
    with pytest.raises(RuleError) as e:
        publication.withdraw_selected(published, "再撤一次", actor=secretariat, now=AFTER)
    assert e.value.code == "already_withdrawn"


def test_a_withdrawn_work_takes_no_more_objections(client, campaign, published, secretariat):
    assert client.get(objection_url(published)).status_code == 200
    publication.withdraw_selected(published, "经核实存在抄袭。", actor=secretariat, now=AFTER)
    db.session.commit()
    assert client.get(objection_url(published)).status_code == 404


def test_only_a_published_selected_work_can_be_withdrawn(campaign, submitted_work, make_unit, select, secretariat):
    chosen = submitted_work()
    other = submitted_work(owner=make_unit("33"))
    select([chosen])
    with pytest.raises(RuleError) as e:
        publication.withdraw_selected(chosen, "原因", actor=secretariat, now=AFTER)
    assert e.value.code == "not_yet_published"
    publication.publish(campaign, FIRST, actor=secretariat, now=AFTER)
    db.session.commit()
    with pytest.raises(RuleError) as e:
        publication.withdraw_selected(other, "原因", actor=secretariat, now=AFTER)
    assert e.value.code == "not_selected"
    with pytest.raises(RuleError) as e:
        publication.withdraw_selected(chosen, "  ", actor=secretariat, now=AFTER)
    assert e.value.code == "withdraw_reason_required"


def test_the_secretariat_withdraws_on_its_page(client, auth, campaign, published, secretariat):
    auth.login(secretariat.username)
    url = f"/screening/works/{published.id}/withdraw"
    page = client.get(url)
    assert page.status_code == 200
    assert "不可撤销" in page.get_data(as_text=True)
    r = client.post(url, data={"reason": ""})
    assert r.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Withdrawal)) == 0
    r = client.post(url, data={"reason": "经核实存在抄袭。"})
    assert r.status_code == 302
    assert publication.withdrawn_ids(campaign) == {published.id}
    listing = client.get("/screening/publication").get_data(as_text=True)
    assert "经核实存在抄袭。" in listing
    # a second visit is turned back with the reason
    again = client.get(url)
    assert again.status_code == 302


def test_other_roles_cannot_withdraw(client, auth, make_user, published):
    user = make_user(Role.HQ, province=None)
    auth.login(user.username)
    url = f"/screening/works/{published.id}/withdraw"
    assert client.get(url).status_code == 403
    assert client.post(url, data={"reason": "原因"}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Withdrawal)) == 0


def test_the_pages_punctuate_chinese_the_chinese_way(client, auth, secretariat, an_objection):
    work = an_objection.work
    pages = [client.get(objection_url(work)), client.get(f"/gongshi/works/{work.id}/objection/thanks")]
    pages.append(client.post(objection_url(work), data={**OBJECTION, "consent": ""}))
    auth.login(secretariat.username)
    pages += [
        client.get("/screening/publication"),
        client.get(f"/screening/objections/{an_objection.id}"),
        client.get(f"/screening/works/{work.id}/withdraw"),
        client.post(f"/screening/works/{work.id}/withdraw", data={"reason": ""}),
    ]
    wrong = []
    for r in pages:
        assert r.status_code == 200
        wrong += ascii_punctuation_in_chinese(r.get_data(as_text=True))
    assert not wrong
