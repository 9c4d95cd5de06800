"""The campaign's calendar and HQ's edits to it: the five date rules, one behaviour each.

The 2024 campaign of the ``campaign`` fixture: plans due 08-23, works 08-30, the week
09-01 to 09-30, summaries 10-18.
"""

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.campaigns import services
from experience.campaigns.forms import CampaignForm
from experience.campaigns.models import Campaign
from experience.core import clock
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from tests.conftest import NOW

DATE_FIELDS = ("plan_deadline", "works_deadline", "summary_deadline", "week_start", "week_end")


@pytest.fixture
def hq(make_user):
    return make_user(Role.HQ, username="hqboss")


def refusal(campaign, hq, **fields) -> RuleError:
    with pytest.raises(RuleError) as e:
        services.update_campaign(campaign, actor=hq, now=NOW, **fields)
    return e.value


def campaign_audits() -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "campaign.update")))


# -- rule 1: every date in the campaign's year ------------------------------------------------


@pytest.mark.parametrize("name", DATE_FIELDS)
def test_a_date_outside_the_campaign_year_is_refused_at_that_date(campaign, hq, name):
    next_year = getattr(campaign, name).replace(year=2025)
    error = refusal(campaign, hq, **{name: next_year})
    assert error.code == "wrong_year"
    assert error.params["field"] == name


def test_changing_the_year_alone_leaves_the_dates_behind_and_is_refused(campaign, hq):
    error = refusal(campaign, hq, year=2025)
    assert error.code == "wrong_year"


def test_a_new_year_with_all_its_dates_moved_is_accepted(campaign, hq):
    moved = {name: getattr(campaign, name).replace(year=2025) for name in DATE_FIELDS}
    services.update_campaign(campaign, actor=hq, now=NOW, year=2025, **moved)
    assert campaign.year == 2025
    assert campaign.plan_deadline == date(2025, 8, 23)


# -- rule 2: the week ends on or after its first day --------------------------------------


def test_a_week_ending_before_it_starts_is_refused_at_its_last_day(campaign, hq):
    error = refusal(campaign, hq, week_start=date(2024, 9, 10), week_end=date(2024, 9, 9))
    assert error.code == "bad_week"
    assert error.params["field"] == "week_end"


def test_a_week_of_a_single_day_is_accepted(campaign, hq):
    services.update_campaign(campaign, actor=hq, now=NOW, week_start=date(2024, 9, 1), week_end=date(2024, 9, 1))
    assert campaign.week_end == date(2024, 9, 1)


# -- rule 3: plans due before the week starts -------------------------------------------


def test_plans_due_after_the_week_starts_are_refused(campaign, hq):
    error = refusal(campaign, hq, plan_deadline=date(2024, 9, 2))
    assert error.code == "plan_after_week"
    assert error.params["field"] == "plan_deadline"


def test_plans_due_on_the_first_day_of_the_week_are_accepted(campaign, hq):
    services.update_campaign(campaign, actor=hq, now=NOW, plan_deadline=date(2024, 9, 1))
    assert campaign.plan_deadline == date(2024, 9, 1)


# -- rule 4: works due before the week ends ----------------------------------------------


def test_works_due_after_the_week_ends_are_refused(campaign, hq):
    error = refusal(campaign, hq, works_deadline=date(2024, 10, 1))
    assert error.code == "works_after_week"
    assert error.params["field"] == "works_deadline"


def test_works_due_on_the_last_day_of_the_week_are_accepted(campaign, hq):
    services.update_campaign(campaign, actor=hq, now=NOW, works_deadline=date(2024, 9, 30))
    assert campaign.works_deadline == date(2024, 9, 30)


# -- rule 5: summaries due after the week ------------------------------------------------


def test_summaries_due_before_the_week_ends_are_refused(campaign, hq):
    error = refusal(campaign, hq, summary_deadline=date(2024, 9, 29))
    assert error.code == "summary_before_end"
    assert error.params["field"] == "summary_deadline"


def test_summaries_due_on_the_last_day_of_the_week_are_accepted(campaign, hq):
    services.update_campaign(campaign, actor=hq, now=NOW, summary_deadline=date(2024, 9, 30))
    assert campaign.summary_deadline == date(2024, 9, 30)


# -- what a save does --------------------------------------------------------------------


def test_a_refused_edit_changes_nothing_and_is_not_audited(campaign, hq):
    refusal(campaign, hq, theme="新主题", summary_deadline=date(2024, 9, 1))
    assert campaign.theme == "认证推进服务业高质量发展"
    assert campaign.summary_deadline == date(2024, 10, 18)
    assert campaign_audits() == []


def test_a_saved_edit_is_audited_with_the_changed_fields(campaign, hq):
    services.update_campaign(campaign, actor=hq, now=NOW, ip="10.0.0.1", theme="新主题", week_end=date(2024, 9, 20))
    db.session.commit()
    (entry,) = campaign_audits()
    assert entry.actor_id == hq.id
    assert entry.detail["changed"] == {"theme": "新主题", "week_end": "2024-09-20"}


def test_saving_without_a_change_writes_no_audit_entry(campaign, hq):
    services.update_campaign(campaign, actor=hq, now=NOW, theme=campaign.theme, plan_deadline=campaign.plan_deadline)
    db.session.commit()
    assert campaign_audits() == []


def test_the_default_calendar_keeps_every_rule(app):
    campaign = services.default_campaign(2031)
    services.update_campaign(campaign, actor=None, now=NOW)  # raises on any broken rule
    assert [d.year for _, d in campaign.deadlines()] == [2031, 2031, 2031]


# -- the current campaign and its calendar ----------------------------------------------


def test_there_is_no_current_campaign_before_hq_sets_one_up(app):
    assert services.current_campaign() is None


def test_the_current_campaign_is_the_latest_year(campaign):
    db.session.add(services.default_campaign(2025))
    db.session.commit()
    assert services.current_campaign().year == 2025


def test_calendar_counts_days_left_on_the_beijing_date(campaign):
    # 2024-08-22 16:30 UTC is already 00:30 on the 23rd in Beijing: the plans' last day.
    entries = {e.kind: e for e in services.calendar(campaign, datetime(2024, 8, 22, 16, 30))}
    assert entries["plan"].days_left == 0
    assert entries["works"].days_left == 7


def test_calendar_shows_a_province_extension_and_marks_it(campaign):
    entries = services.calendar(campaign, NOW, {"plan": date(2024, 8, 28)})
    plan, works, summary = entries
    assert (plan.kind, plan.deadline, plan.days_left, plan.extended) == ("plan", date(2024, 8, 28), 15, True)
    assert works.extended is False and summary.extended is False


def test_calendar_counts_a_passed_deadline_below_zero(campaign):
    (plan, *_) = services.calendar(campaign, clock.from_beijing(datetime(2024, 8, 25, 9, 0)))
    assert plan.days_left == -2


# -- the form's own checks ---------------------------------------------------------------


def form_with(app, **changes) -> CampaignForm:
    data = {
        "year": "2024",
        "theme": "认证推进服务业高质量发展",
        "plan_deadline": "2024-08-23",
        "works_deadline": "2024-08-30",
        "summary_deadline": "2024-10-18",
        "week_start": "2024-09-01",
        "week_end": "2024-09-30",
        "sectors": "养老\n物业",
        **changes,
    }
    with app.test_request_context("/campaign", method="POST", data=data):
        form = CampaignForm()
        form.validate()
        return form


def test_the_form_accepts_the_notice_calendar(app):
    assert form_with(app).errors == {}


def test_the_form_refuses_a_year_before_the_first_campaign(app):
    assert list(form_with(app, year="2023").errors) == ["year"]


def test_the_form_refuses_a_day_that_does_not_exist(app):
    assert list(form_with(app, plan_deadline="2024-02-30").errors) == ["plan_deadline"]


def test_the_form_requires_a_theme_in_chinese(app):
    assert form_with(app, theme="").errors == {"theme": ["此项为必填项。"]}


def test_a_campaign_year_is_stored_once(campaign):
    db.session.add(services.default_campaign(2024))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1
