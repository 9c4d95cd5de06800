"""Who scores which work: balanced automatic assignment, conflicts of interest, declared
conflicts and reassignment, changes by hand, and the secretariat's page."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from experience.accounts.models import Role
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from experience.screening import assignment, experts, rounds, scoring
from experience.screening.models import Assignment, AssignmentState, Entry, Expert, Round, RoundState
from experience.units.models import Unit, UnitType
from experience.works import recommendations
from experience.works.models import Work, WorkCategory, WorkState
from tests.screening.conftest import AFTER

ACTIVE = AssignmentState.ACTIVE


def open_with(round_, works):
    """The round open with these works entered, and nobody assigned yet (what
    rounds.open_round does before it calls assign)."""
    round_.state = RoundState.OPEN
    round_.opened_at = AFTER
    for work in works:
        db.session.add(Entry(round_id=round_.id, work_id=work.id, pass_no=1, entered_at=AFTER))
    db.session.commit()
    return round_


def entry_of(round_, work) -> Entry:
    return db.session.scalar(sa.select(Entry).where(Entry.round_id == round_.id, Entry.work_id == work.id))


def experts_of(round_, work) -> set[str]:
    """Usernames of the work's active experts."""
    entry = entry_of(round_, work)
    rows = db.session.scalars(
        sa.select(Assignment).where(Assignment.entry_id == entry.id, Assignment.state == ACTIVE)
    ).all()
    return {a.expert.username for a in rows}


def loads(round_) -> dict[str, int]:
    rows = db.session.scalars(sa.select(Assignment).where(Assignment.round_id == round_.id, Assignment.state == ACTIVE))
    out: dict[str, int] = {}
    for a in rows:
        out[a.expert.username] = out.get(a.expert.username, 0) + 1
    return out


def expert(user) -> Expert:
    return db.session.get(Expert, user.id)


def reason(user, work, round_) -> str | None:
    """Why the expert may not score the work, as ``conflict_reason`` says from the records,
    checked against what the assignment reads in bulk (the two must agree)."""
    said = assignment.conflict_reason(expert(user), work, round_)
    entry = entry_of(round_, work)
    if entry is not None:
        assert assignment.Pool(round_, [entry.id]).reason(user.id, entry.id) == said
    return said


def code(excinfo) -> str:
    return excinfo.value.code


@pytest.fixture
def works_of(submitted_work, make_unit):
    """``works_of(count, province_code="44")``: that many text works, each of its own unit."""

    def make(count: int, province_code: str = "44", **fields):
        return [submitted_work(make_unit(province_code), title=f"作品{i}", **fields) for i in range(count)]

    return make


# -- Balance -------------------------------------------------------------------------------------


def test_every_work_gets_its_experts_and_loads_differ_by_at_most_one(works_of, make_expert, screening_round, now):
    works = works_of(7)
    for name in ("exa", "exb", "exc", "exd", "exe"):
        make_expert(name)
    round_ = open_with(screening_round(experts_per_work=3), works)

    result = assignment.assign(round_, now=AFTER)
    db.session.commit()

    assert result.added == 21
    assert result.unfilled == []
    for work in works:
        assert len(experts_of(round_, work)) == 3
    counted = loads(round_)
    assert sorted(counted) == ["exa", "exb", "exc", "exd", "exe"]
    assert max(counted.values()) - min(counted.values()) <= 1


def test_a_work_only_one_expert_may_score_leaves_the_loads_balanced(
    make_unit, submitted_work, make_expert, screening_round
):
    """A work every expert may score entered first, then one only the first expert may: taken in
    order, the first expert would get both; the constrained work chooses first instead."""
    anyone = submitted_work(make_unit("44"), title="谁都可以评")
    beijing = submitted_work(make_unit("11"), title="北京的作品")
    make_expert("zhejiang", province_code="33")
    make_expert("beijing", province_code="11")
    round_ = open_with(screening_round(experts_per_work=1, exclude_same_province=True), [anyone, beijing])

    assignment.assign(round_, now=AFTER)
    db.session.commit()

    assert experts_of(round_, beijing) == {"zhejiang"}
    assert experts_of(round_, anyone) == {"beijing"}


def test_experts_of_one_category_get_as_many_works_as_the_others(app, campaign, make_expert, screening_round):
    """The videos entered first and every expert took some; the expert who scores only
    videos would be left with few once the other works went to the others: assignments
    move to that expert until the loads are within one."""
    videos = _bare_works(campaign, 6, WorkCategory.VIDEO)
    others = _bare_works(campaign, 6, WorkCategory.TEXT) + _bare_works(campaign, 6, WorkCategory.PHOTO)
    for name in ("exa", "exb", "exc"):
        make_expert(name)
    only_videos = make_expert("videos", categories=["video"])
    round_ = screening_round(experts_per_work=1, by_category=True)
    round_.state = RoundState.OPEN
    for work_id in videos + others:
        db.session.add(Entry(round_id=round_.id, work_id=work_id, pass_no=1, entered_at=AFTER))
    db.session.commit()

    result = assignment.assign(round_, now=AFTER)
    db.session.commit()

    counted = loads(round_)
    assert result.added == 18
    assert max(counted.values()) - min(counted.values()) <= 1
    scored_by_the_video_expert = db.session.scalars(
        sa.select(Work.category)
        .join(Entry, Entry.work_id == Work.id)
        .join(Assignment, Assignment.entry_id == Entry.id)
        .where(Assignment.expert_id == only_videos.id)
    ).all()
    assert set(scored_by_the_video_expert) == {WorkCategory.VIDEO}


def test_assignments_already_made_count_in_the_loads(works_of, make_expert, screening_round, secretariat):
    works = works_of(4)
    a, b = make_expert("exa"), make_expert("exb")
    round_ = open_with(screening_round(experts_per_work=1), works)
    for work in works[:2]:
        assignment.add_by_hand(entry_of(round_, work), a, actor=secretariat, now=AFTER)
    db.session.commit()

    assignment.assign(round_, now=AFTER)
    db.session.commit()

    assert experts_of(round_, works[2]) == {b.username}
    assert experts_of(round_, works[3]) == {b.username}
    assert loads(round_) == {"exa": 2, "exb": 2}


def test_assigning_again_adds_nothing(works_of, make_expert, screening_round):
    works = works_of(3)
    for name in ("exa", "exb", "exc", "exd"):
        make_expert(name)
    round_ = open_with(screening_round(experts_per_work=2), works)
    first = assignment.assign(round_, now=AFTER)
    db.session.commit()
    before = db.session.scalar(sa.select(sa.func.count(Assignment.id)))

    again = assignment.assign(round_, now=AFTER)
    db.session.commit()

    assert first.added == 6
    assert again.added == 0
    assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == before


def test_an_assignment_is_audited_with_its_count(works_of, make_expert, screening_round, secretariat):
    works = works_of(2)
    make_expert("exa")
    round_ = open_with(screening_round(experts_per_work=1), works)

    assignment.assign(round_, now=AFTER, actor=secretariat)
    db.session.commit()

    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.assign"))
    assert entry.actor_id == secretariat.id
    assert entry.target_id == str(round_.id)
    assert entry.detail["assigned"] == 2


def test_the_cost_does_not_grow_with_pairs(app, campaign, make_expert, screening_round):
    """The rules are checked in memory: the statements an assignment sends are as many for
    30 works as for 3 (no query per work or per pair)."""
    for name in ("exa", "exb", "exc", "exd"):
        make_expert(name)

    def statements_for(count: int) -> int:
        round_ = screening_round(experts_per_work=2)
        round_.state = RoundState.OPEN
        for work_id in _bare_works(campaign, count):
            db.session.add(Entry(round_id=round_.id, work_id=work_id, pass_no=1, entered_at=AFTER))
        db.session.commit()
        sent = []
        listener = lambda *args: sent.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            result = assignment.assign(round_, now=AFTER)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        db.session.commit()
        assert result.added == 2 * count
        return len(sent)

    assert statements_for(30) == statements_for(3)


_bare = iter(range(1, 10_000))


def _bare_works(campaign, count: int, category: WorkCategory = WorkCategory.TEXT) -> list[int]:
    """Submitted works' rows, made directly (as bench/screening.py does), each of its own unit."""
    ids = []
    for _ in range(count):
        n = next(_bare)
        unit = Unit(
            name=f"批量单位{n}",
            credit_code=f"91BULK{n:012d}",
            unit_type=UnitType.OTHER,
            province_code="44",
            contact_name="王",
            contact_mobile="13812345678",
            declaration_version="test",
            declaration_accepted_at=AFTER,
            created_at=AFTER,
        )
        work = Work(
            campaign=campaign,
            unit=unit,
            title=f"作品{n}",
            category=category,
            completed_on=date(2024, 6, 1),
            contact_name="王",
            contact_phone="13812345678",
            summary="简介",
            state=WorkState.SUBMITTED,
            number=f"T-{n:05d}",
            created_at=AFTER,
            updated_at=AFTER,
        )
        db.session.add(work)
        db.session.flush()
        ids.append(work.id)
    return ids


# -- Conflicts of interest ----------------------------------------------------------------------


def test_an_expert_of_the_submitting_unit_by_credit_code_never_scores_its_work(
    unit, other_unit, submitted_work, make_expert, screening_round
):
    own = submitted_work(unit)
    other = submitted_work(other_unit)
    # the unit's credit code, under another name for the unit: the code decides
    insider = make_expert("insider", organisation="康乐养老（北京总部）", credit_code=unit.credit_code)
    make_expert("outsider", organisation="中国质量认证中心")
    round_ = open_with(screening_round(experts_per_work=1), [own, other])

    assert reason(insider, own, round_) == "own_unit"
    assert reason(insider, other, round_) is None
    assignment.assign(round_, now=AFTER)
    db.session.commit()

    assert experts_of(round_, own) == {"outsider"}
    assert experts_of(round_, other) == {"insider"}


def test_an_expert_without_a_credit_code_is_matched_on_the_units_normalised_name(
    unit, submitted_work, make_expert, screening_round
):
    work = submitted_work(unit)  # 北京康乐养老服务有限公司
    same_name = make_expert("samename", organisation=" 北京康乐养老服务 有限公司 ")
    fullwidth = make_expert("fullwidth", organisation="北京康乐养老服务有限公司（）")
    round_ = open_with(screening_round(), [work])

    assert reason(same_name, work, round_) == "own_unit"
    assert reason(fullwidth, work, round_) == "own_unit"


def test_an_expert_with_a_credit_code_is_matched_on_the_code_only(
    unit, other_unit, submitted_work, make_expert, screening_round
):
    """Two units may share a name in different places; the expert's own code tells them apart."""
    work = submitted_work(unit)
    namesake = make_expert("namesake", organisation=unit.name, credit_code=other_unit.credit_code)
    round_ = open_with(screening_round(), [work])

    assert reason(namesake, work, round_) is None


def test_experts_of_the_recommending_department_never_score_the_work(
    unit, submitted_work, make_user, make_expert, screening_round
):
    work = submitted_work(unit)
    staff = make_user(Role.PROVINCE, "11", organisation="北京市朝阳区市场监督管理局")
    asked = recommendations.request(work, actor=unit.account, now=AFTER)
    recommendations.recommend(asked, actor=staff, now=AFTER)
    db.session.commit()
    district = make_expert("district", organisation="北京市朝阳区市场监督管理局")
    province = make_expert("province", organisation="北京市市场监督管理局")
    elsewhere = make_expert("elsewhere", organisation="上海市市场监督管理局")
    round_ = open_with(screening_round(experts_per_work=3), [work])

    assert reason(district, work, round_) == "recommender"
    assert reason(province, work, round_) == "recommender"
    assert reason(elsewhere, work, round_) is None
    result = assignment.assign(round_, now=AFTER)
    db.session.commit()

    assert experts_of(round_, work) == {"elsewhere"}
    assert [(e.work_id, missing) for e, missing in result.unfilled] == [(work.id, 2)]


def test_a_declined_recommendation_is_no_conflict(unit, submitted_work, make_user, make_expert, screening_round):
    work = submitted_work(unit)
    staff = make_user(Role.PROVINCE, "11", organisation="北京市市场监督管理局")
    asked = recommendations.request(work, actor=unit.account, now=AFTER)
    recommendations.decline(asked, "材料不全", actor=staff, now=AFTER)
    db.session.commit()
    department = make_expert("province", organisation="北京市市场监督管理局")
    round_ = open_with(screening_round(), [work])

    assert reason(department, work, round_) is None


def test_experts_of_the_works_province_are_excluded_only_when_the_round_says_so(
    unit, submitted_work, make_expert, screening_round
):
    work = submitted_work(unit)  # Beijing
    local = make_expert("local", province_code="11")
    strict = open_with(screening_round(exclude_same_province=True), [work])
    relaxed = screening_round(exclude_same_province=False)

    assert reason(local, work, strict) == "same_province"
    assert reason(local, work, relaxed) is None
    assignment.assign(strict, now=AFTER)
    db.session.commit()
    assert experts_of(strict, work) == set()


def test_by_category_only_experts_of_the_category_score_the_work(unit, submitted_work, make_expert, screening_round):
    work = submitted_work(unit, category=WorkCategory.TEXT)
    photos = make_expert("photos", categories=["photo"])
    texts = make_expert("texts", categories=["text", "video"])
    everything = make_expert("everything", categories=[])
    by_category = open_with(screening_round(by_category=True, experts_per_work=3), [work])
    any_category = screening_round(by_category=False)

    assert reason(photos, work, by_category) == "category"
    assert reason(texts, work, by_category) is None
    assert reason(everything, work, by_category) is None
    assert reason(photos, work, any_category) is None
    assignment.assign(by_category, now=AFTER)
    db.session.commit()
    assert experts_of(by_category, work) == {"texts", "everything"}


def test_a_disabled_expert_is_not_assigned(works_of, make_expert, screening_round):
    works = works_of(1)
    make_expert("exa")
    gone = make_expert("gone")
    gone.active = False
    db.session.commit()
    round_ = open_with(screening_round(experts_per_work=2), works)

    result = assignment.assign(round_, now=AFTER)
    db.session.commit()

    assert experts_of(round_, works[0]) == {"exa"}
    assert [n for _, n in result.unfilled] == [1]
    assert [e.user.username for e in assignment.active_experts()] == ["exa"]


def test_an_expert_made_inactive_hands_over_the_works_not_scored_yet(
    works_of, make_expert, screening_round, secretariat
):
    first, second = works_of(2)
    make_expert("exa")
    ill = make_expert("ill")
    round_ = open_with(screening_round(experts_per_work=2), [first, second])
    assignment.assign(round_, now=AFTER)
    db.session.commit()
    scored = db.session.scalar(
        sa.select(Assignment).where(Assignment.expert_id == ill.id, Assignment.entry_id == entry_of(round_, first).id)
    )
    scoring.save(scored, {c.id: 5 for c in round_.criteria}, "", actor=ill, now=AFTER)
    make_expert("spare")
    db.session.commit()

    experts.update_expert(ill, actor=secretariat, now=AFTER, active=False)
    db.session.commit()

    assert experts_of(round_, first) == {"exa", "ill"}  # scored: the scores were given
    assert experts_of(round_, second) == {"exa", "spare"}
    assert not assignment.unfilled(round_)


# -- Too few experts -----------------------------------------------------------------------------


def test_a_work_without_enough_eligible_experts_is_listed(
    unit, other_unit, submitted_work, make_expert, screening_round
):
    own = submitted_work(unit)
    other = submitted_work(other_unit)
    make_expert("insider", credit_code=unit.credit_code)
    make_expert("exb")
    make_expert("exc")
    round_ = open_with(screening_round(experts_per_work=3), [own, other])

    result = assignment.assign(round_, now=AFTER)
    db.session.commit()

    assert [(e.work_id, n) for e, n in result.unfilled] == [(own.id, 1)]
    assert [(e.work_id, n) for e, n in assignment.unfilled(round_)] == [(own.id, 1)]
    assert len(experts_of(round_, other)) == 3


# -- A declared conflict -------------------------------------------------------------------------


def test_a_declared_conflict_ends_the_assignment_and_another_expert_takes_the_place(
    works_of, make_expert, screening_round
):
    works = works_of(1)
    experts = [make_expert(n) for n in ("exa", "exb", "exc", "exd")]
    round_ = open_with(screening_round(experts_per_work=3), works)
    assignment.assign(round_, now=AFTER)
    db.session.commit()
    chosen = experts_of(round_, works[0])
    spare = next(u for u in experts if u.username not in chosen)
    declarer = next(u for u in experts if u.username in chosen)
    held = db.session.scalar(sa.select(Assignment).where(Assignment.expert_id == declarer.id))

    replacement = assignment.declare_conflict(
        held, "我曾指导过该作品的拍摄。", actor=declarer, now=AFTER, ip="10.0.0.1"
    )
    db.session.commit()

    assert replacement.expert_id == spare.id
    assert held.state is AssignmentState.CONFLICT
    assert held.ended_at == AFTER
    assert held.end_reason == "我曾指导过该作品的拍摄。"
    assert experts_of(round_, works[0]) == (chosen - {declarer.username}) | {spare.username}
    logged = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.conflict"))
    assert logged.actor_id == declarer.id
    assert logged.detail["reason"] == "我曾指导过该作品的拍摄。"
    assert logged.ip == "10.0.0.1"


def test_an_expert_who_declared_a_conflict_is_never_assigned_to_the_work_again(
    works_of, make_expert, screening_round, secretariat
):
    works = works_of(1)
    a = make_expert("exa")
    make_expert("exb")
    round_ = open_with(screening_round(experts_per_work=2), works)
    assignment.assign(round_, now=AFTER)
    db.session.commit()
    held = db.session.scalar(sa.select(Assignment).where(Assignment.expert_id == a.id))

    replacement = assignment.declare_conflict(held, "亲属在该单位工作", actor=a, now=AFTER)
    again = assignment.assign(round_, now=AFTER)
    db.session.commit()

    assert replacement is None
    assert again.added == 0
    assert experts_of(round_, works[0]) == {"exb"}
    assert [n for _, n in assignment.unfilled(round_)] == [1]
    with pytest.raises(RuleError) as refused:
        assignment.add_by_hand(entry_of(round_, works[0]), a, actor=secretariat, now=AFTER)
    assert code(refused) == "declared_conflict"


def test_only_the_expert_declares_a_conflict_with_a_reason(works_of, make_expert, screening_round):
    works = works_of(1)
    a, b = make_expert("exa"), make_expert("exb")
    round_ = open_with(screening_round(experts_per_work=1), works)
    assignment.assign(round_, now=AFTER)
    db.session.commit()
    held = db.session.scalar(sa.select(Assignment).where(Assignment.state == ACTIVE))
    owner = a if held.expert_id == a.id else b
    stranger = b if owner is a else a

    with pytest.raises(RuleError) as refused:
        assignment.declare_conflict(held, "理由", actor=stranger, now=AFTER)
    assert code(refused) == "not_yours"
    with pytest.raises(RuleError) as refused:
        assignment.declare_conflict(held, "   ", actor=owner, now=AFTER)
    assert code(refused) == "conflict_reason_required"
    with pytest.raises(RuleError) as refused:
        assignment.declare_conflict(held, "长" * 501, actor=owner, now=AFTER)
    assert code(refused) == "reason_too_long"
    assert "500" in str(refused.value)
    assignment.declare_conflict(held, "理由", actor=owner, now=AFTER)
    with pytest.raises(RuleError) as refused:
        assignment.declare_conflict(held, "理由", actor=owner, now=AFTER)
    assert code(refused) == "ended"


def test_no_conflict_is_declared_once_the_round_is_closed(works_of, make_expert, screening_round):
    works = works_of(1)
    a = make_expert("exa")
    round_ = open_with(screening_round(experts_per_work=1), works)
    assignment.assign(round_, now=AFTER)
    round_.state = RoundState.CLOSED
    db.session.commit()
    held = db.session.scalar(sa.select(Assignment))

    with pytest.raises(RuleError) as refused:
        assignment.declare_conflict(held, "理由", actor=a, now=AFTER)
    assert code(refused) == "round_not_open"
    assert held.state is ACTIVE


# -- By hand -------------------------------------------------------------------------------------


def test_the_secretariat_adds_an_expert_by_hand_beyond_the_rounds_number(
    works_of, make_expert, screening_round, secretariat
):
    works = works_of(1)
    make_expert("exa")
    extra = make_expert("exb")
    round_ = open_with(screening_round(experts_per_work=1), works)
    assignment.assign(round_, now=AFTER)
    db.session.commit()
    entry = entry_of(round_, works[0])
    assert extra.username not in experts_of(round_, works[0])

    added = assignment.add_by_hand(entry, extra, actor=secretariat, now=AFTER)
    db.session.commit()

    assert added.assigned_by_id == secretariat.id
    assert experts_of(round_, works[0]) == {"exa", "exb"}
    logged = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.assignment_add"))
    assert logged.detail["expert"] == "exb"
    with pytest.raises(RuleError) as refused:
        assignment.add_by_hand(entry, extra, actor=secretariat, now=AFTER)
    assert code(refused) == "already_assigned"


def test_by_hand_the_rules_of_conflict_still_hold(unit, submitted_work, make_expert, screening_round, secretariat):
    work = submitted_work(unit)
    insider = make_expert("insider", credit_code=unit.credit_code, display_name="李专家")
    round_ = open_with(screening_round(), [work])

    with pytest.raises(RuleError) as refused:
        assignment.add_by_hand(entry_of(round_, work), insider, actor=secretariat, now=AFTER)

    assert code(refused) == "ineligible"
    assert "李专家" in str(refused.value)
    assert str(assignment.REASONS["own_unit"]) in str(refused.value)


def test_only_an_active_expert_is_added(works_of, make_expert, screening_round, secretariat):
    works = works_of(1)
    gone = make_expert("gone")
    gone.active = False
    db.session.commit()
    round_ = open_with(screening_round(), works)
    entry = entry_of(round_, works[0])

    for who in (secretariat, gone, None):
        with pytest.raises(RuleError) as refused:
            assignment.add_by_hand(entry, who, actor=secretariat, now=AFTER)
        assert code(refused) == "not_an_expert"


def test_the_secretariat_removes_an_expert_with_a_reason_and_assigning_again_does_not_bring_them_back(
    works_of, make_expert, screening_round, secretariat
):
    works = works_of(1)
    a = make_expert("exa")
    make_expert("exb")
    round_ = open_with(screening_round(experts_per_work=1), works)
    assignment.add_by_hand(entry_of(round_, works[0]), a, actor=secretariat, now=AFTER)
    db.session.commit()
    held = db.session.scalar(sa.select(Assignment).where(Assignment.expert_id == a.id))

    with pytest.raises(RuleError) as refused:
        assignment.remove_by_hand(held, "", actor=secretariat, now=AFTER)
    assert code(refused) == "remove_reason_required"
    assignment.remove_by_hand(held, "专家临时出差", actor=secretariat, now=AFTER)
    db.session.commit()

    assert held.state is AssignmentState.REMOVED
    assert held.end_reason == "专家临时出差"
    assert [n for _, n in assignment.unfilled(round_)] == [1]
    assignment.assign(round_, now=AFTER)
    db.session.commit()
    assert experts_of(round_, works[0]) == {"exb"}
    with pytest.raises(RuleError) as refused:
        assignment.remove_by_hand(held, "再次", actor=secretariat, now=AFTER)
    assert code(refused) == "ended"
    # by hand, the secretariat may change its mind
    assignment.add_by_hand(entry_of(round_, works[0]), a, actor=secretariat, now=AFTER)
    db.session.commit()
    assert experts_of(round_, works[0]) == {"exa", "exb"}
    logged = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.assignment_remove"))
    assert logged.detail["reason"] == "专家临时出差"


def test_nothing_changes_by_hand_unless_the_round_is_open(works_of, make_expert, screening_round, secretariat):
    works = works_of(1)
    a, b = make_expert("exa"), make_expert("exb")
    round_ = open_with(screening_round(experts_per_work=1), works)
    assignment.add_by_hand(entry_of(round_, works[0]), a, actor=secretariat, now=AFTER)
    round_.state = RoundState.CLOSED
    db.session.commit()
    held = db.session.scalar(sa.select(Assignment))

    for attempt in (
        lambda: assignment.add_by_hand(entry_of(round_, works[0]), b, actor=secretariat, now=AFTER),
        lambda: assignment.remove_by_hand(held, "理由", actor=secretariat, now=AFTER),
        lambda: assignment.assign_now(round_, actor=secretariat, now=AFTER),
    ):
        with pytest.raises(RuleError) as refused:
            attempt()
        assert code(refused) == "round_not_open"


# -- The secretariat's page ----------------------------------------------------------------------


@pytest.fixture
def assigned_round(unit, other_unit, submitted_work, make_expert, screening_round):
    """An open round of two works: the Beijing unit's lacks an expert (its own expert may
    not score it), Zhejiang's has both of its experts."""
    own = submitted_work(unit, title="康乐的作品")
    other = submitted_work(other_unit, title="安心的作品")
    make_expert("insider", credit_code=unit.credit_code, display_name="康乐专家")
    make_expert("exb", display_name="乙专家")
    round_ = open_with(screening_round(experts_per_work=2), [own, other])
    assignment.assign(round_, now=AFTER)
    db.session.commit()
    return round_, own, other


def test_the_page_lists_loads_and_the_works_lacking_experts_first(assigned_round, secretariat, auth, client):
    round_, own, other = assigned_round
    scorer = db.session.scalar(sa.select(Assignment).where(Assignment.entry_id == entry_of(round_, other).id))
    scoring.save(scorer, {c.id: 5 for c in round_.criteria}, "", actor=scorer.expert, now=AFTER)
    db.session.commit()
    auth.login(secretariat.username)

    page = client.get(f"/screening/rounds/{round_.id}/assignments").get_data(as_text=True)

    assert "康乐专家" in page and "乙专家" in page
    assert "全轮已评分：1 / 3 项分配" in page
    short = page.index('id="unfilled"')
    every = page.index('id="works"')
    assert short < page.index("康乐的作品") < every  # the work lacking an expert comes first
    assert "就职于作品报送单位" in page[short:every]  # why: the other expert works for its unit
    assert page.index("安心的作品") > every


def test_assign_now_fills_what_it_can_and_says_what_is_missing(assigned_round, secretariat, make_expert, auth, client):
    round_, own, other = assigned_round
    make_expert("exc", display_name="丙专家")
    auth.login(secretariat.username)

    answer = client.post(f"/screening/rounds/{round_.id}/assign")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)

    assert answer.status_code == 302
    assert experts_of(round_, own) == {"exb", "exc"}
    assert "已新增分配：1" in page


def test_adding_and_removing_by_hand_through_the_page(assigned_round, secretariat, make_expert, auth, client):
    round_, own, other = assigned_round
    spare = make_expert("exc", display_name="丙专家")
    entry = entry_of(round_, own)
    auth.login(secretariat.username)

    added = client.post(f"/screening/entries/{entry.id}/experts", data={"expert_id": spare.id, "page": "1"})
    assert added.status_code == 302
    assert added.headers["Location"].endswith(f"#entry-{entry.id}")
    assert experts_of(round_, own) == {"exb", "exc"}

    held = db.session.scalar(sa.select(Assignment).where(Assignment.expert_id == spare.id))
    refused = client.post(f"/screening/assignments/{held.id}/remove", data={"reason": ""}, follow_redirects=True)
    assert "请说明" in refused.get_data(as_text=True)
    assert experts_of(round_, own) == {"exb", "exc"}

    removed = client.post(f"/screening/assignments/{held.id}/remove", data={"reason": "回避"}, follow_redirects=True)
    assert removed.status_code == 200
    assert experts_of(round_, own) == {"exb"}
    assert "回避" in removed.get_data(as_text=True)


def test_adding_an_ineligible_expert_through_the_page_says_why(assigned_round, secretariat, auth, client):
    round_, own, other = assigned_round
    insider = db.session.scalar(sa.select(Expert).join(Expert.user).where(Expert.credit_code != "")).user
    entry = entry_of(round_, own)
    auth.login(secretariat.username)

    page = client.post(
        f"/screening/entries/{entry.id}/experts", data={"expert_id": insider.id}, follow_redirects=True
    ).get_data(as_text=True)

    assert "康乐专家" in page
    assert "不能评审该作品" in page
    assert experts_of(round_, own) == {"exb"}


def test_assign_now_is_refused_once_the_round_is_closed(assigned_round, secretariat, auth, client):
    round_, own, other = assigned_round
    round_.state = RoundState.CLOSED
    db.session.commit()
    auth.login(secretariat.username)

    page = client.post(f"/screening/rounds/{round_.id}/assign", follow_redirects=True).get_data(as_text=True)

    assert "评审开放期间" in page
    assert f'action="/screening/rounds/{round_.id}/assign"' not in page


def test_the_page_searches_and_narrows_to_one_expert(assigned_round, secretariat, auth, client):
    round_, own, other = assigned_round
    eb = db.session.scalar(sa.select(Expert).where(Expert.credit_code == "")).user
    auth.login(secretariat.username)

    searched = client.get(f"/screening/rounds/{round_.id}/assignments?q=安心").get_data(as_text=True)
    works_part = searched[searched.index('id="works"') :]
    assert "安心的作品" in works_part and "康乐的作品" not in works_part
    narrowed = client.get(f"/screening/rounds/{round_.id}/assignments?expert={eb.id}").get_data(as_text=True)
    assert "安心的作品" in narrowed[narrowed.index('id="works"') :]


def test_a_round_being_set_up_has_no_work_and_no_button(screening_round, secretariat, auth, client):
    round_ = screening_round()
    auth.login(secretariat.username)

    page = client.get(f"/screening/rounds/{round_.id}/assignments").get_data(as_text=True)

    assert "本轮尚无作品" in page
    assert f'action="/screening/rounds/{round_.id}/assign"' not in page


def test_anonymous_visitors_are_sent_to_log_in(assigned_round, client):
    round_, own, other = assigned_round

    answer = client.get(f"/screening/rounds/{round_.id}/assignments")

    assert answer.status_code == 302
    assert "/login" in answer.headers["Location"]


@pytest.mark.parametrize("role", ["hq", "province", "reviewer"])
def test_only_the_secretariat_reaches_the_page(assigned_round, make_user, make_expert, auth, client, role):
    round_, own, other = assigned_round
    user = make_expert("visitor") if role == "reviewer" else make_user(Role(role), "11" if role == "province" else None)
    auth.login(user.username)

    assert client.get(f"/screening/rounds/{round_.id}/assignments").status_code == 403
    assert client.post(f"/screening/rounds/{round_.id}/assign").status_code == 403
    entry = entry_of(round_, own)
    assert client.post(f"/screening/entries/{entry.id}/experts", data={"expert_id": user.id}).status_code == 403
    assert experts_of(round_, own) == {"exb"}


def test_opening_a_round_assigns_its_works(works_of, make_expert, screening_round, secretariat):
    works = works_of(3)
    for name in ("exa", "exb", "exc", "exd"):
        make_expert(name)
    round_ = screening_round(experts_per_work=3)

    opened = rounds.open_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()

    assert opened.assigned.added == 9
    assert all(len(experts_of(round_, w)) == 3 for w in works)
    counted = loads(round_)
    assert max(counted.values()) - min(counted.values()) <= 1


# -- At once -------------------------------------------------------------------------------------


def _at_once(app, *actions) -> list[str]:
    """Run each action in its own thread, request and connection, as two people's requests
    would; on PostgreSQL they start together (a barrier), SQLite runs one write
    transaction at a time. Returns each outcome: "ok" or a code."""
    postgres = db.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(len(actions), timeout=20)
    outcomes: list[str] = []

    def run(action):
        try:
            with app.test_request_context(method="POST"):
                try:
                    if postgres:
                        barrier.wait()
                    action()
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


def test_two_secretaries_assigning_at_once_fill_each_place_once(app, works_of, make_expert, screening_round):
    works = works_of(3)
    for name in ("exa", "exb", "exc", "exd", "exe"):
        make_expert(name)
    round_id = open_with(screening_round(experts_per_work=2), works).id

    def press():
        assignment.assign(db.session.get(Round, round_id), now=AFTER)

    assert _at_once(app, press, press) == ["ok", "ok"]
    round_ = db.session.get(Round, round_id)
    for work in works:
        held = db.session.scalars(
            sa.select(Assignment.expert_id).where(
                Assignment.entry_id == entry_of(round_, work).id, Assignment.state == ACTIVE
            )
        ).all()
        assert len(held) == 2
        assert len(set(held)) == 2


def test_two_experts_declaring_a_conflict_at_once_get_two_different_replacements(
    app, works_of, make_expert, screening_round, secretariat
):
    works = works_of(1)
    first, second = make_expert("exa"), make_expert("exb")
    make_expert("exc")
    make_expert("exd")
    round_ = open_with(screening_round(experts_per_work=2), works)
    entry = entry_of(round_, works[0])
    for user in (first, second):
        assignment.add_by_hand(entry, user, actor=secretariat, now=AFTER)
    db.session.commit()
    held = {a.expert_id: a.id for a in db.session.scalars(sa.select(Assignment).where(Assignment.entry_id == entry.id))}

    def declare(user_id):
        def action():
            mine = db.session.get(Assignment, held[user_id])
            assignment.declare_conflict(mine, "利益相关", actor=db.session.get(type(first), user_id), now=AFTER)

        return action

    assert _at_once(app, declare(first.id), declare(second.id)) == ["ok", "ok"]
    assert experts_of(round_, works[0]) == {"exc", "exd"}
