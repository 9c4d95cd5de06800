"""An expert scores: the rules of a save (the scale, part of the criteria, a closed round,
an ended assignment), the next work and the progress, and the expert's pages."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from experience.screening import assignment as assigning
from experience.screening import rounds, scoring
from experience.screening.models import Assignment, AssignmentState, CriterionScore, Round, RoundState
from experience.works.models import WorkCategory
from tests.screening.conftest import AFTER


@pytest.fixture
def opened(app, screening_round, submitted_work, make_expert, secretariat, unit, other_unit):
    """``opened(works=2, experts=("ex1",), **settings)``: a round with text works of the
    two units, opened at AFTER, every work assigned to every expert (``experts_per_work``
    is their number). Returns (round, experts, works)."""

    def make(works: int = 2, experts=("ex1",), **settings):
        made = [submitted_work(unit if n % 2 == 0 else other_unit, title=f"作品{n + 1}") for n in range(works)]
        people = [make_expert(name) for name in experts]
        round_ = screening_round(experts_per_work=len(people), **settings)
        rounds.open_round(round_, actor=secretariat, now=AFTER)
        db.session.commit()
        return round_, people, made

    return make


def mine(expert, round_) -> list[Assignment]:
    return scoring.assignments_of(expert.id, round_)


def all_scores(round_, value=5) -> dict[int, int]:
    return {c.id: value for c in round_.criteria}


# -- The rules of a save -------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 11, 2.5, True, "5"])
def test_a_score_outside_whole_numbers_0_to_the_scale_is_refused(opened, value):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    first = round_.criteria[0]
    with pytest.raises(RuleError) as e:
        scoring.save(a, {first.id: value}, "", actor=expert, now=AFTER)
    assert e.value.code == "out_of_range"
    assert e.value.params["criterion_id"] == first.id
    assert "0 到 10" in str(e.value) or "0 to 10" in str(e.value)


def test_0_and_the_scale_max_are_scores(opened):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    low, high, *_rest = round_.criteria
    scoring.save(a, {low.id: 0, high.id: 10}, "", actor=expert, now=AFTER)
    db.session.commit()
    assert scoring.scores_of(db.session.get(Assignment, a.id)) == {low.id: 0, high.id: 10}


def test_a_partial_save_is_kept_and_the_work_counts_as_scored_only_when_every_criterion_is(opened):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    first, second = round_.criteria[:2]
    scoring.save(a, {first.id: 7, second.id: 8}, "先评两项", actor=expert, now=AFTER)
    db.session.commit()
    assert a.scored_at is None
    assert scoring.progress(round_, expert.id) == (0, 1)

    scoring.save(a, all_scores(round_, 6), "全部评完", actor=expert, now=AFTER)
    db.session.commit()
    assert a.scored_at == AFTER
    assert a.comment == "全部评完"
    assert scoring.progress(round_, expert.id) == (1, 1)

    emptied = all_scores(round_, 6)
    del emptied[second.id]  # the expert clears a field
    scoring.save(a, emptied, "", actor=expert, now=AFTER)
    db.session.commit()
    assert a.scored_at is None
    assert second.id not in scoring.scores_of(a)
    assert scoring.progress(round_, expert.id) == (0, 1)


def test_a_changed_score_replaces_the_old_one(opened):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    scoring.save(a, all_scores(round_, 4), "", actor=expert, now=AFTER)
    scoring.save(a, all_scores(round_, 9), "", actor=expert, now=AFTER)
    db.session.commit()
    rows = db.session.scalars(sa.select(CriterionScore).where(CriterionScore.assignment_id == a.id)).all()
    assert len(rows) == len(round_.criteria)
    assert {r.value for r in rows} == {9}


def test_a_comment_of_2000_characters_is_kept_and_2001_refused(opened):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    scoring.save(a, {}, "好" * 2000, actor=expert, now=AFTER)
    with pytest.raises(RuleError) as e:
        scoring.save(a, {}, "好" * 2001, actor=expert, now=AFTER)
    assert e.value.code == "comment_too_long"


def test_a_closed_round_refuses_a_save_and_the_scores_stay(opened, secretariat):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    scoring.save(a, all_scores(round_, 5), "定稿", actor=expert, now=AFTER)
    rounds.close_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()
    with pytest.raises(RuleError) as e:
        scoring.save(a, all_scores(round_, 9), "改", actor=expert, now=AFTER)
    assert e.value.code == "round_not_open"
    db.session.rollback()
    assert set(scoring.scores_of(db.session.get(Assignment, a.id)).values()) == {5}


def test_a_round_closed_after_the_page_was_read_refuses_the_save(opened, secretariat):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    # another request closes the round while the expert's page is open
    db.session.execute(sa.update(Round).where(Round.id == round_.id).values(state=RoundState.CLOSED))
    with pytest.raises(RuleError) as e:
        scoring.save(a, all_scores(round_), "", actor=expert, now=AFTER)
    assert e.value.code == "round_not_open"


def test_an_assignment_ended_by_a_declared_conflict_refuses_a_save(opened):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    assigning.declare_conflict(a, "我曾为该单位提供咨询", actor=expert, now=AFTER)
    db.session.commit()
    with pytest.raises(RuleError) as e:
        scoring.save(a, all_scores(round_), "", actor=expert, now=AFTER)
    assert e.value.code == "assignment_ended"


def test_only_the_assignments_expert_saves(opened):
    round_, (expert, other), _ = opened(works=1, experts=("ex1", "ex2"))
    a = mine(expert, round_)[0]
    with pytest.raises(RuleError) as e:
        scoring.save(a, all_scores(round_), "", actor=other, now=AFTER)
    assert e.value.code == "not_yours"


# -- The next work, the progress -------------------------------------------------------------


def test_the_next_work_is_the_next_unscored_one_after_the_given_one_going_round(opened):
    round_, (expert,), _ = opened(works=3)
    first, second, third = mine(expert, round_)
    assert scoring.next_assignment(expert, round_, None).id == first.id
    assert scoring.next_assignment(expert, round_, first).id == second.id
    scoring.save(second, all_scores(round_), "", actor=expert, now=AFTER)
    db.session.commit()
    assert scoring.next_assignment(expert, round_, first).id == third.id
    assert scoring.next_assignment(expert, round_, third).id == first.id  # from the top again
    scoring.save(first, all_scores(round_), "", actor=expert, now=AFTER)
    db.session.commit()
    assert scoring.next_assignment(expert, round_, third) is None  # itself never
    scoring.save(third, all_scores(round_), "", actor=expert, now=AFTER)
    db.session.commit()
    assert scoring.next_assignment(expert, round_, None) is None


def test_progress_counts_each_experts_and_all_active_assignments(opened):
    round_, (ex1, ex2), _ = opened(works=2, experts=("ex1", "ex2"))
    a1, _b1 = mine(ex1, round_)
    scoring.save(a1, all_scores(round_), "", actor=ex1, now=AFTER)
    db.session.commit()
    assert scoring.progress(round_, ex1.id) == (1, 2)
    assert scoring.progress(round_, ex2.id) == (0, 2)
    assert scoring.progress(round_) == (1, 4)
    assigning.declare_conflict(a1, "亲属在该单位任职", actor=ex1, now=AFTER)
    db.session.commit()
    # the ended assignment no longer counts; no other expert was free to take its place
    assert scoring.progress(round_, ex1.id) == (0, 1)
    assert scoring.progress(round_) == (0, 3)


# -- The pages -------------------------------------------------------------------------------


def test_the_expert_sees_their_rounds_works_and_progress(opened, client, auth):
    round_, (expert,), works = opened(works=2)
    first = mine(expert, round_)[0]
    scoring.save(first, all_scores(round_), "", actor=expert, now=AFTER)
    db.session.commit()
    auth.login("ex1")
    page = client.get("/review").get_data(as_text=True)
    assert round_.name in page
    assert "已评 1/2" in page
    for work in works:
        assert work.title in page
    assert "文字类作品" in page or "文字" in page
    assert "未评" in page


def test_an_expert_without_assignments_sees_an_empty_list(opened, client, auth, make_expert):
    opened(works=1)
    make_expert("idle")
    auth.login("idle")
    response = client.get("/review")
    assert response.status_code == 200
    assert "作品1" not in response.get_data(as_text=True)


def test_the_work_page_shows_the_work_and_the_criteria(opened, client, auth):
    round_, (expert,), (work, _other) = opened(works=2)
    a = mine(expert, round_)[0]
    auth.login("ex1")
    page = client.get(f"/review/{a.id}").get_data(as_text=True)
    assert work.title in page
    assert work.summary in page
    assert work.number in page
    assert work.body[:20] in page
    for c in round_.criteria:
        assert c.name in page
        assert f'name="score-{c.id}"' in page
        assert 'max="10"' in page
    assert "保存并下一个" in page
    assert "已评 0/2" in page


def test_save_and_next_saves_then_opens_the_next_work(opened, client, auth):
    round_, (expert,), _ = opened(works=2)
    first, second = mine(expert, round_)
    auth.login("ex1")
    form = {f"score-{c.id}": "8" for c in round_.criteria} | {"comment": "构思新颖", "save_next": "1"}
    response = client.post(f"/review/{first.id}", data=form)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/review/{second.id}")
    saved = db.session.get(Assignment, first.id)
    assert saved.scored_at is not None
    assert saved.comment == "构思新颖"
    assert set(scoring.scores_of(saved).values()) == {8}
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已评 1/2" in page


def test_save_stays_on_the_work_and_a_part_of_the_scores_is_kept(opened, client, auth):
    round_, (expert,), _ = opened(works=2)
    first = mine(expert, round_)[0]
    c = round_.criteria[0]
    auth.login("ex1")
    response = client.post(f"/review/{first.id}", data={f"score-{c.id}": "７", "save": "1"})  # full-width 7
    assert response.headers["Location"].endswith(f"/review/{first.id}")
    assert scoring.scores_of(db.session.get(Assignment, first.id)) == {c.id: 7}
    page = client.get(f"/review/{first.id}").get_data(as_text=True)
    assert re.search(rf'name="score-{c.id}"[^>]*value="7"', page)


def test_a_score_out_of_range_is_explained_in_chinese_and_nothing_is_saved(opened, client, auth):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    first, second = round_.criteria[:2]
    auth.login("ex1")
    response = client.post(f"/review/{a.id}", data={f"score-{first.id}": "12", f"score-{second.id}": "八", "save": "1"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.count("分数为 0 到 10 的整数") == 4  # the summary and each field, twice
    assert re.search(rf'name="score-{first.id}"[^>]*value="12"', page)
    assert scoring.scores_of(db.session.get(Assignment, a.id)) == {}


def test_another_experts_assignment_is_not_found_and_the_refusal_is_logged(opened, client, auth, make_expert):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    make_expert("nosy")
    auth.login("nosy")
    assert client.get(f"/review/{a.id}").status_code == 404
    assert client.post(f"/review/{a.id}", data={"save": "1"}).status_code == 404
    assert client.get(f"/review/{a.id}/conflict").status_code == 404
    refusals = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert any(r.target_id == str(a.id) for r in refusals)


def test_an_ended_assignment_is_not_found(opened, client, auth):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    assigning.declare_conflict(a, "曾参与该作品拍摄", actor=expert, now=AFTER)
    db.session.commit()
    auth.login("ex1")
    assert client.get(f"/review/{a.id}").status_code == 404
    assert "作品1" not in client.get("/review").get_data(as_text=True)


def test_a_closed_round_shows_the_scores_read_only_and_refuses_a_post(opened, client, auth, secretariat):
    round_, (expert,), _ = opened(works=1)
    a = mine(expert, round_)[0]
    scoring.save(a, all_scores(round_, 6), "最终意见", actor=expert, now=AFTER)
    rounds.close_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()
    auth.login("ex1")
    page = client.get(f"/review/{a.id}").get_data(as_text=True)
    assert "最终意见" in page
    assert "6 / 10" in page
    assert 'name="score-' not in page
    assert "申报利益冲突" not in page
    response = client.post(f"/review/{a.id}", data={f"score-{round_.criteria[0].id}": "9", "save": "1"})
    assert response.status_code == 302
    assert set(scoring.scores_of(db.session.get(Assignment, a.id)).values()) == {6}
    assert "本轮评分已结束" in client.get(f"/review/{a.id}").get_data(as_text=True)


def test_declaring_a_conflict_needs_a_reason_then_moves_on_to_the_next_work(opened, client, auth):
    round_, (expert,), _ = opened(works=2)
    first, second = mine(expert, round_)
    auth.login("ex1")
    page = client.get(f"/review/{first.id}/conflict")
    assert page.status_code == 200
    assert "作品1" in page.get_data(as_text=True)
    refused = client.post(f"/review/{first.id}/conflict", data={"reason": "  "})
    assert refused.status_code == 422
    assert db.session.get(Assignment, first.id).state is AssignmentState.ACTIVE
    done = client.post(f"/review/{first.id}/conflict", data={"reason": "本人在该单位兼职"})
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/review/{second.id}")
    ended = db.session.get(Assignment, first.id)
    assert ended.state is AssignmentState.CONFLICT
    assert ended.end_reason == "本人在该单位兼职"


@pytest.mark.parametrize("role", ["secretariat", "submitter", "hq"])
def test_only_experts_have_a_list_of_works_to_score(opened, client, auth, make_user, unit, role):
    opened(works=1)
    username = unit.account.username if role == "submitter" else make_user(role, province=None).username
    auth.login(username)
    assert client.get("/review").status_code == 403


def test_a_photo_works_page_renders(client, auth, screening_round, submitted_work, make_expert, secretariat, unit):
    work = submitted_work(unit, category=WorkCategory.PHOTO, title="照片作品")
    make_expert("ex1")
    round_ = screening_round(experts_per_work=1)
    rounds.open_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()
    a = db.session.scalar(sa.select(Assignment).where(Assignment.round_id == round_.id))
    auth.login("ex1")
    page = client.get(f"/review/{a.id}").get_data(as_text=True)
    assert work.title in page
    assert "<img" in page
    assert "护理员为老人讲解服务认证标志" in page  # the caption's description
    assert "李摄影" not in page  # the photographer, in a blind round
