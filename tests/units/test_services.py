"""Registration, disabling, handover and counts, called as the pages call them."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from experience.accounts.models import Role, User
from experience.accounts.services import authenticate
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from experience.units import services
from experience.units.models import Unit, UnitType
from experience.units.permissions import visible_units
from tests.conftest import NOW, PASSWORD
from tests.units.helpers import unit_data


def _entries(action: str) -> list[AuditEntry]:
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)).all()


def _refusal(**overrides) -> RuleError:
    with pytest.raises(RuleError) as refused:
        services.register_unit(**unit_data(**overrides))
    db.session.rollback()
    return refused.value


def test_registration_makes_a_unit_and_its_account_which_logs_in(make_unit):
    unit = make_unit(credit_code="91440300ma5h0hlk5u", name="  柯兴科技（深圳）有限公司 ", province_code="44")
    assert unit.credit_code == "91440300MA5H0HLK5U"
    assert unit.name == "柯兴科技（深圳）有限公司"
    account = unit.account
    assert account.role is Role.SUBMITTER
    assert account.username == "91440300MA5H0HLK5U"
    assert account.unit_id == unit.id
    assert account.province_code == "44"
    assert not account.must_change_password
    # the code as typed, in lower case, logs in
    assert authenticate("91440300ma5h0hlk5u", PASSWORD, ip="192.0.2.1", now=NOW).id == account.id


def test_declaration_is_recorded_with_its_version_time_and_address(make_unit):
    unit = make_unit(ip="198.51.100.7", now=NOW)
    assert unit.declaration_version == services.DECLARATION_VERSION == "2024-1"
    assert unit.declaration_accepted_at == NOW
    assert unit.declaration_ip == "198.51.100.7"
    [entry] = _entries("unit.register")
    assert entry.target_type == "unit"
    assert entry.target_id == str(unit.id)
    assert entry.actor_id == unit.account.id
    assert entry.ip == "198.51.100.7"
    assert entry.province_code == unit.province_code
    assert entry.detail == {"credit_code": unit.credit_code, "declaration_version": "2024-1"}


def test_declaration_texts_are_kept_by_version():
    text = " ".join(str(line) for line in services.declaration_text("2024-1"))
    assert "serious dishonesty" in text
    assert services.declaration_text() == services.DECLARATIONS[services.DECLARATION_VERSION]


def test_a_declaration_not_shown_is_refused(app):
    assert _refusal(declaration_version="2023-1").code == "declaration_changed"
    assert _refusal(declaration_version="").code == "declaration_changed"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 0


def test_a_registered_code_is_refused_and_points_to_the_secretariat(make_unit):
    make_unit(credit_code="914403001922038216")
    refused = _refusal(credit_code="9144 0300 1922 0382 16", name="另一家公司")
    assert refused.code == "code_registered"
    assert "公章" in str(refused)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 1


def test_a_bad_code_is_refused_before_anything_is_stored(app):
    assert _refusal(credit_code="914403001922038217").code == "credit_code_check"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.parametrize("mobile", ["010-82260862", "12345678901", "1381234567", "电话"])
def test_the_contact_needs_a_mobile(app, mobile):
    assert _refusal(contact_mobile=mobile).code == "mobile"


def test_a_mobile_is_stored_as_eleven_digits(make_unit):
    assert make_unit(contact_mobile="+86 138-1234-5678").contact_mobile == "13812345678"


def test_email_is_optional_but_checked(make_unit):
    assert make_unit(contact_email="").contact_email is None
    assert _refusal(contact_email="wang@").code == "email"


def test_password_policy_applies(app):
    assert _refusal(password="short").code == "too_short"
    assert _refusal(password="aaaaaaaaaaaaaaaaaaaa").code in ("guessable", "common")


def test_province_and_name_are_required(app):
    assert _refusal(province_code="99").code == "province"
    assert _refusal(name="   ").code == "name_required"


def test_disabling_stops_the_login_and_ends_sessions(make_unit, make_user):
    secretariat = make_user(Role.SECRETARIAT, username="secret")
    unit = make_unit()
    token = unit.account.session_token
    services.set_unit_active(unit, False, actor=secretariat, now=NOW, ip="192.0.2.2")
    db.session.commit()
    assert unit.disabled_at == NOW
    assert unit.disabled_by_id == secretariat.id
    assert not unit.account.active
    assert unit.account.session_token != token
    with pytest.raises(RuleError) as refused:
        authenticate(unit.credit_code, PASSWORD, ip="192.0.2.1", now=NOW)
    assert refused.value.code == "disabled"
    [entry] = _entries("unit.disable")
    assert (entry.actor_id, entry.target_id) == (secretariat.id, str(unit.id))


def test_enabling_lets_the_unit_back_in(make_unit, make_user):
    secretariat = make_user(Role.SECRETARIAT, username="secret")
    unit = make_unit()
    services.set_unit_active(unit, False, actor=secretariat, now=NOW)
    services.set_unit_active(unit, True, actor=secretariat, now=NOW + timedelta(hours=1))
    db.session.commit()
    assert unit.disabled_at is None
    assert unit.disabled_by_id is None
    assert authenticate(unit.credit_code, PASSWORD, ip="192.0.2.1", now=NOW).id == unit.account.id
    assert len(_entries("unit.enable")) == 1


def test_disabling_twice_says_nothing_changes(make_unit, make_user):
    secretariat = make_user(Role.SECRETARIAT, username="secret")
    unit = make_unit()
    services.set_unit_active(unit, False, actor=secretariat, now=NOW)
    with pytest.raises(RuleError) as refused:
        services.set_unit_active(unit, False, actor=secretariat, now=NOW)
    assert refused.value.code == "already"


def _hand_over(unit, actor, **overrides):
    data = dict(
        actor=actor,
        now=NOW,
        ip="192.0.2.3",
        reason="2024-08-20 收到公函（京安居函〔2024〕8号），公章核对无误",
        contact_name="李新",
        contact_mobile="13900009999",
        contact_email="",
    )
    data.update(overrides)
    return services.hand_over(unit, **data)


def test_handover_gives_the_account_to_the_new_contact_and_ends_sessions(make_unit, make_user):
    secretariat = make_user(Role.SECRETARIAT, username="secret")
    unit = make_unit()
    token = unit.account.session_token
    temporary = _hand_over(unit, secretariat)
    db.session.commit()
    account = unit.account
    assert (unit.contact_name, unit.contact_mobile, unit.contact_email) == ("李新", "13900009999", None)
    assert account.session_token != token
    assert account.must_change_password
    assert check_password_hash(account.password_hash, temporary)
    assert not check_password_hash(account.password_hash, PASSWORD)
    assert authenticate(unit.credit_code, temporary, ip="192.0.2.1", now=NOW).id == account.id
    [entry] = _entries("unit.handover")
    assert entry.actor_id == secretariat.id
    assert entry.target_id == str(unit.id)
    assert "公函" in entry.detail["reason"]
    assert entry.detail["fields"] == ["contact_name", "contact_mobile", "contact_email", "password"]


def test_handover_with_a_chosen_password(make_unit, make_user):
    secretariat = make_user(Role.SECRETARIAT, username="secret")
    unit = make_unit()
    assert _hand_over(unit, secretariat, password="Purple-Ladder-Window-7") is None
    assert check_password_hash(unit.account.password_hash, "Purple-Ladder-Window-7")
    with pytest.raises(RuleError) as refused:
        _hand_over(unit, secretariat, password="short")
    assert refused.value.code == "too_short"


def test_handover_needs_a_reason(make_unit, make_user):
    secretariat = make_user(Role.SECRETARIAT, username="secret")
    unit = make_unit()
    token = unit.account.session_token
    with pytest.raises(RuleError) as refused:
        _hand_over(unit, secretariat, reason="  ")
    assert refused.value.code == "reason_required"
    db.session.rollback()
    assert unit.account.session_token == token


def test_counts_per_province_and_kind(make_unit, make_user):
    secretariat = make_user(Role.SECRETARIAT, username="secret")
    make_unit(province_code="11", unit_type=UnitType.ASSOCIATION)
    make_unit(province_code="11", unit_type=UnitType.ASSOCIATION)
    disabled = make_unit(province_code="11", unit_type=UnitType.CERTIFICATION_BODY)
    make_unit(province_code="33", unit_type=UnitType.ASSOCIATION)
    services.set_unit_active(disabled, False, actor=secretariat, now=NOW)
    db.session.commit()
    by_kind, off = services.unit_counts()
    assert by_kind == {
        "11": {UnitType.ASSOCIATION: 2, UnitType.CERTIFICATION_BODY: 1},
        "33": {UnitType.ASSOCIATION: 1},
    }
    assert off == {"11": 1}


def test_search_by_name_code_province_and_kind(make_unit):
    a = make_unit(name="北京康乐养老服务有限公司", credit_code="91310115591693856A", province_code="11")
    b = make_unit(
        name="浙江省质量协会", credit_code="91310110666007217T", province_code="33", unit_type=UnitType.ASSOCIATION
    )

    def found(**args):
        return {u.id for u in db.session.scalars(services.find_units(sa.select(Unit), **args))}

    assert found(text="康乐") == {a.id}
    assert found(text="6660 07") == {b.id}
    assert found(text="91310") == {a.id, b.id}
    assert found(province_code="33") == {b.id}
    assert found(unit_type="association") == {b.id}
    assert found(unit_type="nonsense") == {a.id, b.id}
    assert found(text="%") == set()


def test_lists_show_each_role_only_what_it_may_see(make_unit, make_user):
    bj = make_unit(province_code="11")
    make_unit(province_code="33")

    def listed(user):
        return {u.id for u in db.session.scalars(visible_units(user, sa.select(Unit)))}

    assert len(listed(make_user(Role.SECRETARIAT, username="secret"))) == 2
    assert listed(make_user(Role.PROVINCE, "11")) == {bj.id}
    assert listed(make_user(Role.HQ, username="hqboss")) == set()
    assert listed(bj.account) == set()
