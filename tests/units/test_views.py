"""The pages of submitting units, as a unit, the secretariat, a province and HQ use them."""

import re
import threading
import time

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role, User
from experience.core.audit import AuditEntry
from experience.extensions import db
from experience.units.models import Unit, UnitType
from tests.conftest import NOW, PASSWORD, field_errors
from tests.units.helpers import REAL_CODES

FORM = {
    "name": "柯兴科技（深圳）有限公司",
    "credit_code": "91440300ma5h0hlk5u",
    "unit_type": "related_enterprise",
    "province": "44",
    "contact_name": "王小明",
    "contact_mobile": "138 1234 5678",
    "contact_email": "",
    "password": PASSWORD,
    "confirm": PASSWORD,
    "declaration_version": "2024-1",
    "declaration": "y",
    "privacy": "y",
}


def _errors(page: str) -> dict[str, list[str]]:
    """field_errors, with the ticked boxes (a declaration, a consent), whose label is the line."""
    found = field_errors(page)
    for name, errors in re.findall(r'<div id="(\w+)-errors"><ul class="errors">(.*?)</ul>', page, re.S):
        found.setdefault(name, re.findall(r"<li>(.*?)</li>", errors))
    return found


def _register(client, **overrides):
    return client.post("/units/register", data={**FORM, **overrides}, environ_base={"REMOTE_ADDR": "203.0.113.9"})


def test_registration_page_shows_the_declaration_and_the_notice_before_the_contact(client, campaign):
    page = client.get("/units/register").get_data(as_text=True)
    assert "（三）近三年无严重失信行为记录。" in page
    assert "（二）在中华人民共和国境内依法设立。" in page
    assert 'name="declaration_version" type="hidden" value="2024-1"' in page
    assert page.index("个人信息") < page.index('name="contact_name"')
    assert 'name="declaration"' in page
    assert "/works/call" in page


def test_registration_logs_the_unit_in_and_lands_on_its_page(client, campaign):
    r = _register(client)
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/unit")
    unit = db.session.scalar(sa.select(Unit))
    assert unit.credit_code == "91440300MA5H0HLK5U"
    assert unit.declaration_ip == "203.0.113.9"
    home = client.get("/unit").get_data(as_text=True)
    assert "柯兴科技（深圳）有限公司" in home
    assert "13812345678" in home  # its own number, in full
    assert client.get("/").headers["Location"].endswith("/unit")  # its start page


def test_the_unit_logs_in_later_with_its_code(client, auth, campaign):
    _register(client)
    auth.logout()
    r = auth.login("91440300ma5h0hlk5u")
    assert r.status_code == 302
    assert client.get("/", follow_redirects=True).request.path == "/unit"


def test_a_registered_code_gets_the_way_to_the_secretariat(client, campaign):
    _register(client)
    other = client.application.test_client()
    r = _register(other, name="另一家公司", credit_code="91440300 MA5H 0HLK 5U")
    assert r.status_code == 200
    errors = _errors(r.get_data(as_text=True))
    assert "认研中心" in errors["credit_code"][0]
    assert "公章" in errors["credit_code"][0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 1


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"credit_code": "91440300MA5H0HLK5V"}, "credit_code", "字母V"),
        ({"credit_code": "91440300MA5H0HLK5A"}, "credit_code", "校验码"),
        ({"contact_mobile": "010-82260862"}, "contact_mobile", "11位手机号码"),
        ({"password": "short", "confirm": "short"}, "password", "15"),
        ({"declaration": ""}, "declaration", "承诺"),
        ({"privacy": ""}, "privacy", "个人信息"),
        ({"province": "99"}, "province", ""),
    ],
)
def test_refusals_say_what_to_do_in_chinese(client, campaign, overrides, field, words):
    r = _register(client, **overrides)
    assert r.status_code == 200
    errors = _errors(r.get_data(as_text=True))
    assert field in errors
    assert words in errors[field][0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 0


def test_a_changed_declaration_must_be_read_again(client, campaign):
    r = _register(client, declaration_version="2023-1")
    assert "重新阅读" in _errors(r.get_data(as_text=True))["declaration"][0]
    assert 'value="2024-1"' in r.get_data(as_text=True)  # the form now carries the current text
    # a box left unticked can be ticked and sent: its value stays "y", never the empty string sent before
    assert re.search(r'<input[^>]*name="declaration"[^>]*value="y"', r.get_data(as_text=True))


def test_the_form_needs_its_csrf_token(app, client, campaign):
    app.config["WTF_CSRF_ENABLED"] = True
    assert 'name="csrf_token"' in client.get("/units/register").get_data(as_text=True)
    r = _register(client)
    assert r.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 0


def test_attempts_from_one_address_are_throttled_with_a_chinese_page(app, client, campaign):
    app.config["UNITS_REGISTER_PER_ADDRESS"] = "3 per hour"
    for _ in range(3):
        assert _register(client, declaration="").status_code == 200
    r = _register(client)
    assert r.status_code == 429
    page = r.get_data(as_text=True)
    assert "注册尝试过多" in page
    assert "北京时间" in page
    # another address is not held up
    other = client.post("/units/register", data=FORM, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert other.status_code == 302


def test_registrations_overall_are_throttled_but_failures_do_not_count(app, campaign):
    app.config["UNITS_REGISTER_OVERALL"] = "2 per hour"
    codes = iter(REAL_CODES)

    def attempt(n, **overrides):
        return app.test_client().post(
            "/units/register",
            data={**FORM, "credit_code": next(codes), **overrides},
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        )

    assert attempt(1, declaration="").status_code == 200  # refused by the form: not counted
    assert attempt(2).status_code == 302
    assert attempt(3).status_code == 302
    r = attempt(4)
    assert r.status_code == 429
    assert "注册暂停" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 2


def test_logged_in_people_are_not_offered_the_form(client, auth, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    auth.login("bjstaff")
    assert client.get("/units/register").status_code == 302


def _as(app, username):
    c = app.test_client()
    assert c.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return c


def test_disabling_ends_the_units_session_at_once(app, make_unit, make_user, campaign):
    make_user(Role.SECRETARIAT, username="secret")
    unit = make_unit()
    unit_client = _as(app, unit.credit_code)
    assert unit_client.get("/unit").status_code == 200
    r = _as(app, "secret").post(f"/units/{unit.id}/active", data={"active": "0"})
    assert r.status_code == 302
    r = unit_client.get("/unit")
    assert r.status_code == 302
    assert "/login" in r.headers["Location"]
    login = app.test_client().post("/login", data={"username": unit.credit_code, "password": PASSWORD})
    assert "停用" in login.get_data(as_text=True)


def test_handover_page_shows_the_password_once_and_ends_sessions(app, make_unit, make_user, campaign):
    make_user(Role.SECRETARIAT, username="secret")
    unit = make_unit()
    unit_client = _as(app, unit.credit_code)
    secretariat = _as(app, "secret")
    page = secretariat.get(f"/units/{unit.id}/handover").get_data(as_text=True)
    assert unit.credit_code in page
    r = secretariat.post(
        f"/units/{unit.id}/handover",
        data={
            "letter_checked": "y",
            "reason": "收到加盖公章的函件，原联系人已离职",
            "contact_name": "李新",
            "contact_mobile": "13900009999",
        },
    )
    assert r.status_code == 200
    temporary = re.search(r'<code class="temporary">([^<]+)</code>', r.get_data(as_text=True)).group(1)
    assert unit_client.get("/unit").status_code == 302  # the old session is over
    new = app.test_client()
    assert new.post("/login", data={"username": unit.credit_code, "password": temporary}).status_code == 302
    assert new.get("/unit").headers["Location"].endswith("/password")  # choose a password first
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "unit.handover"))
    assert entry.detail["reason"] == "收到加盖公章的函件，原联系人已离职"
    assert entry.ip == "127.0.0.1"


def test_handover_needs_the_letter_checked(app, make_unit, make_user, campaign):
    make_user(Role.SECRETARIAT, username="secret")
    unit = make_unit()
    r = _as(app, "secret").post(
        f"/units/{unit.id}/handover",
        data={"reason": "函件", "contact_name": "李新", "contact_mobile": "13900009999"},
    )
    assert "公章" in _errors(r.get_data(as_text=True))["letter_checked"][0]
    assert not db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "unit.handover"))


def test_province_staff_see_their_provinces_units_read_only_and_masked(app, make_unit, make_user, campaign):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    bj = make_unit(province_code="11", name="北京康乐养老服务有限公司", contact_mobile="13812345678")
    zj = make_unit(province_code="33", name="浙江省质量协会")
    staff = _as(app, "bjstaff")
    page = staff.get("/units").get_data(as_text=True)
    assert "北京康乐养老服务有限公司" in page
    assert "浙江省质量协会" not in page
    assert "138****5678" in page
    assert "13812345678" not in page
    assert staff.get(f"/units/{bj.id}").status_code == 200
    assert staff.get(f"/units/{zj.id}").status_code == 404  # another province's does not exist for them
    assert staff.post(f"/units/{bj.id}/active", data={"active": "0"}).status_code == 403
    assert staff.get(f"/units/{bj.id}/handover").status_code == 403
    assert "浙江省质量协会" not in staff.get("/units?province=33").get_data(as_text=True)


def test_the_secretariat_sees_every_unit_in_full_and_filters(app, make_unit, make_user, campaign):
    make_user(Role.SECRETARIAT, username="secret")
    make_unit(province_code="11", name="北京康乐养老服务有限公司", contact_mobile="13812345678")
    make_unit(province_code="33", name="浙江省质量协会", unit_type=UnitType.ASSOCIATION)
    secretariat = _as(app, "secret")
    page = secretariat.get("/units").get_data(as_text=True)
    assert "北京康乐养老服务有限公司" in page
    assert "浙江省质量协会" in page
    assert "13812345678" in page
    filtered = secretariat.get("/units?province=33").get_data(as_text=True)
    assert "北京康乐养老服务有限公司" not in filtered
    assert "浙江省质量协会" in filtered
    assert "浙江省质量协会" not in secretariat.get("/units?q=康乐").get_data(as_text=True)


def test_hq_sees_counts_only(app, make_unit, make_user, campaign):
    make_user(Role.HQ, username="hqboss")
    make_unit(province_code="11", name="北京康乐养老服务有限公司")
    make_unit(province_code="11", name="北京安居物业管理有限公司")
    hq = _as(app, "hqboss")
    assert hq.get("/units").status_code == 403
    page = hq.get("/hq/units").get_data(as_text=True)
    row = re.search(r"<tr><td>北京市</td>(.*?)</tr>", page).group(1)
    assert re.findall(r"<td>(\d+)</td>", row)[-2:] == ["2", "0"]  # total, disabled
    assert "康乐" not in page
    assert "安居" not in page


def test_the_call_page_states_the_rules_and_the_deadline(client, campaign):
    page = client.get("/works/call").get_data(as_text=True)
    assert campaign.theme in page
    assert "2024-08-30 23:59:59" in page
    assert "3000字以内" in page
    assert "5MB－15MB" in page
    assert "不超过3分钟" in page
    assert "排他授权许可" in page
    assert "/units/register" in page
    assert "/login" in page
    client.get("/language/en?next=/works/call")
    english = client.get("/works/call").get_data(as_text=True)
    assert "at most 3,000 characters" in english
    assert "23:59:59 (Beijing time)" in english


def test_the_call_page_without_a_campaign(client):
    assert client.get("/works/call").status_code == 200


def test_the_login_page_leads_units_to_register(client):
    page = client.get("/login").get_data(as_text=True)
    assert "/units/register" in page
    assert "/works/call" in page


def test_the_account_form_never_offers_the_submitter_role(app, make_user):
    make_user(Role.HQ, username="hqboss")
    hq = _as(app, "hqboss")
    page = hq.get("/users").get_data(as_text=True)
    assert 'value="submitter"' not in page
    r = hq.post(
        "/users",
        data={"username": "fake", "display_name": "假单位", "role": "submitter", "password": PASSWORD},
    )
    assert r.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 0


def test_a_registration_racing_another_for_the_same_code_is_told_so(app, client, campaign):
    """Another registration of the code is written but not committed yet when this one
    arrives: PostgreSQL lets this one read past it and stops it at the unique index, SQLite
    makes it wait for the write lock; either way it hears what a later one would."""
    inserted, done = threading.Event(), threading.Event()
    engine = db.engine

    def other_registration():
        with engine.connect() as conn:
            conn.execute(
                sa.insert(Unit.__table__).values(
                    name="先注册的单位",
                    credit_code="91440300MA5H0HLK5U",
                    unit_type="other",
                    province_code="44",
                    contact_name="张三",
                    contact_mobile="13800000000",
                    declaration_version="2024-1",
                    declaration_accepted_at=NOW,
                    declaration_ip="",
                    created_at=NOW,
                )
            )
            inserted.set()
            time.sleep(1)
            conn.commit()
        done.set()

    thread = threading.Thread(target=other_registration)
    thread.start()
    assert inserted.wait(10)
    r = _register(client)
    thread.join()
    assert done.is_set()
    assert r.status_code == 200
    assert "认研中心" in _errors(r.get_data(as_text=True))["credit_code"][0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 1


def test_a_units_account_is_managed_with_the_unit_not_from_hqs_account_list(app, make_unit, make_user, campaign):
    """Disabling or resetting a unit's account from /users would bypass the unit's state
    and the sealed-letter handover: HQ neither sees nor touches it there."""
    make_user(Role.HQ, username="hqboss")
    unit = make_unit(province_code="11", name="北京康乐养老服务有限公司")
    account = db.session.scalar(sa.select(User).where(User.unit_id == unit.id))
    hq = _as(app, "hqboss")
    assert unit.credit_code not in hq.get("/users").get_data(as_text=True)
    assert hq.post(f"/users/{account.id}/reset").status_code == 404  # as if it were not there
    assert hq.post(f"/users/{account.id}/active", data={"active": ""}).status_code == 404
    db.session.refresh(account)
    assert account.active
