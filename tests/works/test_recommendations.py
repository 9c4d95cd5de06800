"""推荐单位意见: a unit asks its province's market regulation department to recommend a
work; the province's staff recommend it (附件2's sentence) or decline with a reason. The
rules called directly, then the pages of each reader."""

from __future__ import annotations

import re
import threading
from datetime import datetime

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from experience.notices.models import Notice
from experience.works import recommendations, services, submission
from experience.works.models import (
    FileCheck,
    FileKind,
    Recommendation,
    RecommendationState,
    Work,
    WorkCategory,
    WorkFile,
    WorkState,
)
from tests.conftest import NOW, PASSWORD

#: 10:00 in Beijing on Aug 31: the day after the 2024 works deadline
AFTER_DEADLINE = datetime(2024, 8, 31, 2, 0)
SENTENCE = "该作品符合服务认证作品征集要求。我单位同意推荐该作品参加服务认证作品征集活动。"
BEIJING_BUREAU = "北京市市场监督管理局"


@pytest.fixture
def staff(make_user):
    """Two of Beijing's province staff, one of Zhejiang's, the secretariat and HQ."""
    return {
        "bj": make_user(Role.PROVINCE, "11", username="bjstaff", display_name="李处长"),
        "bj2": make_user(Role.PROVINCE, "11", username="bjstaff2", display_name="赵科长"),
        "zj": make_user(Role.PROVINCE, "33", username="zjstaff"),
        "secretariat": make_user(Role.SECRETARIAT, username="secret"),
        "hq": make_user(Role.HQ, username="hqboss"),
    }


def ask(work: Work, now: datetime = NOW) -> Recommendation:
    rec = recommendations.request(work, actor=work.unit.account, now=now)
    db.session.commit()
    return rec


def submit(work: Work) -> Work:
    """Submit a text work the way its unit does: text, declarations, the form's number, the
    sealed scan of this version (as the form's upload leaves it), then submission."""
    actor = work.unit.account
    services.set_text(work, "一家养老机构通过服务认证后的变化。", actor=actor, now=NOW)
    services.accept_declarations(work, version=services.DECLARATION_VERSION, title=work.title, actor=actor, now=NOW)
    submission.assign_number(work, actor=actor, now=NOW)
    db.session.add(
        WorkFile(
            work=work,
            kind=FileKind.FORM_SCAN,
            check_state=FileCheck.PASSED,
            form_hash=submission.form_hash(work),
            form_read=True,
            filename="登记表.jpg",
            content_type="image/jpeg",
            created_at=NOW,
        )
    )
    db.session.flush()
    submission.submit(work, actor=actor, now=NOW)
    db.session.commit()
    return work


def notices(kind: str) -> list[Notice]:
    return list(db.session.scalars(sa.select(Notice).where(Notice.kind == kind)))


def entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def refused(action) -> RuleError:
    with pytest.raises(RuleError) as e:
        action()
    db.session.rollback()
    return e.value


# -- The unit asks -------------------------------------------------------------------------------


def test_a_request_goes_to_the_units_province_with_a_notice_and_an_audit_entry(make_work):
    work = make_work()
    rec = ask(work)
    assert (rec.state, rec.province_code, rec.requested_at) == (RecommendationState.REQUESTED, "11", NOW)
    assert work.recommendation == rec
    [notice] = notices("recommendation_requested")
    assert (notice.province_code, notice.user_id, notice.role) == ("11", None, None)
    assert notice.params == {"unit": work.unit.name, "title": work.title}
    assert (notice.link_endpoint, notice.link_args) == ("works.view", {"work_id": work.id})
    [entry] = entries("work.recommendation_request")
    assert (entry.target_id, entry.province_code, entry.actor_id) == (str(work.id), "11", work.unit.account.id)


def test_a_second_request_while_one_waits_is_refused(make_work):
    work = make_work()
    ask(work)
    assert refused(lambda: ask(work)).code == "request_open"
    assert len(db.session.get(Work, work.id).recommendations) == 1


def test_a_draft_after_the_deadline_cannot_ask_but_a_submitted_work_can(make_work):
    draft = make_work(title="草稿作品")
    error = refused(lambda: ask(draft, AFTER_DEADLINE))
    assert error.code == "deadline_passed"
    assert "2024-08-30" in str(error)
    done = submit(make_work(title="已报送作品", category=WorkCategory.TEXT))
    assert ask(done, AFTER_DEADLINE).state is RecommendationState.REQUESTED


def test_a_recommendation_after_submission_leaves_the_work_submitted_and_its_sealed_form_current(make_work, staff):
    work = submit(make_work(category=WorkCategory.TEXT))
    before = submission.form_hash(work)
    rec = ask(work)
    recommendations.recommend(rec, actor=staff["bj"], now=NOW)
    db.session.commit()
    work = db.session.get(Work, work.id)
    assert work.state is WorkState.SUBMITTED
    assert submission.form_hash(work) == before
    assert submission.scan_current(work)


def test_the_unit_takes_its_request_back_and_may_ask_again(make_work, staff):
    work = make_work()
    first = ask(work)
    recommendations.withdraw(first, actor=work.unit.account, now=NOW)
    db.session.commit()
    assert first.state is RecommendationState.WITHDRAWN
    assert len(entries("work.recommendation_withdraw")) == 1
    assert refused(lambda: recommendations.withdraw(first, actor=work.unit.account, now=NOW)).code == (
        "withdrawn_already"
    )
    second = ask(work)
    assert second.id != first.id
    assert db.session.get(Work, work.id).recommendation == second


# -- The province answers ------------------------------------------------------------------------


def test_recommending_keeps_the_wording_and_tells_the_unit(make_work, staff):
    work = make_work()
    rec = ask(work)
    recommendations.recommend(rec, actor=staff["bj"], now=NOW)
    db.session.commit()
    assert (rec.state, rec.decided_by_id, rec.decided_at) == (RecommendationState.RECOMMENDED, staff["bj"].id, NOW)
    assert rec.text_version == submission.RECOMMENDATION_VERSION
    assert str(recommendations.sentence(rec)) == SENTENCE
    [notice] = notices("recommendation_given")
    assert (notice.user_id, notice.province_code) == (work.unit.account.id, None)
    assert notice.params == {"title": work.title, "province": BEIJING_BUREAU}
    [entry] = entries("work.recommendation_give")
    assert (entry.actor_id, entry.target_id) == (staff["bj"].id, str(work.id))
    # once recommended, there is nothing more to ask for
    assert refused(lambda: ask(work)).code == "already_recommended"


def test_declining_needs_a_reason(make_work, staff):
    rec = ask(make_work())
    for blank in ("", "  \n "):
        error = refused(lambda blank=blank: recommendations.decline(rec, blank, actor=staff["bj"], now=NOW))
        assert error.code == "reason_required"
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.REQUESTED
    assert not notices("recommendation_declined")
    too_long = "理" * (recommendations.REASON_MAX_CHARS + 1)
    assert refused(lambda: recommendations.decline(rec, too_long, actor=staff["bj"], now=NOW)).code == "reason_too_long"


def test_a_decline_tells_the_unit_why_and_the_unit_may_ask_again(make_work, staff):
    work = make_work()
    rec = ask(work)
    recommendations.decline(rec, " 作品简介与作品内容不符。 ", actor=staff["bj"], now=NOW)
    db.session.commit()
    assert (rec.state, rec.reason) == (RecommendationState.DECLINED, "作品简介与作品内容不符。")
    [notice] = notices("recommendation_declined")
    assert notice.user_id == work.unit.account.id
    assert notice.params["reason"] == "作品简介与作品内容不符。"
    assert entries("work.recommendation_decline")[0].detail["reason"] == "作品简介与作品内容不符。"
    again = ask(work)
    assert again.state is RecommendationState.REQUESTED
    assert [r.state for r in db.session.get(Work, work.id).recommendations] == [
        RecommendationState.DECLINED,
        RecommendationState.REQUESTED,
    ]


def test_an_answer_to_a_request_taken_back_meanwhile_is_refused(make_work, staff):
    work = make_work()
    rec = ask(work)
    recommendations.withdraw(rec, actor=work.unit.account, now=NOW)
    db.session.commit()
    assert refused(lambda: recommendations.recommend(rec, actor=staff["bj"], now=NOW)).code == "withdrawn_meanwhile"
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.WITHDRAWN
    assert not notices("recommendation_given")


def test_a_second_answer_names_the_colleague_who_answered_first(make_work, staff):
    rec = ask(make_work())
    recommendations.recommend(rec, actor=staff["bj"], now=NOW)
    db.session.commit()
    error = refused(lambda: recommendations.decline(rec, "不符合要求", actor=staff["bj2"], now=NOW))
    assert error.code == "answered_meanwhile"
    assert "李处长" in str(error) and "2024-08-13 10:00" in str(error)
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.RECOMMENDED
    assert len(notices("recommendation_given")) == 1 and not notices("recommendation_declined")


def test_the_unit_cannot_take_back_an_answered_request(make_work, staff):
    work = make_work()
    rec = ask(work)
    recommendations.decline(rec, "不符合要求", actor=staff["bj"], now=NOW)
    db.session.commit()
    assert refused(lambda: recommendations.withdraw(rec, actor=work.unit.account, now=NOW)).code == "answered_already"


@pytest.mark.parametrize("who", ["zj", "unit", "secretariat"])
def test_only_the_staff_of_the_province_asked_can_answer(make_work, staff, who):
    work = make_work()
    rec = ask(work)
    actor = work.unit.account if who == "unit" else staff[who]
    assert refused(lambda: recommendations.recommend(rec, actor=actor, now=NOW)).code == "not_the_province"
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.REQUESTED


def _at_once(app, *actions) -> list[str]:
    """Run each action(session objects...) in its own thread, request and connection, as two
    people's requests would; on PostgreSQL both read before either writes (a barrier);
    SQLite lets one write transaction run at a time. Returns each outcome: "ok" or a code."""
    postgres = db.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(len(actions), timeout=20)
    outcomes: list[str] = []

    def run(action):
        try:
            with app.test_request_context(method="POST"):
                try:
                    action(barrier.wait if postgres else lambda: None)
                    db.session.commit()
                    outcomes.append("ok")
                except RuleError as e:
                    db.session.rollback()
                    outcomes.append(e.code)
        except Exception as e:  # noqa: BLE001
            outcomes.append(repr(e))

    db.session.commit()  # the test's own transaction must not hold a lock the threads need
    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    db.session.rollback()
    return sorted(outcomes)


def test_two_staff_answering_at_once_give_one_answer(app, make_work, staff):
    rec_id = ask(make_work()).id
    ids = {"bj": staff["bj"].id, "bj2": staff["bj2"].id}

    def answer(who, how):
        def action(wait):
            rec = db.session.get(Recommendation, rec_id)
            actor = db.session.get(type(staff["bj"]), ids[who])
            rec.state  # noqa: B018 - read before either writes (on PostgreSQL)
            wait()
            if how == "recommend":
                recommendations.recommend(rec, actor=actor, now=NOW)
            else:
                recommendations.decline(rec, "不符合要求", actor=actor, now=NOW)

        return action

    outcomes = _at_once(app, answer("bj", "recommend"), answer("bj2", "decline"))
    assert outcomes == ["answered_meanwhile", "ok"]
    rec = db.session.get(Recommendation, rec_id)
    assert rec.state in (RecommendationState.RECOMMENDED, RecommendationState.DECLINED)
    answers = len(notices("recommendation_given")) + len(notices("recommendation_declined"))
    assert answers == 1


def test_two_requests_at_once_open_one(app, make_work):
    work_id = make_work().id

    def action(wait):
        work = db.session.get(Work, work_id)
        work.recommendation  # noqa: B018 - read before either writes (on PostgreSQL)
        wait()
        recommendations.request(work, actor=work.unit.account, now=NOW)

    assert _at_once(app, action, action) == ["ok", "request_open"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Recommendation)) == 1


def test_the_recommender_is_named_after_the_province():
    assert recommendations.recommender_name("11") == BEIJING_BUREAU
    assert recommendations.recommender_name("66") == "新疆生产建设兵团市场监督管理局"


# -- Through the pages -----------------------------------------------------------------------------


def client_of(app, username: str):
    c = app.test_client()
    assert c.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return c


@pytest.fixture
def clients(app, unit, other_unit, staff):
    return {
        "unit": client_of(app, unit.credit_code),
        "other_unit": client_of(app, other_unit.credit_code),
        **{name: client_of(app, user.username) for name, user in staff.items()},
    }


def text_of(page: str) -> str:
    """The page's text without tags, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def panel(page: str) -> str:
    found = re.search(r'<section class="card recommendation" id="recommendation">(.*?)</section>', page, re.S)
    assert found, "no recommendation panel"
    return found.group(1)


def test_the_unit_asks_on_the_works_page_and_its_province_sees_the_request(app, make_work, clients):
    work = make_work()
    page = clients["unit"].get(f"/works/{work.id}").get_data(as_text=True)
    assert "推荐单位意见" in panel(page) and f'action="/works/{work.id}/recommendation"' in panel(page)
    r = clients["unit"].post(f"/works/{work.id}/recommendation")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/works/{work.id}#recommendation")
    page = clients["unit"].get(f"/works/{work.id}").get_data(as_text=True)
    assert "已向本省级市场监管部门申请推荐。" in page
    shown = text_of(panel(page))
    assert "已申请" in shown and f"等待{BEIJING_BUREAU}答复。" in shown and "撤回申请" in shown
    rec = db.session.scalar(sa.select(Recommendation))
    assert len(notices("recommendation_requested")) == 1

    listing = clients["bj"].get("/works/recommendations")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    row = text_of(re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1))
    assert work.title in row
    assert work.unit.name in row
    assert "平面类" in row
    assert "已申请" in row
    assert f'href="/works/{work.id}#recommendation"' in html
    assert re.search(r'作品推荐 <span class="badge"[^>]*>1</span>', html)
    staff_page = clients["bj"].get(f"/works/{work.id}").get_data(as_text=True)
    assert SENTENCE in panel(staff_page) and BEIJING_BUREAU in panel(staff_page)
    assert f"/works/recommendations/{rec.id}/recommend" in staff_page
    assert f"/works/recommendations/{rec.id}/decline" in staff_page
    # the unit itself is offered no answer
    assert f"/works/recommendations/{rec.id}/recommend" not in page


def test_the_province_recommends_after_confirming_and_the_unit_sees_it_on_the_work(app, make_work, clients, staff):
    work = make_work()
    rec = ask(work)
    question = clients["bj"].post(f"/works/recommendations/{rec.id}/recommend")
    assert question.status_code == 200
    assert f"以{BEIJING_BUREAU}的名义推荐《{work.title}》？" in question.get_data(as_text=True)
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.REQUESTED
    r = clients["bj"].post(f"/works/recommendations/{rec.id}/recommend", data={"confirmed": "1"})
    assert r.status_code == 302
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.RECOMMENDED
    html = panel(clients["unit"].get(f"/works/{work.id}").get_data(as_text=True))
    shown = text_of(html)
    assert "已推荐" in shown
    assert SENTENCE in shown
    assert f"{BEIJING_BUREAU} · 2024-08-13" in shown
    assert "李处长" in shown
    assert "<form" not in html  # nothing more to ask for, nothing to take back
    [notice] = notices("recommendation_given")
    assert notice.user_id == work.unit.account.id
    # the list shows it answered, after the waiting ones
    waiting = ask(make_work(title="第二件作品"))
    html = clients["bj"].get("/works/recommendations").get_data(as_text=True)
    assert html.index("第二件作品") < html.index(work.title)
    assert waiting.state is RecommendationState.REQUESTED


def test_declining_without_a_reason_says_so_and_with_one_the_unit_reads_it(app, make_work, clients):
    work = make_work()
    rec = ask(work)
    r = clients["bj"].post(f"/works/recommendations/{rec.id}/decline", data={"decline-reason": "   "})
    assert r.status_code == 302
    page = clients["bj"].get(f"/works/{work.id}").get_data(as_text=True)
    assert "请填写不予推荐的理由，报送单位将看到该理由。" in page
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.REQUESTED
    reason = {"decline-reason": "作品<b>简介</b>与内容不符。"}
    clients["bj"].post(f"/works/recommendations/{rec.id}/decline", data=reason)
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.DECLINED
    unit_page = clients["unit"].get(f"/works/{work.id}").get_data(as_text=True)
    assert "作品&lt;b&gt;简介&lt;/b&gt;与内容不符。" in panel(unit_page)  # escaped, as everything typed
    assert "再次申请推荐" in panel(unit_page)
    clients["unit"].post(f"/works/{work.id}/recommendation")
    assert db.session.get(Work, work.id).recommendation.state is RecommendationState.REQUESTED
    assert "以往的申请（1）" in clients["unit"].get(f"/works/{work.id}").get_data(as_text=True)


def test_a_second_answer_through_the_pages_is_refused_with_who_answered(app, make_work, clients):
    work = make_work()
    rec = ask(work)
    clients["bj"].post(f"/works/recommendations/{rec.id}/recommend", data={"confirmed": "1"})
    clients["bj2"].post(f"/works/recommendations/{rec.id}/decline", data={"decline-reason": "不符合要求"})
    page = clients["bj2"].get(f"/works/{work.id}").get_data(as_text=True)
    assert "李处长 已于 2024-08-13 10:00 答复此申请（已推荐）。" in page
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.RECOMMENDED


def test_the_unit_takes_its_request_back_on_the_works_page(app, make_work, clients):
    work = make_work()
    rec = ask(work)
    r = clients["unit"].post(f"/works/recommendations/{rec.id}/withdraw")
    assert r.status_code == 302
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.WITHDRAWN
    shown = text_of(panel(clients["unit"].get(f"/works/{work.id}").get_data(as_text=True)))
    assert "已撤回申请" in shown and "再次申请推荐" in shown
    # the province's answer comes too late
    clients["bj"].post(f"/works/recommendations/{rec.id}/recommend", data={"confirmed": "1"})
    assert "报送单位已撤回此申请，无需答复。" in clients["bj"].get(f"/works/{work.id}").get_data(as_text=True)


def _denied(target_type: str, target_id) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == "access.denied",
            AuditEntry.target_type == target_type,
            AuditEntry.target_id == str(target_id),
        )
    )


def test_another_provinces_staff_find_nothing_and_the_refusals_are_logged(app, make_work, clients):
    work = make_work()
    rec = ask(work)
    zj = clients["zj"]
    assert zj.post(f"/works/recommendations/{rec.id}/recommend", data={"confirmed": "1"}).status_code == 404
    assert zj.post(f"/works/recommendations/{rec.id}/decline", data={"decline-reason": "不推荐"}).status_code == 404
    assert _denied("work_recommendation", rec.id) == 2
    assert zj.get(f"/works/{work.id}").status_code == 404
    assert work.title not in zj.get("/works/recommendations").get_data(as_text=True)
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.REQUESTED


def test_a_unit_cannot_recommend_its_own_work_nor_touch_another_units(app, make_work, clients):
    work = make_work()
    rec = ask(work)
    unit = clients["unit"]
    assert unit.post(f"/works/recommendations/{rec.id}/recommend", data={"confirmed": "1"}).status_code == 404
    assert unit.post(f"/works/recommendations/{rec.id}/decline", data={"decline-reason": "自荐"}).status_code == 404
    assert unit.get("/works/recommendations").status_code == 403
    other = clients["other_unit"]
    assert other.post(f"/works/{work.id}/recommendation").status_code == 404
    assert other.post(f"/works/recommendations/{rec.id}/withdraw").status_code == 404
    assert _denied("work_recommendation", rec.id) == 3
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.REQUESTED


def test_the_secretariat_and_hq_read_the_state_only(app, make_work, clients):
    work = make_work()
    rec = ask(work)
    shown = panel(clients["secretariat"].get(f"/works/{work.id}").get_data(as_text=True))
    assert "已申请" in shown
    assert "<form" not in shown
    for who in ("secretariat", "hq"):
        c = clients[who]
        assert c.post(f"/works/recommendations/{rec.id}/recommend", data={"confirmed": "1"}).status_code == 404
        assert c.get("/works/recommendations").status_code == 403
    assert db.session.get(Recommendation, rec.id).state is RecommendationState.REQUESTED


def test_a_closed_window_is_explained_to_the_unit(app, make_work, unit):
    work = make_work()
    app.config["FROZEN_NOW"] = AFTER_DEADLINE
    as_unit = client_of(app, unit.credit_code)
    html = panel(as_unit.get(f"/works/{work.id}").get_data(as_text=True))
    assert "2024-08-30" in text_of(html)
    assert f'action="/works/{work.id}/recommendation"' not in html
    as_unit.post(f"/works/{work.id}/recommendation")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Recommendation)) == 0


def test_the_list_runs_a_fixed_number_of_queries_whatever_its_length(app, make_work, clients, staff):
    def statements() -> int:
        seen = []

        def count(conn, cursor, statement, *args):
            seen.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert clients["bj"].get("/works/recommendations").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    def more(n: int) -> None:
        for i in range(n):
            rec = ask(make_work(title=f"作品{i}_{n}"))
            if i % 2:
                recommendations.recommend(rec, actor=staff["bj2"], now=NOW)
                db.session.commit()

    more(2)
    few = statements()
    more(10)
    assert statements() == few


def test_the_pages_punctuate_chinese_the_chinese_way_and_read_in_english(app, make_work, clients, staff):
    from tests.test_chinese_text import ascii_punctuation_in_chinese

    work = make_work()
    rec = ask(work)
    recommendations.decline(rec, "作品简介过于简略", actor=staff["bj"], now=NOW)
    db.session.commit()
    ask(work)
    recommended = ask(make_work(title="第二件作品"))
    recommendations.recommend(recommended, actor=staff["bj"], now=NOW)
    db.session.commit()
    pages = [
        (clients["bj"], "GET", "/works/recommendations", {}),
        (clients["bj"], "GET", f"/works/{work.id}", {}),
        (clients["bj"], "POST", f"/works/recommendations/{work.recommendation.id}/recommend", {}),
        (clients["unit"], "GET", f"/works/{work.id}", {}),
        (clients["unit"], "GET", f"/works/{recommended.work_id}", {}),
        (clients["secretariat"], "GET", f"/works/{recommended.work_id}", {}),
    ]
    for client, method, url, data in pages:
        r = client.open(url, method=method, data=data)
        assert r.status_code == 200, url
        html = r.get_data(as_text=True)
        # of a work's page, the panel (the page's own parts are tested with it)
        assert not ascii_punctuation_in_chinese(panel(html) if "/works/recommendations" not in url else html), url
    for client, method, url, data in pages:
        client.post("/language", data={"lang": "en"})
        r = client.open(url, method=method, data=data)
        assert r.status_code == 200, url
    assert "Recommending unit's opinion" in clients["unit"].get(f"/works/{work.id}").get_data(as_text=True)
