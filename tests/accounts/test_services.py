from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.accounts import services
from experience.accounts.models import Role, User
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.core.permissions import can
from experience.extensions import db
from tests.conftest import NOW, PASSWORD


@pytest.mark.parametrize(
    "password, code",
    [
        ("Short-1a", "too_short"),
        ("Aa1aaaaaaa", "too_short"),  # passed the old character-class rule
        ("x" * 129, "too_long"),
        ("aaaaaaaaaaaaaaaaaa", "guessable"),
        ("qwertyuiopasdfgh", "guessable"),
        ("1234567890123456", "guessable"),
        ("certification2024", "guessable"),
        ("Password12345678", "common"),
        ("Qwerty123456!!!!", "common"),
        ("beijing-Staff-2024", "contains_username"),
    ],
)
def test_password_policy_refuses(password, code):
    with pytest.raises(RuleError) as e:
        services.check_password_policy(password, "beijing")
    assert e.value.code == code


@pytest.mark.parametrize(
    "password", ["Correct-Horse-9", "认证周体验活动在二零二四年九月", "tR7#kq2!mVn0x4Lp", "alllowercaseletters"]
)
def test_password_policy_accepts_strong_passwords(password):
    services.check_password_policy(password, "beijing")


def test_temporary_password_satisfies_policy():
    for _ in range(20):
        services.check_password_policy(services.generate_temporary_password())


def test_stored_password_is_a_salted_slow_hash(app, make_user):
    app.config["PASSWORD_HASH_METHOD"] = "scrypt"
    a = make_user(username="alpha1")
    b = make_user(username="bravo2")
    assert a.password_hash.startswith("scrypt:32768:8:1$")
    assert a.password_hash != b.password_hash  # same password, different salt
    assert PASSWORD not in a.password_hash


def test_authenticate_records_success_and_failure(app, make_user):
    user = make_user(username="zhangsan")
    assert services.authenticate("ZHANGSAN", PASSWORD, ip="1.2.3.4", now=NOW) is user
    with pytest.raises(RuleError) as e:
        services.authenticate("zhangsan", "wrong", ip="1.2.3.4", now=NOW)
    assert e.value.code == "bad_credentials"
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["login.success", "login.failure"]


def test_unknown_user_and_wrong_password_look_the_same(app, make_user):
    make_user(username="zhangsan")
    messages = set()
    for name in ("zhangsan", "nobody"):
        with pytest.raises(RuleError) as e:
            services.authenticate(name, "wrong-Pass-1", ip="1.2.3.4", now=NOW)
        messages.add(str(e.value))
    assert len(messages) == 1


def test_account_throttled_after_five_failures_then_free_later(app, make_user):
    make_user(username="zhangsan")
    for i in range(5):
        with pytest.raises(RuleError):
            services.authenticate("zhangsan", "wrong", ip=f"10.0.0.{i}", now=NOW)
    with pytest.raises(RuleError) as e:
        services.authenticate("zhangsan", PASSWORD, ip="10.0.0.99", now=NOW + timedelta(minutes=1))
    assert e.value.code == "throttled"  # even the right password waits
    later = NOW + timedelta(minutes=16)
    assert services.authenticate("zhangsan", PASSWORD, ip="10.0.0.99", now=later).username == "zhangsan"


def test_ip_throttled_across_accounts(app, make_user):
    make_user(username="zhangsan")
    for i in range(30):
        with pytest.raises(RuleError):
            services.authenticate(f"guess{i}", "wrong", ip="6.6.6.6", now=NOW)
    with pytest.raises(RuleError) as e:
        services.authenticate("zhangsan", PASSWORD, ip="6.6.6.6", now=NOW)
    assert e.value.code == "throttled"
    assert services.authenticate("zhangsan", PASSWORD, ip="7.7.7.7", now=NOW).username == "zhangsan"


def test_disabled_account_cannot_log_in(app, make_user):
    admin = make_user(Role.HQ, username="boss")
    user = make_user(username="zhangsan")
    services.set_active(user, False, actor=admin, now=NOW)
    with pytest.raises(RuleError):
        services.authenticate("zhangsan", PASSWORD, ip="1.1.1.1", now=NOW)


def test_change_password_rotates_session_token(app, make_user):
    user = make_user(username="zhangsan")
    token = user.session_token
    services.change_password(user, PASSWORD, "New-Password-77", now=NOW)
    assert user.session_token != token
    with pytest.raises(RuleError) as e:
        services.change_password(user, "wrong", "Other-Password-78", now=NOW)
    assert e.value.code == "wrong_current"
    with pytest.raises(RuleError) as e:
        services.change_password(user, "New-Password-77", "New-Password-77", now=NOW)
    assert e.value.code == "same_password"


def test_reset_forces_change_and_ends_sessions(app, make_user):
    admin = make_user(Role.HQ, username="boss")
    user = make_user(username="zhangsan")
    token = user.session_token
    temporary = services.reset_password(user, actor=admin, now=NOW)
    assert user.must_change_password and user.session_token != token
    assert services.authenticate("zhangsan", temporary, ip="1.1.1.1", now=NOW) is user


def test_create_user_rules(app, make_user):
    make_user(username="zhangsan")
    with pytest.raises(RuleError) as e:
        services.create_user(username="ZhangSan", password=PASSWORD, role=Role.PROVINCE, province_code="11", now=NOW)
    assert e.value.code == "username_taken"
    with pytest.raises(RuleError) as e:
        services.create_user(username="lisi", password=PASSWORD, role=Role.ORGANIZER, province_code=None, now=NOW)
    assert e.value.code in ("province_required", "bad_username")
    with pytest.raises(RuleError) as e:
        services.create_user(username="wang", password=PASSWORD, role=Role.ORGANIZER, province_code="99", now=NOW)
    assert e.value.code == "province_required"
    with pytest.raises(RuleError) as e:
        services.create_user(username="bad name", password=PASSWORD, role=Role.HQ, now=NOW)
    assert e.value.code == "bad_username"
    hq = services.create_user(username="hq-two", password=PASSWORD, role=Role.HQ, province_code="11", now=NOW)
    assert hq.province_code is None


def test_database_refuses_hq_account_with_a_province(app, make_user):
    user = make_user(Role.HQ, username="boss")
    user.province_code = "11"
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_province_staff_administer_only_their_organisers(app, make_user):
    hq = make_user(Role.HQ)
    bj = make_user(Role.PROVINCE, "11")
    bj_org = make_user(Role.ORGANIZER, "11")
    zj_org = make_user(Role.ORGANIZER, "33")
    other_staff = make_user(Role.PROVINCE, "11")
    assert can(hq, "administer_account", zj_org)
    assert can(bj, "administer_account", bj_org)
    assert not can(bj, "administer_account", zj_org)
    assert not can(bj, "administer_account", other_staff)
    assert not can(bj_org, "administer_account", bj_org)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 5
