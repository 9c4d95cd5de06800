"""Accounts: password policy, login with throttling, password changes and resets."""

from __future__ import annotations

import secrets
import string
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from experience.accounts.models import Province, Role, User
from experience.core import audit
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db

# NIST SP 800-63B rev. 4, 3.1.1.2: with a password as the only factor, at least 15
# characters; at least 64 allowed; no composition rules; refuse what is commonly used or
# easily guessed. Guessability is zxcvbn's estimate (score 3: about 10^8 guesses or more).
MIN_LENGTH = 15
MAX_LENGTH = 128
MIN_SCORE = 3
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])
#: words anyone would try first against this system
_CONTEXT = ["experience", "服务认证", "体验周", "samr", "cnca", "renzheng", "tiyanzhou"]

MESSAGES = {
    "too_short": _l("The password must have at least 15 characters. A few unrelated words make a good one."),
    "too_long": _l("The password may have at most 128 characters."),
    "guessable": _l(
        "This password is easy to guess (a pattern, a repeated or common word). Please choose another, "
        "for example a few unrelated words."
    ),
    "common": _l("This password is too common. Please choose another."),
    "contains_username": _l("The password must not contain the user name."),
    "bad_credentials": _l("Wrong user name or password."),
    "disabled": _l("This account is disabled. Please contact your administrator."),
    "throttled": _l("Too many failed logins. Please wait 15 minutes and try again."),
    "wrong_current": _l("The current password is wrong."),
    "same_password": _l("The new password must differ from the current one."),
    "username_taken": _l("This user name is already taken."),
    "province_required": _l("Province staff and organisers belong to a province."),
    "bad_username": _l("User names use 3 to 40 letters, digits, dots, dashes or underscores."),
}


def _fail(code: str) -> RuleError:
    return RuleError(code, MESSAGES[code])


def check_password_policy(password: str, username: str = "") -> None:
    """Checked when a password is set; existing ones keep working until changed.

    :raises RuleError: too_short, too_long, common, contains_username or guessable.
    """
    if len(password) < MIN_LENGTH:
        raise _fail("too_short")
    if len(password) > MAX_LENGTH:
        raise _fail("too_long")
    lowered = password.lower()
    # "Password123!" is "password" with decorations: strip them before looking up.
    core = lowered.rstrip(string.digits + string.punctuation).lstrip(string.digits + string.punctuation)
    if lowered in _COMMON or core in _COMMON:
        raise _fail("common")
    if username and len(username) >= 3 and username.lower() in lowered:
        raise _fail("contains_username")
    if zxcvbn(password, user_inputs=[username, *_CONTEXT] if username else _CONTEXT)["score"] < MIN_SCORE:
        raise _fail("guessable")


def hash_password(password: str) -> str:
    """scrypt with a random salt; tests may lower its cost through PASSWORD_HASH_METHOD."""
    from flask import current_app, has_app_context

    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"
    return generate_password_hash(password, method=method)


def generate_temporary_password() -> str:
    """A one-time password that itself satisfies the policy."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(16))
        try:
            check_password_policy(candidate)
            return candidate
        except RuleError:
            continue


_USERNAME_OK = set(string.ascii_letters + string.digits + "._-")


def create_user(
    *,
    username: str,
    password: str,
    role: Role,
    now: datetime,
    province_code: str | None = None,
    display_name: str = "",
    organisation: str = "",
    actor=None,
    must_change_password: bool = False,
    ip: str = "",
) -> User:
    """Create an account; ``actor`` is the administrator (None from the command line).

    :raises RuleError: bad_username, username_taken, province_required or a policy code.
    """
    username = username.strip()
    if not (3 <= len(username) <= 40) or set(username) - _USERNAME_OK:
        raise _fail("bad_username")
    if role in (Role.PROVINCE, Role.ORGANIZER):
        if not province_code or db.session.get(Province, province_code) is None:
            raise _fail("province_required")
    else:
        province_code = None
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username.lower())):
        raise _fail("username_taken")
    check_password_policy(password, username)
    user = User(
        username=username,
        role=role,
        province_code=province_code,
        display_name=(display_name or "").strip() or username,
        organisation=(organisation or "").strip(),
        password_hash=hash_password(password),
        created_at=now,
        must_change_password=must_change_password,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "account.create", now=now, actor=actor, target=user, ip=ip, actor_name="" if actor else "cli", role=role.value
    )
    return user


def _recent_failures(now: datetime, window: timedelta, **where) -> int:
    column, value = next(iter(where.items()))
    field = AuditEntry.target_id if column == "username" else AuditEntry.ip
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "login.failure", field == value, AuditEntry.at > now - window)
        )
        or 0
    )


def authenticate(
    username: str,
    password: str,
    *,
    ip: str,
    now: datetime,
    per_account: int = 5,
    per_ip: int = 30,
    window: timedelta = timedelta(minutes=15),
) -> User:
    """Check a login. Failures are counted in the audit log, so the throttle is shared
    by every worker and ends by itself when the window has passed.

    :raises RuleError: throttled or bad_credentials (the same message for an unknown
        user and a wrong password, so accounts cannot be discovered).
    """
    key = username.strip().lower()[:80]
    if _recent_failures(now, window, username=key) >= per_account or _recent_failures(now, window, ip=ip) >= per_ip:
        audit.record("login.throttled", now=now, target_type="user", target_id=key, ip=ip, actor_name=key)
        raise _fail("throttled")
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == key))
    if user is not None and not user.active and check_password_hash(user.password_hash, password):
        # Only the right password learns that the account exists but is disabled.
        audit.record(
            "login.failure",
            now=now,
            target_type="user",
            target_id=key,
            ip=ip,
            actor_name=key,
            province_code=user.province_code,
            reason="disabled",
        )
        raise _fail("disabled")
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        audit.record(
            "login.failure",
            now=now,
            target_type="user",
            target_id=key,
            ip=ip,
            actor_name=key,
            province_code=user.province_code if user else None,
        )
        raise _fail("bad_credentials")
    user.last_login_at = now
    audit.record("login.success", now=now, actor=user, target=user, ip=ip)
    return user


def change_password(user: User, current: str, new: str, *, now: datetime, ip: str = "") -> None:
    """:raises RuleError: wrong_current, same_password or a policy code."""
    if not check_password_hash(user.password_hash, current):
        raise _fail("wrong_current")
    if current == new:
        raise _fail("same_password")
    check_password_policy(new, user.username)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.end_sessions()
    audit.record("password.change", now=now, actor=user, target=user, ip=ip)


def reset_password(user: User, *, actor: User, now: datetime, ip: str = "") -> str:
    """Give ``user`` a temporary password that must be changed at the next login."""
    temporary = generate_temporary_password()
    user.password_hash = hash_password(temporary)
    user.must_change_password = True
    user.end_sessions()
    audit.record("password.reset", now=now, actor=actor, target=user, ip=ip)
    return temporary


def set_active(user: User, active: bool, *, actor: User, now: datetime, ip: str = "") -> None:
    user.active = active
    if not active:
        user.end_sessions()
    audit.record("account.enable" if active else "account.disable", now=now, actor=actor, target=user, ip=ip)


def record_logout(user: User, *, now: datetime, ip: str = "") -> None:
    user.end_sessions()
    audit.record("logout", now=now, actor=user, target=user, ip=ip)
