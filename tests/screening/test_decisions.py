"""Decisions held pending and applied together: nothing reaches a unit before the bulk
action, which first shows what it will change and refuses when the decisions changed
since; a return goes through the collection's return, and the work sent again re-enters
its round with its old scores kept as history and its experts scoring again."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core import clock
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from experience.notices.models import Notice
from experience.screening import decisions, results, rounds, scoring
from experience.screening.models import Assignment, AssignmentState, Decision, Entry, Outcome
from experience.works import services, submission
from experience.works.models import WorkCategory, WorkState
from tests.conftest import PASSWORD
from tests.screening.conftest import AFTER, _seal

#: the last day a returned work may come back, a week after AFTER
REOPEN = date(2024, 9, 9)


@pytest.fixture
def round_with(screening_round, secretariat, make_expert):
    """``round_with(works, experts=2)``: a round opened at AFTER with every expert on every
    work, each work scored by every expert; returns (round, experts)."""

    def make(works, experts: int = 2, **settings):
        people = [make_expert(f"expert{n}", display_name=f"专家{n}号") for n in range(1, experts + 1)]
        round_ = screening_round(experts_per_work=experts, **settings)
        rounds.open_round(round_, actor=secretariat, now=AFTER)
        db.session.commit()
        for a in db.session.scalars(sa.select(Assignment).where(Assignment.round_id == round_.id)):
            expert = next(p for p in people if p.id == a.expert_id)
            scoring.save(a, {c.id: 7 for c in round_.criteria}, "", actor=expert, now=AFTER)
        db.session.commit()
        return round_, people

    return make


def entry_of(round_, work) -> Entry:
    return db.session.scalar(sa.select(Entry).where(Entry.round_id == round_.id, Entry.work_id == work.id))


def unit_notices(unit) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notice.kind).where(Notice.user_id == unit.account.id)))


def decide(entry, outcome, secretariat, reason="", reopen_until=None, now=AFTER):
    d = decisions.decide(entry, outcome, reason, reopen_until, actor=secretariat, now=now)
    db.session.commit()
    return d


def apply_all(round_, secretariat, now=AFTER) -> int:
    preview = decisions.preview(round_)
    count = decisions.apply_pending(round_, actor=secretariat, now=now, expected=set(preview.ids))
    db.session.commit()
    return count


# -- Deciding ----------------------------------------------------------------------------------


def test_a_decision_is_pending_and_nobody_hears_of_it(submitted_work, round_with, secretariat, unit):
    work = submitted_work()
    round_, _ = round_with([work])
    before = unit_notices(unit)
    d = decide(entry_of(round_, work), Outcome.SELECTED, secretariat)
    assert d.pending
    assert unit_notices(unit) == before
    assert (
        db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.decide")).detail["outcome"]
        == "selected"
    )


def test_changing_a_pending_decision_changes_it_in_place(submitted_work, round_with, secretariat):
    work = submitted_work()
    round_, _ = round_with([work])
    entry = entry_of(round_, work)
    first = decide(entry, Outcome.SELECTED, secretariat)
    second = decide(entry, Outcome.NOT_SELECTED, secretariat, reason="主题不够突出")
    assert second.id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Decision)) == 1
    assert second.outcome is Outcome.NOT_SELECTED and second.reason == "主题不够突出"
    assert decisions.undecide(entry, actor=secretariat, now=AFTER)
    db.session.commit()
    assert decisions.current_decision(entry) is None


@pytest.mark.parametrize(
    ("reason", "reopen_until", "code"),
    [
        ("", REOPEN, "reason_required"),
        ("请补充", None, "reopen_until_required"),
        ("请补充", date(2024, 9, 2), "reopen_past"),  # AFTER's own day in Beijing: not in the future
        ("长" * 1001, REOPEN, "reason_too_long"),
    ],
)
def test_a_return_needs_a_reason_and_a_day_still_to_come(
    submitted_work, round_with, secretariat, reason, reopen_until, code
):
    work = submitted_work()
    round_, _ = round_with([work])
    with pytest.raises(RuleError) as e:
        decisions.decide(entry_of(round_, work), Outcome.RETURN, reason, reopen_until, actor=secretariat, now=AFTER)
    assert e.value.code == code


def test_the_day_after_in_beijing_is_already_the_future(submitted_work, round_with, secretariat):
    work = submitted_work()
    round_, _ = round_with([work])
    late_evening = clock.from_beijing(datetime(2024, 9, 2, 23, 30))  # still Sep 2 in Beijing, Sep 2 UTC too
    d = decide(entry_of(round_, work), Outcome.RETURN, secretariat, "请补充", date(2024, 9, 3), now=late_evening)
    assert d.reopen_until == date(2024, 9, 3)


def test_a_decision_from_a_page_showing_an_older_version_is_refused(submitted_work, round_with, secretariat):
    work = submitted_work()
    round_, _ = round_with([work])
    entry = entry_of(round_, work)
    with pytest.raises(RuleError) as e:
        decisions.decide(entry, Outcome.SELECTED, "", None, actor=secretariat, now=AFTER, pass_no=entry.pass_no + 1)
    assert e.value.code == "pass_changed"


# -- Applying together ------------------------------------------------------------------------------


def test_the_preview_counts_each_outcome_and_lists_the_numbers(submitted_work, round_with, secretariat):
    works = [submitted_work(title=f"作品{n}") for n in range(4)]
    round_, _ = round_with(works)
    decide(entry_of(round_, works[0]), Outcome.SELECTED, secretariat)
    decide(entry_of(round_, works[1]), Outcome.SELECTED, secretariat)
    decide(entry_of(round_, works[2]), Outcome.NOT_SELECTED, secretariat)
    preview = decisions.preview(round_)
    assert preview.count == 3
    assert [(o, sorted(d.entry.work.number for d in ds)) for o, ds in preview.by_outcome()] == [
        (Outcome.SELECTED, sorted([works[0].number, works[1].number])),
        (Outcome.NOT_SELECTED, [works[2].number]),
    ]


def test_applying_tells_each_unit_and_an_applied_decision_never_changes(
    submitted_work, round_with, secretariat, unit, other_unit
):
    chosen, not_chosen = submitted_work(), submitted_work(other_unit, title="另一件")
    round_, _ = round_with([chosen, not_chosen])
    decide(entry_of(round_, chosen), Outcome.SELECTED, secretariat)
    decide(entry_of(round_, not_chosen), Outcome.NOT_SELECTED, secretariat, reason="内部备注")
    assert apply_all(round_, secretariat) == 2
    assert "screening_selected" in unit_notices(unit)
    assert "screening_not_selected" in unit_notices(other_unit)
    notice = db.session.scalar(sa.select(Notice).where(Notice.kind == "screening_not_selected"))
    assert "内部备注" not in str(notice.params)  # the secretariat's reason stays inside
    d = decisions.current_decision(entry_of(round_, chosen))
    assert d.applied_at == AFTER and d.applied_by_id == secretariat.id
    with pytest.raises(RuleError) as e:
        decisions.decide(entry_of(round_, chosen), Outcome.NOT_SELECTED, "", None, actor=secretariat, now=AFTER)
    assert e.value.code == "already_applied"
    with pytest.raises(RuleError) as e:
        decisions.undecide(entry_of(round_, chosen), actor=secretariat, now=AFTER)
    assert e.value.code == "already_applied"
    applied = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.apply"))
    assert applied.detail["count"] == 2 and applied.detail["outcomes"] == {"selected": 1, "not_selected": 1}
    assert decisions.selected_works(round_.campaign) == [chosen]
    with pytest.raises(RuleError) as e:
        decisions.apply_pending(round_, actor=secretariat, now=AFTER, expected=set())
    assert e.value.code == "nothing_pending"


def test_apply_refuses_when_the_decisions_changed_since_the_preview(submitted_work, round_with, secretariat, unit):
    first, second = submitted_work(), submitted_work(title="第二件")
    round_, _ = round_with([first, second])
    decide(entry_of(round_, first), Outcome.SELECTED, secretariat)
    shown = decisions.preview(round_)
    decide(entry_of(round_, second), Outcome.NOT_SELECTED, secretariat)  # added meanwhile
    with pytest.raises(RuleError) as e:
        decisions.apply_pending(round_, actor=secretariat, now=AFTER, expected=set(shown.ids))
    assert e.value.code == "decisions_changed"
    db.session.rollback()
    assert decisions.preview(round_).count == 2  # nothing applied
    # the same decision changed in place keeps its id: the preview's digest tells
    shown = decisions.preview(round_)
    decide(entry_of(round_, first), Outcome.NOT_SELECTED, secretariat)
    with pytest.raises(RuleError) as e:
        decisions.apply_pending(round_, actor=secretariat, now=AFTER, expected=set(shown.ids), digest=shown.digest)
    assert e.value.code == "decisions_changed"
    db.session.rollback()
    assert not [k for k in unit_notices(unit) if k.startswith("screening_")]


def test_two_secretaries_applying_at_once_apply_once(app, submitted_work, round_with, secretariat, make_user, unit):
    work = submitted_work()
    round_, _ = round_with([work])
    decide(entry_of(round_, work), Outcome.SELECTED, secretariat)
    colleague = make_user(Role.SECRETARIAT, province=None)
    shown = decisions.preview(round_)
    ids, digest, round_id = set(shown.ids), shown.digest, round_.id
    postgres = db.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(2, timeout=20)
    outcomes: list[str] = []

    def run(actor_id):
        with app.test_request_context(method="POST"):
            r = db.session.get(type(round_), round_id)
            actor = db.session.get(type(colleague), actor_id)
            if postgres:  # both have read before either writes; SQLite runs one writer at a time
                barrier.wait()
            try:
                decisions.apply_pending(r, actor=actor, now=AFTER, expected=ids, digest=digest)
                db.session.commit()
                outcomes.append("ok")
            except RuleError as e:
                db.session.rollback()
                outcomes.append(e.code)

    db.session.commit()
    threads = [threading.Thread(target=run, args=(who.id,)) for who in (secretariat, colleague)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    db.session.rollback()  # read what the threads wrote, not the snapshot taken before them
    assert sorted(outcomes) == ["decisions_changed", "ok"]
    assert unit_notices(unit).count("screening_selected") == 1
    applies = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "screening.apply")).all()
    assert len(applies) == 1


# -- A return, and the work sent again ---------------------------------------------------------------


def test_a_returned_work_sent_again_re_enters_with_its_history_kept(app, submitted_work, round_with, secretariat, unit):
    work = submitted_work()
    round_, experts = round_with([work])
    entry = entry_of(round_, work)
    old = {a.id: a.expert_id for a in db.session.scalars(sa.select(Assignment).where(Assignment.entry_id == entry.id))}
    assert len(old) == 2
    decide(entry, Outcome.RETURN, secretariat, "请补充作品的拍摄背景", REOPEN)
    assert db.session.get(type(work), work.id).state is WorkState.SUBMITTED  # pending: nothing yet
    assert "work_returned" not in unit_notices(unit)
    apply_all(round_, secretariat)
    work = db.session.get(type(work), work.id)
    assert work.state is WorkState.RETURNED and work.reopen_until == REOPEN
    assert "work_returned" in unit_notices(unit)

    # the unit changes the work within the return's window and submits it again
    sent_again = clock.from_beijing(datetime(2024, 9, 5, 9, 0))
    services.update_work(work, actor=unit.account, now=sent_again, summary="补充了拍摄背景。")
    _seal(work)
    submission.submit(work, actor=unit.account, now=sent_again)
    db.session.commit()
    db.session.expire_all()

    entry = entry_of(round_, work)
    assert entry.pass_no == 2
    history = db.session.scalars(sa.select(Assignment).where(Assignment.id.in_(old))).all()
    assert {a.state for a in history} == {AssignmentState.SUPERSEDED}
    assert all(a.ended_at == sent_again and a.scores for a in history)  # kept with their scores
    again = db.session.scalars(
        sa.select(Assignment).where(Assignment.entry_id == entry.id, Assignment.pass_no == 2)
    ).all()
    assert {a.expert_id for a in again} == set(old.values())
    assert {a.state for a in again} == {AssignmentState.ACTIVE}
    # the new pass has no score yet and no decision; the earlier one is history
    (r,) = results.entry_results(round_)
    assert r.complete == 0 and r.decision is None and r.rank is None
    detail = results.entry_detail(entry)
    assert [p.pass_no for p in detail.passes] == [2, 1]
    assert detail.passes[1].result.complete == 2 and detail.passes[1].decision.outcome is Outcome.RETURN
    page = _login(app, secretariat.username).get(f"/screening/entries/{entry.id}").get_data(as_text=True)
    assert "历史：第 1 版" in page and "请补充作品的拍摄背景" in page and "当前版本" in page

    # taken back and sent again within the window: changed meanwhile, so a third pass
    submission.withdraw(work, actor=unit.account, now=sent_again)
    taken_back = again[0]
    with pytest.raises(RuleError) as refused:  # nobody scores a work its unit is changing
        scoring.save(taken_back, {}, "", actor=taken_back.expert, now=sent_again)
    assert refused.value.code == "work_taken_back"
    submission.submit(work, actor=unit.account, now=sent_again)
    db.session.commit()
    db.session.expire_all()
    assert entry_of(round_, work).pass_no == 3
    second = db.session.scalars(sa.select(Assignment.state).where(Assignment.pass_no == 2)).all()
    assert second == [AssignmentState.SUPERSEDED] * 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Assignment).where(Assignment.pass_no == 3)) == 2


def test_an_expert_no_longer_eligible_is_replaced_on_re_entry(
    app, submitted_work, round_with, secretariat, unit, make_expert
):
    work = submitted_work()
    round_, (e1, e2) = round_with([work], experts=2)
    spare = make_expert("spare", display_name="后备专家")
    decide(entry_of(round_, work), Outcome.RETURN, secretariat, "请补充", REOPEN)
    apply_all(round_, secretariat)
    e2 = db.session.get(type(e2), e2.id)
    e2.active = False  # the secretariat switched the account off meanwhile
    db.session.commit()
    work = db.session.get(type(work), work.id)
    sent_again = clock.from_beijing(datetime(2024, 9, 5, 9, 0))
    services.update_work(work, actor=unit.account, now=sent_again, summary="改过了。")
    _seal(work)
    submission.submit(work, actor=unit.account, now=sent_again)
    db.session.commit()
    entry = entry_of(round_, work)
    active = db.session.scalars(
        sa.select(Assignment.expert_id).where(
            Assignment.entry_id == entry.id, Assignment.pass_no == 2, Assignment.state == AssignmentState.ACTIVE
        )
    ).all()
    assert sorted(active) == sorted([e1.id, spare.id])


def test_a_work_returned_by_the_desk_while_in_a_round_is_scored_again(submitted_work, round_with, secretariat, unit):
    """A return by the works desk (not a screening decision) changes the work all the same:
    sent again, it is a new pass, its earlier scores history."""
    work = submitted_work()
    round_, _ = round_with([work])
    first = {a.id for a in db.session.scalars(sa.select(Assignment).where(Assignment.round_id == round_.id))}
    submission.send_back(work, "请补充", REOPEN, actor=secretariat, now=AFTER)
    db.session.commit()
    sent_again = clock.from_beijing(datetime(2024, 9, 5, 9, 0))
    services.update_work(work, actor=unit.account, now=sent_again, summary="改过了。")
    _seal(work)
    submission.submit(work, actor=unit.account, now=sent_again)
    db.session.commit()
    assert entry_of(round_, work).pass_no == 2
    states = db.session.scalars(sa.select(Assignment.state).where(Assignment.id.in_(first))).all()
    assert set(states) == {AssignmentState.SUPERSEDED}


def test_a_work_decided_for_good_does_not_re_enter(submitted_work, round_with, secretariat, unit):
    """入选 applied is final: a later return by the desk and a new submission leave the round alone."""
    work = submitted_work()
    round_, _ = round_with([work])
    decide(entry_of(round_, work), Outcome.SELECTED, secretariat)
    apply_all(round_, secretariat)
    work = db.session.get(type(work), work.id)
    submission.send_back(work, "请补充", REOPEN, actor=secretariat, now=AFTER)
    db.session.commit()
    sent_again = clock.from_beijing(datetime(2024, 9, 5, 9, 0))
    services.update_work(work, actor=unit.account, now=sent_again, summary="改过了。")
    _seal(work)
    submission.submit(work, actor=unit.account, now=sent_again)
    db.session.commit()
    assert entry_of(round_, work).pass_no == 1


def test_the_next_round_waits_for_a_return_and_then_the_decisions_are_final(
    submitted_work, round_with, screening_round, secretariat, unit
):
    """A work returned in 初评 holds 终评 back until it came back and was decided on again
    (or its day passed); once 终评 opens, 初评's decisions no longer change, and a score on a
    work decided for good does not change either when 初评 opens again."""
    kept, returned = submitted_work(), submitted_work(title="社区食堂的认证之路")
    first, (expert, _) = round_with([kept, returned])
    decide(entry_of(first, kept), Outcome.ADVANCE, secretariat)
    decide(entry_of(first, returned), Outcome.RETURN, secretariat, "请补充", REOPEN)
    apply_all(first, secretariat)
    rounds.close_round(first, actor=secretariat, now=AFTER)
    db.session.commit()
    second = screening_round()
    with pytest.raises(RuleError) as refused:
        rounds.open_round(second, actor=secretariat, now=AFTER)
    assert refused.value.code == "previous_awaits_returns"
    db.session.rollback()

    # the work comes back: 初评 opens again to score it; the advanced one keeps its scores
    sent_again = clock.from_beijing(datetime(2024, 9, 5, 9, 0))
    returned = db.session.get(type(returned), returned.id)
    services.update_work(returned, actor=unit.account, now=sent_again, summary="补充了。")
    _seal(returned)
    submission.submit(returned, actor=unit.account, now=sent_again)
    db.session.commit()
    rounds.reopen_round(first, actor=secretariat, now=sent_again)
    db.session.commit()
    decided = db.session.scalar(
        sa.select(Assignment).where(Assignment.entry_id == entry_of(first, kept).id, Assignment.expert_id == expert.id)
    )
    with pytest.raises(RuleError) as refused:
        scoring.save(decided, {c.id: 1 for c in first.criteria}, "", actor=expert, now=sent_again)
    assert refused.value.code == "decided"
    db.session.rollback()
    for a in db.session.scalars(
        sa.select(Assignment).where(Assignment.entry_id == entry_of(first, returned).id, Assignment.pass_no == 2)
    ):
        scoring.save(a, {c.id: 8 for c in first.criteria}, "", actor=a.expert, now=sent_again)
    decide(entry_of(first, returned), Outcome.ADVANCE, secretariat, now=sent_again)
    apply_all(first, secretariat, now=sent_again)
    rounds.close_round(first, actor=secretariat, now=sent_again)
    rounds.open_round(second, actor=secretariat, now=sent_again)
    db.session.commit()
    assert {w.id for w in rounds.entered_works(second)} == {kept.id, returned.id}
    with pytest.raises(RuleError) as refused:
        decisions.decide(entry_of(first, kept), Outcome.NOT_SELECTED, "", None, actor=secretariat, now=sent_again)
    assert refused.value.code == "later_round_open"


# -- The pages --------------------------------------------------------------------------------------


def _login(app, username: str):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


def test_the_secretariat_decides_previews_and_applies_on_the_pages(
    app, submitted_work, round_with, secretariat, other_unit
):
    first, second = submitted_work(), submitted_work(other_unit, category=WorkCategory.TEXT, title="第二件")
    round_, _ = round_with([first, second])
    desk = _login(app, secretariat.username)
    e1, e2 = entry_of(round_, first), entry_of(round_, second)
    r = desk.post(f"/screening/entries/{e1.id}/decision", data={"outcome": "selected", "pass_no": "1"})
    assert r.status_code == 302
    r = desk.post(
        f"/screening/entries/{e2.id}/decision",
        data={"outcome": "return", "reason": "", "reopen_until": "2024-09-09", "pass_no": "1"},
        follow_redirects=True,
    )
    assert "请填写退回理由" in r.get_data(as_text=True)
    r = desk.post(
        f"/screening/entries/{e2.id}/decision",
        data={"outcome": "return", "reason": "请补充", "reopen_until": "9月9日", "pass_no": "1"},
        follow_redirects=True,
    )
    assert "请按日期格式" in r.get_data(as_text=True)
    r = desk.post(
        f"/screening/entries/{e2.id}/decision",
        data={"outcome": "return", "reason": "请补充简介", "reopen_until": "2024-09-09", "pass_no": "1"},
        follow_redirects=True,
    )
    page = r.get_data(as_text=True)
    assert "待生效" in page
    assert db.session.get(type(second), second.id).state is WorkState.SUBMITTED

    page = desk.get(f"/screening/rounds/{round_.id}/apply").get_data(as_text=True)
    assert "将变更 2 件作品：" in page
    assert first.number in page and second.number in page
    ids = sorted(d.id for d in decisions.preview(round_).decisions)
    digest = decisions.preview(round_).digest

    # a decision changed in another tab after the preview: the apply is refused, nothing applied
    desk.post(f"/screening/entries/{e1.id}/decision", data={"outcome": "not_selected", "pass_no": "1"})
    r = desk.post(
        f"/screening/rounds/{round_.id}/apply",
        data={"ids": ",".join(map(str, ids)), "digest": digest},
        follow_redirects=True,
    )
    assert "自您查看以来决定已有变化" in r.get_data(as_text=True)
    assert decisions.preview(round_).count == 2

    preview = decisions.preview(round_)
    r = desk.post(
        f"/screening/rounds/{round_.id}/apply",
        data={"ids": ",".join(str(i) for i in sorted(preview.ids)), "digest": preview.digest},
        follow_redirects=True,
    )
    assert "已使 2 项决定生效" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(second), second.id).state is WorkState.RETURNED
    assert decisions.preview(round_).count == 0
    # the unit reads the outcome, not the scores or the experts
    notices = _login(app, first.unit.credit_code).get("/notices").get_data(as_text=True)
    assert f"您的作品 {first.number}《{first.title}》在作品筛选（初评）中未入选。" in notices
    assert "专家1号" not in notices
    # an applied decision shows as such, without a form
    page = desk.get(f"/screening/entries/{e1.id}").get_data(as_text=True)
    assert "2024-09-02 10:00 生效" in page and 'name="outcome"' not in page


def test_bad_input_on_the_decision_form_gets_a_message_not_an_error(app, submitted_work, round_with, secretariat):
    work = submitted_work()
    round_, _ = round_with([work])
    desk = _login(app, secretariat.username)
    entry = entry_of(round_, work)
    r = desk.post(f"/screening/entries/{entry.id}/decision", data={"outcome": "maybe"}, follow_redirects=True)
    assert r.status_code == 200 and "请从所列决定中选择一项" in r.get_data(as_text=True)
    decide(entry, Outcome.SELECTED, secretariat)
    r = desk.post(f"/screening/entries/{entry.id}/decision", data={"outcome": ""}, follow_redirects=True)
    assert "已撤回待生效的决定" in r.get_data(as_text=True)
    assert decisions.current_decision(entry) is None
    r = desk.post(f"/screening/rounds/{round_.id}/apply", data={"ids": "1,x"})
    assert r.status_code == 400
    assert desk.post("/screening/entries/999999/decision", data={"outcome": "selected"}).status_code == 404


def test_experts_cannot_decide_or_apply(app, submitted_work, round_with):
    work = submitted_work()
    round_, (e1, _) = round_with([work])
    expert = _login(app, e1.username)
    entry = entry_of(round_, work)
    assert expert.post(f"/screening/entries/{entry.id}/decision", data={"outcome": "selected"}).status_code == 403
    assert expert.get(f"/screening/entries/{entry.id}").status_code == 403
    assert expert.post(f"/screening/rounds/{round_.id}/apply", data={"ids": ""}).status_code == 403
    assert decisions.preview(round_).count == 0
