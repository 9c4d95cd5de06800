"""Screening rounds: settings and criteria checked, fixed once opened; opening after the
works deadline enters the right works, assigns them and asks for blind copies; closing
and reopening; and the secretariat's pages that do it."""

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
from experience.screening import decisions, rounds
from experience.screening.models import Assignment, BlindCopy, Entry, EntryRule, Outcome, Round, RoundState
from experience.works import services, submission
from experience.works.models import WorkCategory
from tests.conftest import NOW, PASSWORD, field_errors
from tests.screening.conftest import AFTER
from tests.works.conftest import work_fields

#: the last second of the works deadline (Aug 30, Beijing)
LAST_SECOND = clock.from_beijing(datetime(2024, 8, 30, 23, 59, 59))


def audit_actions(prefix: str = "screening.") -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
        )
    )


def entered(round_: Round) -> set[int]:
    return set(db.session.scalars(sa.select(Entry.work_id).where(Entry.round_id == round_.id)))


@pytest.fixture
def make_work_draft(campaign, unit):
    """A work its unit has not submitted."""

    def make():
        work = services.create_work(unit, campaign, actor=unit.account, now=NOW, **work_fields(title="草稿作品"))
        db.session.commit()
        return work

    return make


@pytest.fixture
def experts3(make_expert):
    return [make_expert(f"expert{n}") for n in range(1, 4)]


# -- Creating and changing a round --------------------------------------------------------------


def test_rounds_are_named_by_position_with_the_call_s_criteria_and_at_most_three(
    screening_round, campaign, secretariat
):
    first, second, third = screening_round(), screening_round(), screening_round()
    assert [r.name for r in (first, second, third)] == ["初评", "复评", "终评"]
    assert [r.position for r in (first, second, third)] == [1, 2, 3]
    assert first.state is RoundState.DRAFT
    assert first.entry_rule is EntryRule.ALL_SUBMITTED
    assert second.entry_rule is EntryRule.ADVANCED
    assert [c.name for c in first.criteria] == ["导向正确", "紧扣服务认证主题", "立意新颖", "真实感染力", "制作质量"]
    assert sum(c.weight for c in first.criteria) == 100
    with pytest.raises(RuleError) as e:
        rounds.create_round(campaign, actor=secretariat, now=AFTER)
    assert e.value.code == "too_many_rounds"
    assert audit_actions() == ["screening.round_save"] * 3


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"name": "评" * 41}, "name_too_long"),
        ({"name": "  "}, "name_required"),
        ({"scale_max": 0}, "scale_range"),
        ({"scale_max": 101}, "scale_range"),
        ({"experts_per_work": 0}, "experts_range"),
        ({"experts_per_work": 21}, "experts_range"),
        ({"disagreement_points": -1}, "disagreement_range"),
        ({"disagreement_points": 101}, "disagreement_range"),
        ({"entry_rule": EntryRule.ADVANCED}, "first_round_all"),
        ({"criteria": []}, "criteria_required"),
        ({"criteria": [(f"标准{n}", 10) for n in range(11)]}, "criteria_too_many"),
        ({"criteria": [("导向正确", 60), ("", 40)]}, "criterion_name_required"),
        ({"criteria": [("导" * 61, 100)]}, "criterion_name_too_long"),
        ({"criteria": [("导向正确", 50), ("导向正确", 50)]}, "criterion_name_twice"),
        ({"criteria": [("导向正确", 101), ("立意新颖", -1)]}, "weight_range"),
        ({"criteria": [("导向正确", 60), ("立意新颖", 30)]}, "weights_not_100"),
        ({"criteria": [("导向正确", "描" * 501, 100)]}, "criterion_description_too_long"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_saved(campaign, secretariat, settings, code):
    with pytest.raises(RuleError) as e:
        rounds.create_round(campaign, actor=secretariat, now=AFTER, **settings)
    assert e.value.code == code
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 0


def test_the_weights_message_says_what_they_add_up_to(campaign, secretariat):
    with pytest.raises(RuleError) as e:
        rounds.create_round(campaign, actor=secretariat, now=AFTER, criteria=[("导向正确", 60), ("立意新颖", 30)])
    assert "90" in str(e.value)


def test_a_draft_round_changes_freely_and_its_criteria_are_replaced(screening_round, secretariat):
    round_ = screening_round()
    ids = [c.id for c in round_.criteria]
    changed = rounds.update_round(
        round_,
        actor=secretariat,
        now=AFTER,
        name="第一轮",
        scale_max=100,
        experts_per_work=5,
        blind=False,
        criteria=[("导向正确", 40), ("制作质量", "画面清晰", 60)],
    )
    db.session.commit()
    assert set(changed) == {"name", "scale_max", "experts_per_work", "blind", "criteria"}
    assert [(c.name, c.description, c.weight) for c in round_.criteria] == [
        ("导向正确", "", 40),
        ("制作质量", "画面清晰", 60),
    ]
    assert [c.id for c in round_.criteria] == ids[:2]  # rows rewritten in place
    assert rounds.update_round(round_, actor=secretariat, now=AFTER, name="第一轮") == []


# -- Opening ------------------------------------------------------------------------------------


def test_a_round_opens_only_after_the_works_deadline(screening_round, submitted_work, secretariat, experts3):
    submitted_work()
    round_ = screening_round()
    with pytest.raises(RuleError) as e:
        rounds.open_round(round_, actor=secretariat, now=LAST_SECOND)
    assert e.value.code == "before_works_deadline"
    assert "2024-08-30" in str(e.value)
    db.session.rollback()
    assert round_.state is RoundState.DRAFT
    rounds.open_round(round_, actor=secretariat, now=LAST_SECOND + timedelta(seconds=1))
    assert round_.state is RoundState.OPEN


def test_an_extension_for_a_unit_keeps_the_round_closed_until_it_ends(
    screening_round, submitted_work, secretariat, experts3, unit, campaign
):
    submitted_work()
    submission.extend_deadline(unit, campaign, date(2024, 9, 5), "盖章延误", actor=secretariat, now=NOW)
    db.session.commit()
    round_ = screening_round()
    with pytest.raises(RuleError) as e:
        rounds.open_round(round_, actor=secretariat, now=AFTER)
    assert e.value.code == "before_works_deadline"
    assert "2024-09-05" in str(e.value)
    db.session.rollback()
    rounds.open_round(round_, actor=secretariat, now=clock.from_beijing(datetime(2024, 9, 6, 9, 0)))
    assert round_.state is RoundState.OPEN


def test_opening_enters_the_submitted_works_assigns_them_and_asks_for_blind_copies(
    screening_round, submitted_work, make_work_draft, secretariat, experts3, other_unit
):
    text = submitted_work()
    photo = submitted_work(other_unit, category=WorkCategory.PHOTO, title="照片作品")
    draft = make_work_draft()
    round_ = screening_round(experts_per_work=2)
    result = rounds.open_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()
    assert (result.entered, result.skipped, result.assigned.added) == (2, 0, 4)
    assert result.assigned.unfilled == []
    assert round_.state is RoundState.OPEN and round_.opened_at == AFTER
    assert entered(round_) == {text.id, photo.id}
    assert draft.id not in entered(round_)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Assignment)) == 4
    photo_files = {f.id for f in photo.originals()}
    copied = set(db.session.scalars(sa.select(BlindCopy.file_id)))
    assert photo_files <= copied
    assert "screening.round_open" in audit_actions()
    assert [w.id for w in rounds.entered_works(round_)] == [text.id, photo.id]  # text first, by category


def test_a_round_opens_once(screening_round, submitted_work, secretariat, experts3):
    submitted_work()
    round_ = screening_round()
    rounds.open_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()
    with pytest.raises(RuleError) as e:
        rounds.open_round(round_, actor=secretariat, now=AFTER)
    assert e.value.code == "not_draft_to_open"


def test_a_round_without_works_does_not_open(screening_round, secretariat, experts3):
    round_ = screening_round()
    with pytest.raises(RuleError) as e:
        rounds.open_round(round_, actor=secretariat, now=AFTER)
    assert e.value.code == "no_works"
    db.session.rollback()
    assert round_.state is RoundState.DRAFT


def test_works_lacking_experts_are_reported_when_the_round_opens(
    screening_round, submitted_work, secretariat, make_expert
):
    submitted_work()
    make_expert("only")
    result = rounds.open_round(screening_round(experts_per_work=3), actor=secretariat, now=AFTER)
    assert result.assigned.added == 1
    assert [missing for _entry, missing in result.assigned.unfilled] == [2]


def test_once_open_only_the_name_and_disagreement_threshold_change(
    screening_round, submitted_work, secretariat, experts3
):
    submitted_work()
    round_ = screening_round()
    rounds.open_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()
    assert rounds.update_round(round_, actor=secretariat, now=AFTER, name="初评（线上）", disagreement_points=30) == [
        "name",
        "disagreement_points",
    ]
    for settings in (
        {"scale_max": 5},
        {"blind": False},
        {"experts_per_work": 2},
        {"criteria": [("导向正确", 100)]},
    ):
        with pytest.raises(RuleError) as e:
            rounds.update_round(round_, actor=secretariat, now=AFTER, **settings)
        assert e.value.code == "locked_after_open"
    # the same criteria posted again are no change
    same = [(c.name, c.description, c.weight) for c in round_.criteria]
    assert rounds.update_round(round_, actor=secretariat, now=AFTER, criteria=same) == []


# -- Closing, reopening, and the next round ------------------------------------------------------


def test_close_and_reopen(screening_round, submitted_work, secretariat, experts3):
    submitted_work()
    round_ = screening_round()
    with pytest.raises(RuleError) as e:
        rounds.close_round(round_, actor=secretariat, now=AFTER)
    assert e.value.code == "not_open"
    rounds.open_round(round_, actor=secretariat, now=AFTER)
    with pytest.raises(RuleError) as e:
        rounds.reopen_round(round_, actor=secretariat, now=AFTER)
    assert e.value.code == "not_closed"
    rounds.close_round(round_, actor=secretariat, now=AFTER)
    assert round_.state is RoundState.CLOSED and round_.closed_at == AFTER
    rounds.reopen_round(round_, actor=secretariat, now=AFTER)
    assert round_.state is RoundState.OPEN and round_.closed_at is None
    db.session.commit()
    assert audit_actions().count("screening.round_close") == 1
    assert audit_actions().count("screening.round_open") == 2


def _decide_all(round_: Round, secretariat, outcomes: dict[int, Outcome]) -> None:
    for entry in db.session.scalars(sa.select(Entry).where(Entry.round_id == round_.id)):
        decisions.decide(entry, outcomes[entry.work_id], "", None, actor=secretariat, now=AFTER)
    db.session.commit()


def test_the_next_round_takes_the_advanced_works_once_the_first_is_closed_and_applied(
    screening_round, submitted_work, secretariat, experts3, other_unit
):
    kept, dropped = submitted_work(), submitted_work(other_unit, title="另一件")
    first = screening_round()
    rounds.open_round(first, actor=secretariat, now=AFTER)
    second = screening_round()
    db.session.commit()
    with pytest.raises(RuleError) as e:
        rounds.open_round(second, actor=secretariat, now=AFTER)
    assert e.value.code == "previous_not_closed"
    assert "初评" in str(e.value)
    db.session.rollback()
    rounds.close_round(first, actor=secretariat, now=AFTER)
    _decide_all(first, secretariat, {kept.id: Outcome.ADVANCE, dropped.id: Outcome.NOT_SELECTED})
    with pytest.raises(RuleError) as e:
        rounds.open_round(second, actor=secretariat, now=AFTER)
    assert e.value.code == "previous_pending"
    db.session.rollback()
    expected = decisions.preview(first).ids
    decisions.apply_pending(first, actor=secretariat, now=AFTER, expected=set(expected))
    db.session.commit()
    assert [w.id for w in rounds.candidates(second)[0]] == [kept.id]
    rounds.open_round(second, actor=secretariat, now=AFTER)
    db.session.commit()
    assert entered(second) == {kept.id}
    # the first round cannot be opened again once the second has
    with pytest.raises(RuleError) as e:
        rounds.reopen_round(first, actor=secretariat, now=AFTER)
    assert e.value.code == "later_round_open"


# -- Pages ----------------------------------------------------------------------------------------


def client_of(app, username: str):
    c = app.test_client()
    assert c.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return c


@pytest.fixture
def as_secretariat(app, campaign, secretariat):
    return client_of(app, secretariat.username)


def cell_errors(page: str) -> dict[str, list[str]]:
    """The messages shown in the criteria table, by the field's name."""
    cells = re.findall(r'<td class="field has-error"><input[^>]* name="(\w+)"[^>]*><ul class="errors">(.*?)</ul>', page)
    return {name: re.findall(r"<li>(.*?)</li>", errors) for name, errors in cells}


def round_form(**overrides) -> dict:
    data = {
        "name": "初评",
        "scale_max": "10",
        "experts_per_work": "2",
        "entry_rule": "all_submitted",
        "blind": "y",
        "disagreement_points": "20",
    }
    for n, (name, weight) in enumerate([("导向正确", 30), ("立意新颖", 30), ("制作质量", 40)], 1):
        data[f"crit_name_{n}"], data[f"crit_weight_{n}"] = name, str(weight)
    data.update(overrides)
    return data


def test_the_secretariat_sets_up_a_round_with_the_default_criteria_shown(as_secretariat):
    page = as_secretariat.get("/screening/rounds/new").get_data(as_text=True)
    for name in ("导向正确", "紧扣服务认证主题", "立意新颖", "真实感染力", "制作质量"):
        assert name in page
    assert 'value="初评"' in page
    assert "disabled" not in page  # a new round's settings are all open
    r = as_secretariat.post("/screening/rounds/new", data=round_form())
    assert r.status_code == 302
    round_ = db.session.scalar(sa.select(Round))
    assert r.headers["Location"].endswith(f"/screening/rounds/{round_.id}")
    assert [(c.name, c.weight) for c in round_.criteria] == [("导向正确", 30), ("立意新颖", 30), ("制作质量", 40)]
    assert (round_.scale_max, round_.experts_per_work, round_.blind) == (10, 2, True)
    index = as_secretariat.get("/screening").get_data(as_text=True)
    assert f"/screening/rounds/{round_.id}" in index
    assert "筹备中" in index  # its state


def test_weights_not_adding_up_are_shown_at_the_criteria_and_nothing_is_saved(as_secretariat):
    r = as_secretariat.post("/screening/rounds/new", data=round_form(crit_weight_3="30"))
    assert r.status_code == 200
    errors = cell_errors(r.get_data(as_text=True))
    assert errors == {"crit_weight_1": ["各项评分标准的权重之和为 90，必须正好为 100。"]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 0


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("scale_max", "abc", "整数"),
        ("scale_max", "0", "1"),
        ("experts_per_work", "50", "20"),
        ("name", "", "必填"),
        ("crit_weight_2", "x", "整数"),
        ("crit_weight_2", "101", "0 至 100"),
    ],
)
def test_bad_numbers_get_a_clear_message(as_secretariat, field, value, fragment):
    r = as_secretariat.post("/screening/rounds/new", data=round_form(**{field: value}))
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    errors = field_errors(page) | cell_errors(page)
    assert any(fragment in e for e in errors[field]), errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 0


def test_a_blank_criterion_row_is_ignored_and_a_row_without_name_is_refused(as_secretariat):
    r = as_secretariat.post("/screening/rounds/new", data=round_form(crit_name_4="", crit_weight_4=""))
    assert r.status_code == 302
    db.session.execute(sa.delete(Round))
    db.session.commit()
    r = as_secretariat.post("/screening/rounds/new", data=round_form(crit_name_3="", crit_weight_3="40"))
    assert r.status_code == 200
    assert cell_errors(r.get_data(as_text=True)) == {"crit_name_3": ["每项评分标准都需要名称。"]}


def test_opening_from_the_page_asks_first_then_opens(as_secretariat, screening_round, submitted_work, experts3):
    submitted_work()
    round_ = screening_round()
    page = as_secretariat.get(f"/screening/rounds/{round_.id}").get_data(as_text=True)
    assert "现在开启将有 1 件作品进入本轮" in page
    r = as_secretariat.post(f"/screening/rounds/{round_.id}/open")
    assert r.status_code == 200
    assert 'name="confirmed"' in r.get_data(as_text=True)
    db.session.refresh(round_)
    assert round_.state is RoundState.DRAFT
    r = as_secretariat.post(f"/screening/rounds/{round_.id}/open", data={"confirmed": "1"})
    assert r.status_code == 302
    db.session.refresh(round_)
    assert round_.state is RoundState.OPEN
    page = as_secretariat.get(f"/screening/rounds/{round_.id}").get_data(as_text=True)
    assert 'name="crit_name_1"' not in page  # criteria fixed now
    index = as_secretariat.get("/screening").get_data(as_text=True)
    assert f"/screening/rounds/{round_.id}/assignments" in index
    assert f"/screening/rounds/{round_.id}/results" in index
    assert "0 / 3" in index  # progress: none of the three assignments scored


def test_opening_before_the_deadline_says_why_on_the_page(app, as_secretariat, screening_round, submitted_work):
    submitted_work()
    round_ = screening_round()
    app.config["FROZEN_NOW"] = NOW
    page = as_secretariat.get(f"/screening/rounds/{round_.id}").get_data(as_text=True)
    assert "2024-08-30" in page
    r = as_secretariat.post(f"/screening/rounds/{round_.id}/open", data={"confirmed": "1"}, follow_redirects=True)
    assert "2024-08-30" in r.get_data(as_text=True)
    db.session.refresh(round_)
    assert round_.state is RoundState.DRAFT


def test_an_open_round_keeps_its_locked_settings_whatever_is_posted(
    as_secretariat, screening_round, submitted_work, experts3, secretariat
):
    submitted_work()
    round_ = screening_round()
    rounds.open_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()
    r = as_secretariat.post(
        f"/screening/rounds/{round_.id}",
        data=round_form(name="初评（线上）", scale_max="100", disagreement_points="25"),
    )
    assert r.status_code == 302
    db.session.refresh(round_)
    assert (round_.name, round_.disagreement_points, round_.scale_max) == ("初评（线上）", 25, 10)
    assert len(round_.criteria) == 5
    # what a browser posts: the fixed settings are disabled fields, hence not sent
    page = as_secretariat.get(f"/screening/rounds/{round_.id}").get_data(as_text=True)
    assert re.search(r'<input[^>]*disabled[^>]*name="scale_max"|<input[^>]*name="scale_max"[^>]*disabled', page)
    r = as_secretariat.post(f"/screening/rounds/{round_.id}", data={"name": "初评", "disagreement_points": "15"})
    assert r.status_code == 302
    db.session.refresh(round_)
    assert (round_.name, round_.disagreement_points, round_.scale_max, round_.blind) == ("初评", 15, 10, True)


def test_close_and_reopen_from_the_page(as_secretariat, screening_round, submitted_work, experts3, secretariat):
    submitted_work()
    round_ = screening_round()
    rounds.open_round(round_, actor=secretariat, now=AFTER)
    db.session.commit()
    ask = as_secretariat.post(f"/screening/rounds/{round_.id}/close").get_data(as_text=True)
    assert 'name="confirmed"' in ask
    assert "3 个评审任务中有 3 个尚未评分" in ask
    assert as_secretariat.post(f"/screening/rounds/{round_.id}/close", data={"confirmed": "1"}).status_code == 302
    db.session.refresh(round_)
    assert round_.state is RoundState.CLOSED
    assert as_secretariat.post(f"/screening/rounds/{round_.id}/reopen", data={"confirmed": "1"}).status_code == 302
    db.session.refresh(round_)
    assert round_.state is RoundState.OPEN


@pytest.mark.parametrize("role", [Role.HQ, Role.PROVINCE, Role.ORGANIZER])
def test_only_the_secretariat_reaches_the_rounds(app, make_user, screening_round, role):
    round_ = screening_round()
    user = make_user(role, province=None if role is Role.HQ else "11")
    c = client_of(app, user.username)
    for url in ("/screening", "/screening/rounds/new", f"/screening/rounds/{round_.id}"):
        assert c.get(url).status_code == 403
    assert c.post(f"/screening/rounds/{round_.id}/open", data={"confirmed": "1"}).status_code == 403


def test_an_expert_and_a_unit_do_not_reach_the_rounds(app, make_expert, unit, screening_round):
    round_ = screening_round()
    make_expert("expertx")
    for username in ("expertx", unit.credit_code):
        c = client_of(app, username)
        assert c.get("/screening").status_code == 403
        assert c.get(f"/screening/rounds/{round_.id}").status_code == 403


def test_an_unknown_round_is_404(as_secretariat):
    assert as_secretariat.get("/screening/rounds/999").status_code == 404


# -- The demo ---------------------------------------------------------------------------------------


def _bj(*args) -> datetime:
    return clock.from_beijing(datetime(*args))


def test_the_demo_opens_a_blind_first_round_with_work_for_the_experts(app):
    """`flask demo`: four experts, 初评 open and blind with the submitted works (the
    returned photos stay out), three experts each and never the expert of the work's own
    unit, the blind copies made, some scores given and the experts disagreeing on one."""
    from experience.demo import DEMO_PASSWORD
    from experience.screening import results, scoring
    from experience.screening.models import AssignmentState, CopyState, Expert

    app.config["FROZEN_NOW"] = _bj(2026, 12, 1, 22, 54)
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "expert1" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Expert)) == 4
    (first,) = db.session.scalars(sa.select(Round)).all()
    assert (first.name, first.state, first.blind) == ("初评", RoundState.OPEN, True)
    works = {w.category: w for w in rounds.entered_works(first)}
    assert set(works) == {WorkCategory.TEXT, WorkCategory.VIDEO}  # the photos were returned
    held = db.session.execute(
        sa.select(Entry.work_id, User.username)
        .join(Assignment, Assignment.entry_id == Entry.id)
        .join(User, User.id == Assignment.expert_id)
        .where(Assignment.state == AssignmentState.ACTIVE)
    ).all()
    by_work = {w: sorted(u for wid, u in held if wid == w) for w in {wid for wid, _ in held}}
    assert by_work[works[WorkCategory.TEXT].id] == ["expert1", "expert2", "expert3"]  # not 北京安居's expert4
    assert len(by_work[works[WorkCategory.VIDEO].id]) == 3
    states = set(db.session.scalars(sa.select(BlindCopy.state)))
    assert states == {CopyState.READY}
    scored, total = scoring.progress(first)
    assert (total, 0 < scored < total) == (6, True)
    assert any(r.disagrees for r in results.entry_results(first))
    expert = app.test_client()
    assert expert.post("/login", data={"username": "expert3", "password": DEMO_PASSWORD}).status_code == 302
    page = expert.get("/review").get_data(as_text=True)
    assert works[WorkCategory.TEXT].title in page


def test_on_the_works_deadline_s_own_day_the_demo_s_round_waits(app):
    app.config["FROZEN_NOW"] = _bj(2027, 1, 1, 0, 30)  # the deadline is today: Jan 1
    assert app.test_cli_runner().invoke(args=["demo"]).exit_code == 0
    (first,) = db.session.scalars(sa.select(Round)).all()
    assert first.state is RoundState.DRAFT
