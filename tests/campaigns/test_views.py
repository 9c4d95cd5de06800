"""HQ's campaign page: the form, each date rule's message at its own field, and refusals."""

from datetime import date

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.campaigns.models import DEFAULT_SECTORS, Campaign
from experience.core.audit import AuditEntry
from experience.extensions import db
from tests.conftest import field_errors

FORM = {
    "year": "2024",
    "theme": "认证推进服务业高质量发展",
    "plan_deadline": "2024-08-23",
    "works_deadline": "2024-08-30",
    "summary_deadline": "2024-10-18",
    "week_start": "2024-09-01",
    "week_end": "2024-09-30",
    "sectors": DEFAULT_SECTORS,
}


def stored() -> Campaign:
    return db.session.scalar(sa.select(Campaign))


@pytest.fixture
def hq_client(client, auth, make_user, campaign):
    make_user(Role.HQ, username="hqboss")
    auth.login("hqboss")
    return client


def test_hq_sees_the_campaign_filled_in(hq_client):
    page = hq_client.get("/campaign").get_data(as_text=True)
    assert 'value="2024-08-23"' in page
    assert 'value="认证推进服务业高质量发展"' in page


def test_hq_saves_the_campaign_and_is_told_so(hq_client):
    r = hq_client.post("/campaign", data={**FORM, "theme": "认证让生活更美好", "week_end": "2024-09-20"})
    assert r.status_code == 302 and r.headers["Location"] == "/campaign"
    assert "年度活动设置已保存。" in hq_client.get("/campaign").get_data(as_text=True)
    assert stored().theme == "认证让生活更美好"
    assert stored().week_end == date(2024, 9, 20)


def test_a_saved_change_is_in_the_audit_log(hq_client):
    hq_client.post("/campaign", data={**FORM, "week_end": "2024-09-20"})
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "campaign.update"))
    assert entry.actor_name == "hqboss"
    assert entry.detail["changed"] == {"week_end": "2024-09-20"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"works_deadline": "2025-08-30"}, "works_deadline", "各项日期均须在本年度内。"),
        ({"week_start": "2024-09-10", "week_end": "2024-09-09"}, "week_end", "体验周结束日期不得早于开始日期。"),
        ({"plan_deadline": "2024-09-02"}, "plan_deadline", "活动方案报送截止日期不得晚于体验周开始日期。"),
        ({"works_deadline": "2024-10-01"}, "works_deadline", "作品报送截止日期不得晚于体验周结束日期。"),
        ({"summary_deadline": "2024-09-29"}, "summary_deadline", "活动总结报送截止日期不得早于体验周结束日期。"),
    ],
    ids=["wrong_year", "bad_week", "plan_after_week", "works_after_week", "summary_before_end"],
)
def test_a_broken_date_rule_is_explained_at_its_field_and_nothing_is_saved(hq_client, change, field, message):
    r = hq_client.post("/campaign", data={**FORM, **change})
    assert r.status_code == 200
    assert field_errors(r.get_data(as_text=True)) == {field: [message]}
    assert stored().plan_deadline == date(2024, 8, 23)
    assert stored().works_deadline == date(2024, 8, 30)
    assert stored().summary_deadline == date(2024, 10, 18)
    assert (stored().week_start, stored().week_end) == (date(2024, 9, 1), date(2024, 9, 30))


def test_a_year_before_the_first_campaign_is_refused_at_the_year(hq_client):
    r = hq_client.post("/campaign", data={**FORM, "year": "2023"})
    assert r.status_code == 200
    assert list(field_errors(r.get_data(as_text=True))) == ["year"]
    assert stored().year == 2024


def test_there_is_no_campaign_page_before_a_campaign_exists(client, auth, make_user):
    make_user(Role.HQ, username="hqboss")
    auth.login("hqboss")
    assert client.get("/campaign").status_code == 404


@pytest.mark.parametrize("role", [Role.PROVINCE, Role.ORGANIZER, Role.SECRETARIAT])
def test_only_hq_may_edit_the_campaign(client, auth, make_user, campaign, role):
    make_user(role, "11", username="someone")
    auth.login("someone")
    assert client.get("/campaign").status_code == 403
    r = client.post("/campaign", data={**FORM, "theme": "不该生效", "summary_deadline": "2024-10-31"})
    assert r.status_code == 403
    assert stored().theme == "认证推进服务业高质量发展"
    assert stored().summary_deadline == date(2024, 10, 18)
    denied = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert [(e.actor_name, e.target_id) for e in denied] == [("someone", "campaigns.edit")] * 2


def test_a_visitor_is_sent_to_the_login(client, campaign):
    r = client.get("/campaign")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
