from datetime import date, datetime

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core import clock
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.core.submissions import Deadline
from experience.events.services import cancel_event, update_event
from experience.extensions import db
from experience.notices.models import Notice
from experience.plans import services
from experience.plans.models import DeadlineExtension, DeadlineKind, PlanState
from tests.conftest import NOW, event_data
from tests.units.helpers import register_unit

TEXTS = dict(
    organisation_text="成立领导小组",
    coordination_text="与商务厅联动",
    publicity_text="媒体宣传",
    safety_text="安全预案",
)


@pytest.fixture
def staff(make_user):
    return make_user(Role.PROVINCE, "11", username="bjstaff")


@pytest.fixture
def hq(make_user):
    return make_user(Role.HQ, username="hqboss")


@pytest.fixture
def ready_plan(campaign, staff, make_event):
    make_event(actor=staff)
    plan = services.plan_for(campaign, "11")
    services.save_plan(plan, actor=staff, now=NOW, **TEXTS)
    plan.document_key, plan.document_name = "abc.pdf", "方案.pdf"
    db.session.commit()
    return plan


def beijing(*args):
    return clock.from_beijing(datetime(*args))


def test_submission_on_the_deadline_day_at_23_59_is_on_time(ready_plan, staff):
    services.submit_plan(ready_plan, actor=staff, now=beijing(2024, 8, 23, 23, 59, 59))
    assert ready_plan.state is PlanState.SUBMITTED and not ready_plan.late


def test_first_submission_after_midnight_beijing_is_refused_naming_the_deadline(ready_plan, staff):
    # 2024-08-24 00:00:01 in Beijing is still Aug 23 in UTC: the Beijing day is what counts.
    at = beijing(2024, 8, 24, 0, 0, 1)
    assert at.date() == date(2024, 8, 23)
    with pytest.raises(RuleError) as e:
        services.submit_plan(ready_plan, actor=staff, now=at)
    assert e.value.code == "past_deadline" and "2024-08-23" in str(e.value)
    assert ready_plan.state is PlanState.NOT_SUBMITTED and ready_plan.first_submitted_at is None


def test_extension_allows_a_late_first_submission_which_counts_as_late(ready_plan, staff, hq, campaign):
    services.grant_extension(campaign, "11", date(2024, 8, 30), "防汛", actor=hq, now=NOW)
    services.submit_plan(ready_plan, actor=staff, now=beijing(2024, 8, 30, 23, 0))
    assert ready_plan.state is PlanState.SUBMITTED and ready_plan.late
    assert services.effective_deadline(campaign, "11") == date(2024, 8, 30)
    assert services.effective_deadline(campaign, "33") == date(2024, 8, 23)


def test_extension_must_be_later_and_before_summaries(campaign, hq):
    with pytest.raises(RuleError) as e:
        services.grant_extension(campaign, "11", date(2024, 8, 20), "", actor=hq, now=NOW)
    assert e.value.code == "extension_past"
    with pytest.raises(RuleError) as e:  # later than the deadline, but already over
        services.grant_extension(campaign, "11", date(2024, 8, 25), "", actor=hq, now=beijing(2024, 8, 27, 9, 0))
    assert e.value.code == "extension_past"
    with pytest.raises(RuleError) as e:
        services.grant_extension(campaign, "11", date(2024, 12, 31), "", actor=hq, now=NOW)
    assert e.value.code == "extension_too_late"


def test_returned_plan_can_be_resubmitted_after_the_deadline_and_lateness_stays(ready_plan, staff, hq):
    services.submit_plan(ready_plan, actor=staff, now=beijing(2024, 8, 22, 10, 0))
    first = ready_plan.first_submitted_at
    services.return_plan(ready_plan, "请补充安全预案", actor=hq, now=beijing(2024, 8, 25, 9, 0))
    assert ready_plan.state is PlanState.RETURNED
    services.save_plan(ready_plan, actor=staff, now=NOW, safety_text="补充后的安全预案")
    services.submit_plan(ready_plan, actor=staff, now=beijing(2024, 9, 2, 9, 0))
    assert ready_plan.state is PlanState.SUBMITTED
    assert ready_plan.first_submitted_at == first and not ready_plan.late
    services.confirm_plan(ready_plan, actor=hq, now=NOW)
    assert ready_plan.state is PlanState.CONFIRMED


def test_submit_checks_completeness(campaign, staff, make_event):
    plan = services.plan_for(campaign, "11")
    with pytest.raises(RuleError) as e:
        services.submit_plan(plan, actor=staff, now=NOW)
    assert e.value.code == "missing_text"
    services.save_plan(plan, actor=staff, now=NOW, **TEXTS)
    with pytest.raises(RuleError) as e:
        services.submit_plan(plan, actor=staff, now=NOW)
    assert e.value.code == "no_document"
    plan.document_key = "x.pdf"
    with pytest.raises(RuleError) as e:
        services.submit_plan(plan, actor=staff, now=NOW)
    assert e.value.code == "no_events"
    event = make_event(actor=staff)
    cancel_event(event, "改期", actor=staff, now=NOW)
    with pytest.raises(RuleError) as e:
        services.submit_plan(plan, actor=staff, now=NOW)
    assert e.value.code == "no_events"


def test_wrong_transitions_raise(ready_plan, staff, hq):
    with pytest.raises(RuleError):
        services.confirm_plan(ready_plan, actor=hq, now=NOW)
    with pytest.raises(RuleError):
        services.return_plan(ready_plan, "x", actor=hq, now=NOW)
    services.submit_plan(ready_plan, actor=staff, now=NOW)
    with pytest.raises(RuleError):
        services.submit_plan(ready_plan, actor=staff, now=NOW)
    with pytest.raises(RuleError):
        services.save_plan(ready_plan, actor=staff, now=NOW, safety_text="x")
    with pytest.raises(RuleError) as e:
        services.return_plan(ready_plan, "  ", actor=hq, now=NOW)
    assert e.value.code == "comment_required"


def test_notices_follow_the_review(ready_plan, staff, hq):
    services.submit_plan(ready_plan, actor=staff, now=NOW)
    services.return_plan(ready_plan, "补充材料", actor=hq, now=NOW)
    services.submit_plan(ready_plan, actor=staff, now=NOW)
    services.confirm_plan(ready_plan, actor=hq, now=NOW)
    kinds = [(n.province_code, n.kind) for n in db.session.query(Notice).order_by(Notice.id)]
    assert kinds == [
        (None, "plan_submitted"),
        ("11", "plan_returned"),
        (None, "plan_resubmitted"),
        ("11", "plan_confirmed"),
    ]


def test_launch_selection_needs_a_submitted_plan_and_notifies(ready_plan, staff, hq):
    event = services.plan_events(ready_plan)[0]
    with pytest.raises(RuleError) as e:
        services.select_launch(event, True, "重点支持", actor=hq, now=NOW)
    assert e.value.code == "plan_not_submitted"
    services.submit_plan(ready_plan, actor=staff, now=NOW)
    services.select_launch(event, True, "重点支持", actor=hq, now=NOW)
    assert event.launch_selected and event.launch_note == "重点支持"
    services.select_launch(event, False, actor=hq, now=NOW)
    assert not event.launch_selected
    kinds = [n.kind for n in db.session.query(Notice).filter(Notice.province_code == "11").order_by(Notice.id)]
    assert kinds == ["event_selected", "event_unselected"]


def test_cancelled_event_cannot_be_selected(ready_plan, staff, hq, make_event):
    services.submit_plan(ready_plan, actor=staff, now=NOW)
    other = make_event(actor=staff, title="另一场")
    cancel_event(other, "场地问题", actor=staff, now=NOW)
    with pytest.raises(RuleError) as e:
        services.select_launch(other, True, actor=hq, now=NOW)
    assert e.value.code == "event_cancelled"


def test_event_change_after_submission_is_flagged_to_hq(ready_plan, staff, hq):
    event = services.plan_events(ready_plan)[0]
    update_event(event, actor=staff, now=NOW, **event_data(title="改过的标题"))
    assert event.changed_after_confirm_at is None  # plan still with the province
    services.submit_plan(ready_plan, actor=staff, now=NOW)
    services.confirm_plan(ready_plan, actor=hq, now=NOW)
    changed = update_event(event, actor=staff, now=NOW, **event_data(title="确认后又改"))
    assert changed == {"title": "确认后又改"}
    assert event.changed_after_confirm_at == NOW
    notice = db.session.query(Notice).filter(Notice.kind == "event_changed").one()
    assert notice.province_code is None and notice.params["title"] == "确认后又改"


def test_national_table_lists_all_32_units(ready_plan, staff, make_event, campaign):
    make_event("33")
    services.submit_plan(ready_plan, actor=staff, now=NOW)
    rows = services.national_table(campaign, now=NOW)
    assert len(rows) == 32 and rows[-1].province.name == "新疆生产建设兵团"
    by_code = {r.province.code: r for r in rows}
    assert by_code["11"].state is PlanState.SUBMITTED and by_code["11"].events == 1
    assert by_code["33"].state is PlanState.NOT_SUBMITTED and by_code["33"].events == 1
    assert by_code["44"].events == 0


def test_plan_extension_is_audited_as_plan_extension(campaign, hq):
    services.grant_extension(campaign, "11", date(2024, 8, 30), "防汛", actor=hq, now=NOW)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.target_id == "11"))
    assert entry.action == "plan.extension"
    assert entry.detail["kind"] == "plan"


def test_the_latest_of_several_extensions_counts(campaign, hq):
    services.grant_extension(campaign, "11", date(2024, 8, 26), "", actor=hq, now=NOW)
    services.grant_extension(campaign, "11", date(2024, 8, 30), "", actor=hq, now=NOW)
    assert services.effective_deadline(campaign, "11") == date(2024, 8, 30)
    assert services.effective_deadline(campaign, "11", "summary") == date(2024, 10, 18)


def test_a_units_extension_moves_only_that_units_deadline(campaign, hq):
    ours = register_unit(province_code="11", credit_code="914403001922038216")
    theirs = register_unit(province_code="33", credit_code="91440300MA5H0HLK5U", name="柯兴科技（深圳）有限公司")
    db.session.add(
        DeadlineExtension(
            campaign_id=campaign.id,
            unit_id=ours.id,
            kind=DeadlineKind.WORKS,
            new_deadline=date(2024, 9, 6),
            granted_by_id=hq.id,
            granted_at=NOW,
        )
    )
    db.session.commit()
    assert services.deadline_for(campaign, "works", unit_id=ours.id) == Deadline(date(2024, 8, 30), date(2024, 9, 6))
    assert services.deadline_for(campaign, "works", unit_id=theirs.id) == Deadline(date(2024, 8, 30))
    assert services.national_table(campaign, now=NOW)[0].extension is None


@pytest.mark.parametrize("province_code, with_unit", [("11", True), (None, False)])
def test_an_extension_has_exactly_one_subject(campaign, hq, province_code, with_unit):
    unit_id = register_unit(province_code="11", credit_code="914403001922038216").id if with_unit else None
    with pytest.raises(sa.exc.IntegrityError) as refused, db.engine.begin() as conn:
        conn.execute(
            sa.insert(DeadlineExtension.__table__).values(
                campaign_id=campaign.id,
                province_code=province_code,
                unit_id=unit_id,
                kind="plan",
                new_deadline=date(2024, 8, 30),
                reason="",
                granted_by_id=hq.id,
                granted_at=NOW,
            )
        )
    assert "ck_deadline_extension_one_subject" in str(refused.value)


def test_a_lookup_names_one_subject(campaign):
    with pytest.raises(ValueError):
        services.deadline_for(campaign, "plan", province_code="11", unit_id=7)


def test_a_province_without_a_plan_after_its_deadline_is_overdue_unless_extended(ready_plan, staff, hq, campaign):
    """逾期未报: the day after the deadline, every unit that sent nothing is overdue, except
    one whose extension still runs; the one that sent its plan on time is not."""
    services.submit_plan(ready_plan, actor=staff, now=beijing(2024, 8, 23, 20, 0))
    services.grant_extension(campaign, "54", date(2024, 8, 30), "道路中断", actor=hq, now=beijing(2024, 8, 22, 9, 0))
    db.session.commit()
    on_the_day = {r.province.code: r for r in services.national_table(campaign, now=beijing(2024, 8, 23, 23, 59))}
    assert not any(r.overdue for r in on_the_day.values())
    after = {r.province.code: r for r in services.national_table(campaign, now=beijing(2024, 8, 24, 0, 1))}
    assert not after["11"].overdue  # sent on time
    assert not after["54"].overdue and after["54"].deadline == date(2024, 8, 30)  # extended
    assert after["33"].overdue and after["33"].deadline == date(2024, 8, 23)
    assert sum(r.overdue for r in after.values()) == 30
    past_extension = {r.province.code: r for r in services.national_table(campaign, now=beijing(2024, 8, 31, 9, 0))}
    assert past_extension["54"].overdue


def test_check_ready_says_what_submit_would_refuse_and_changes_nothing(campaign, staff, make_event):
    plan = services.plan_for(campaign, "11")
    with pytest.raises(RuleError) as refused:
        services.check_ready(plan, now=NOW)
    assert refused.value.code == "missing_text"
    make_event(actor=staff)
    services.save_plan(plan, actor=staff, now=NOW, **TEXTS)
    plan.document_key, plan.document_name = "abc.pdf", "方案.pdf"
    with pytest.raises(RuleError) as refused:
        services.check_ready(plan, now=beijing(2024, 8, 24, 0, 1))
    assert refused.value.code == "past_deadline" and "2024-08-23" in str(refused.value)
    services.check_ready(plan, now=NOW)
    assert plan.state is PlanState.NOT_SUBMITTED and plan.first_submitted_at is None
