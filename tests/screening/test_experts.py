"""Experts' accounts: made and changed by the secretariat with the unit and its credit
code checked, the project's password rules, a new password at the first login; and the
secretariat's pages for it."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role, User
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from experience.screening import experts, rounds
from experience.screening.models import Expert
from experience.works.models import WorkCategory
from tests.conftest import NOW, PASSWORD, field_errors
from tests.screening.conftest import AFTER

#: a real published credit code (华为技术有限公司; tests/units/helpers.py)
CODE = "914403001922038216"


def expert_data(**overrides) -> dict:
    data = dict(
        username="zhang.expert",
        display_name="张专家",
        organisation="中国质量认证中心",
        credit_code="",
        province_code="11",
        categories=(),
        password=PASSWORD,
        now=NOW,
    )
    data.update(overrides)
    return data


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# -- The rules ------------------------------------------------------------------------------------


def test_an_expert_is_a_reviewer_of_a_unit_and_province_who_sets_their_own_password(secretariat):
    user = experts.create_expert(
        **expert_data(credit_code=" 9144 0300 1922 0382 16 ", categories=["video", WorkCategory.TEXT]),
        actor=secretariat,
    )
    db.session.commit()
    record = db.session.get(Expert, user.id)
    assert (user.role, user.province_code, user.organisation) == (Role.REVIEWER, "11", "中国质量认证中心")
    assert user.must_change_password
    assert record.credit_code == CODE
    assert record.categories == ["text", "video"]  # in the categories' order
    assert record.created_by_id == secretariat.id
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.expert_create"))
    assert entry.actor_id == secretariat.id and entry.target_id == str(user.id)


def test_a_unit_without_a_credit_code_is_fine(secretariat):
    user = experts.create_expert(**expert_data(credit_code="  "), actor=secretariat)
    assert db.session.get(Expert, user.id).credit_code == ""


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"organisation": "  "}, "organisation_required"),
        ({"organisation": "单" * 121}, "organisation_too_long"),
        ({"display_name": ""}, "name_required"),
        ({"display_name": "名" * 61}, "name_too_long"),
        ({"province_code": None}, "province_required"),
        ({"province_code": "99"}, "province_required"),
        ({"credit_code": "914403001922038217"}, "credit_code_check"),
        ({"credit_code": "91440300192203821O"}, "credit_code_confusable"),
        ({"credit_code": "12345"}, "credit_code_length"),
        ({"categories": ["poster"]}, "bad_category"),
        ({"username": "张三"}, "bad_username"),
        ({"password": "short"}, "too_short"),
        ({"password": "zhang.expert-2024-zhang"}, "contains_username"),
    ],
)
def test_bad_details_are_refused_and_nothing_is_saved(secretariat, overrides, code):
    with pytest.raises(RuleError) as e:
        experts.create_expert(**expert_data(**overrides), actor=secretariat)
    assert e.value.code == code
    db.session.rollback()
    assert count(Expert) == 0
    assert db.session.scalar(sa.select(User.id).where(User.role == Role.REVIEWER)) is None


def test_a_user_name_is_taken_whatever_its_case(secretariat):
    experts.create_expert(**expert_data(), actor=secretariat)
    with pytest.raises(RuleError) as e:
        experts.create_expert(**expert_data(username="ZHANG.expert"), actor=secretariat)
    assert e.value.code == "username_taken"


def test_the_secretariat_changes_an_expert_and_it_is_logged(make_expert, secretariat):
    user = make_expert("lixin")
    changed = experts.update_expert(
        user,
        actor=secretariat,
        now=AFTER,
        organisation="浙江省标准化研究院",
        credit_code=CODE.lower(),
        province_code="33",
        categories=["photo"],
        display_name=user.display_name,
    )
    db.session.commit()
    assert changed == ["organisation", "province_code", "credit_code", "categories"]
    record = db.session.get(Expert, user.id)
    assert (user.organisation, user.province_code, record.credit_code, record.categories) == (
        "浙江省标准化研究院",
        "33",
        CODE,
        ["photo"],
    )
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "screening.expert_update"))
    assert entry.detail["changed"] == changed
    # the same again changes nothing and writes nothing
    assert experts.update_expert(user, actor=secretariat, now=AFTER, organisation="浙江省标准化研究院") == []
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action == "screening.expert_update")) == 1


def test_an_expert_made_inactive_is_logged_out_at_once(make_expert, secretariat):
    user = make_expert("wang")
    token = user.session_token
    assert experts.update_expert(user, actor=secretariat, now=AFTER, active=False) == ["active"]
    assert not user.active and user.session_token != token


def test_a_bad_change_leaves_the_expert_as_it_was(make_expert, secretariat):
    user = make_expert("zhao", credit_code=CODE)
    with pytest.raises(RuleError) as e:
        experts.update_expert(user, actor=secretariat, now=AFTER, organisation="新单位", credit_code="bad")
    assert e.value.code == "credit_code_length"
    db.session.rollback()
    assert user.organisation == "中国质量认证中心"
    assert db.session.get(Expert, user.id).credit_code == CODE


def test_only_experts_are_changed_here(make_user, secretariat):
    staff = make_user(Role.PROVINCE, "11")
    with pytest.raises(RuleError) as e:
        experts.update_expert(staff, actor=secretariat, now=AFTER, organisation="x")
    assert e.value.code == "not_an_expert"


# -- Pages ------------------------------------------------------------------------------------------


def client_of(app, username: str, password: str = PASSWORD):
    c = app.test_client()
    assert c.post("/login", data={"username": username, "password": password}).status_code == 302
    return c


@pytest.fixture
def as_secretariat(app, campaign, secretariat):
    return client_of(app, secretariat.username)


def new_expert_form(**overrides) -> dict:
    data = {
        "username": "chen.expert",
        "display_name": "陈专家",
        "organisation": "北京市认证认可协会",
        "credit_code": "",
        "province": "11",
        "categories": ["photo", "video"],
        "password": PASSWORD,
    }
    data.update(overrides)
    return data


def test_the_secretariat_makes_an_expert_who_must_choose_a_password_at_first_login(app, as_secretariat):
    r = as_secretariat.post("/screening/experts/new", data=new_expert_form(credit_code=CODE))
    assert r.status_code == 302 and r.headers["Location"].endswith("/screening/experts")
    page = as_secretariat.get("/screening/experts").get_data(as_text=True)
    assert "陈专家" in page and "北京市认证认可协会" in page and CODE in page
    assert "平面类、视频类" in page  # the categories, by name
    expert = client_of(app, "chen.expert")
    first = expert.get("/")
    assert first.status_code == 302 and "/password" in first.headers["Location"]


def test_a_bad_credit_code_is_explained_at_its_field_and_nothing_is_saved(as_secretariat):
    r = as_secretariat.post("/screening/experts/new", data=new_expert_form(credit_code="914403001922038217"))
    assert r.status_code == 200
    errors = field_errors(r.get_data(as_text=True))
    assert errors["credit_code"] == ["该统一社会信用代码无效：最后一位校验码与前17位不符。请对照单位证照逐位核对。"]
    assert count(Expert) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("organisation", ""), ("province", ""), ("password", "short"), ("username", "a b"), ("display_name", "")],
)
def test_missing_or_bad_fields_are_shown_where_they_are(as_secretariat, field, value):
    r = as_secretariat.post("/screening/experts/new", data=new_expert_form(**{field: value}))
    assert r.status_code == 200
    errors = field_errors(r.get_data(as_text=True))
    assert errors[field]
    assert all(re.search(r"[\u4e00-\u9fff]", e) for e in errors[field])  # in Chinese
    assert count(Expert) == 0


def test_the_secretariat_edits_and_disables_an_expert(app, as_secretariat, make_expert):
    user = make_expert("liu")
    expert = client_of(app, "liu")
    page = as_secretariat.get(f"/screening/experts/{user.id}").get_data(as_text=True)
    assert "中国质量认证中心" in page
    r = as_secretariat.post(
        f"/screening/experts/{user.id}",
        data={"display_name": "刘专家", "organisation": "新单位", "credit_code": "", "province": "44"},
    )
    assert r.status_code == 302
    db.session.refresh(user)
    assert (user.display_name, user.organisation, user.province_code, user.active) == ("刘专家", "新单位", "44", False)
    assert expert.get("/").status_code == 302  # logged out: the account is disabled
    assert client_of_fails(app, "liu")


def client_of_fails(app, username: str) -> bool:
    c = app.test_client()
    c.post("/login", data={"username": username, "password": PASSWORD})
    return c.get("/").status_code == 302


def test_the_secretariat_gives_an_expert_a_temporary_password(app, as_secretariat, make_expert):
    user = make_expert("sun")
    ask = as_secretariat.post(f"/screening/experts/{user.id}/password")
    assert 'name="confirmed"' in ask.get_data(as_text=True)
    page = as_secretariat.post(f"/screening/experts/{user.id}/password", data={"confirmed": "1"}).get_data(as_text=True)
    temporary = re.search(r'<code class="temporary">(\w+)</code>', page).group(1)
    c = app.test_client()
    r = c.post("/login", data={"username": "sun", "password": temporary})
    assert r.status_code == 302
    assert "/password" in c.get("/").headers["Location"]  # to be changed at once


def test_the_list_shows_each_expert_s_load(as_secretariat, make_expert, submitted_work, screening_round, secretariat):
    submitted_work()
    user = make_expert("zhou")
    make_expert("wuhan")
    rounds.open_round(screening_round(experts_per_work=1), actor=secretariat, now=AFTER)
    db.session.commit()
    page = as_secretariat.get("/screening/experts").get_data(as_text=True)
    assert page.count("<td>0 / 1</td>") == 1  # one expert holds the work, not yet scored
    detail = as_secretariat.get(f"/screening/experts/{user.id}").get_data(as_text=True)
    other = as_secretariat.get(f"/screening/experts/{user.id + 1}").get_data(as_text=True)
    assert sorted(["0 / 1" in detail, "0 / 1" in other]) == [False, True]


@pytest.mark.parametrize("role", [Role.HQ, Role.PROVINCE, Role.ORGANIZER])
def test_only_the_secretariat_reaches_the_experts(app, campaign, make_user, make_expert, role):
    user = make_expert("mazhi")
    other = make_user(role, province=None if role is Role.HQ else "11")
    c = client_of(app, other.username)
    for url in ("/screening/experts", "/screening/experts/new", f"/screening/experts/{user.id}"):
        assert c.get(url).status_code == 403
    assert c.post(f"/screening/experts/{user.id}/password", data={"confirmed": "1"}).status_code == 403


def test_an_expert_does_not_reach_the_experts(app, campaign, make_expert):
    user = make_expert("huyan")
    c = client_of(app, "huyan")
    assert c.get("/screening/experts").status_code == 403
    assert c.get(f"/screening/experts/{user.id}").status_code == 403


def test_an_account_that_is_not_an_expert_is_not_found_here(as_secretariat, secretariat):
    assert as_secretariat.get(f"/screening/experts/{secretariat.id}").status_code == 404
    assert as_secretariat.get("/screening/experts/999999").status_code == 404
