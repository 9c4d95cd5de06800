"""Submitting units: registration, the secretariat's disabling and handover, and counts.

A unit registers itself and its account works at once; one account per credit code. The
check character of a credit code is public, so anyone can register a code that is not
theirs: the remedy is the handover, which the secretariat performs after checking a
letter with the unit's seal (new contact, new password, every session ended, logged).
"""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from experience.accounts.models import Province, Role, User
from experience.accounts.services import check_password_policy, generate_temporary_password, hash_password
from experience.core import audit
from experience.core.errors import RuleError
from experience.core.phone import normalize_phone
from experience.extensions import db
from experience.units import credit_code as credit_codes
from experience.units.models import Unit, UnitType

#: The declaration a unit accepts when it registers: the participation conditions of
#: 附件1 三, word for word in Chinese. Changing the text makes a new version (keep the old
#: one here): each unit's row says which version it accepted.
DECLARATION_VERSION = "2024-1"
DECLARATIONS = {
    "2024-1": (
        _l("Our unit meets the conditions for submitting works (annex 1, section 3 of the call):"),
        _l("(1) It supports the Party's line, principles and policies."),
        _l("(2) It is legally established within the People's Republic of China."),
        _l("(3) It has no record of serious dishonesty in the last three years."),
        _l("The information our unit gives here is true and complete, and our unit is responsible for it."),
    ),
}

MESSAGES = {
    "code_registered": _l(
        "This credit code is already registered. If your unit did not register it, or the person who did "
        "has left, please send the works secretariat (SAMR research centre) a letter with your unit's seal "
        "asking for the account to be handed over."
    ),
    "account_exists": _l("An account with this name exists already. Please contact the works secretariat."),
    "name_required": _l("Please give the unit's full name as on its certificate."),
    "mobile": _l("Please give a mainland mobile number of 11 digits, e.g. 13812345678."),
    "email": _l("This e-mail address does not look right; please check it, or leave the field empty."),
    "province": _l("Please choose a province from the list."),
    "unit_type": _l("Please choose the kind of unit from the list."),
    "declaration_changed": _l(
        "The declaration was changed while you filled in the form. Please read it again and accept it."
    ),
    "reason_required": _l("Please say why the account is handed over, and which letter asked for it."),
    "already": _l("Nothing to change: the unit is already in that state."),
}

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")


def _fail(code: str) -> RuleError:
    return RuleError(code, MESSAGES[code])


def declaration_text(version: str = DECLARATION_VERSION) -> tuple:
    return DECLARATIONS[version]


def _mobile(raw: str) -> str:
    phone = normalize_phone(raw)
    if phone is None or not re.fullmatch(r"1\d{10}", phone):
        raise _fail("mobile")
    return phone


def _email(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if not text:
        return None
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise _fail("email")
    return text


def _contact(contact_name: str, contact_mobile: str, contact_email: str | None) -> tuple[str, str, str | None]:
    name = (contact_name or "").strip()
    if not name:
        raise RuleError("contact_required", _l("Please give the contact person's name."))
    return name[:60], _mobile(contact_mobile), _email(contact_email)


def register_unit(
    *,
    name: str,
    credit_code: str,
    unit_type: UnitType,
    province_code: str,
    contact_name: str,
    contact_mobile: str,
    contact_email: str | None,
    password: str,
    declaration_version: str,
    now: datetime,
    ip: str = "",
) -> Unit:
    """Register a unit and its account (user name: the credit code), which works at once.

    :param declaration_version: the version of the declaration the person was shown and
        accepted; a version that is no longer current is refused, so that nobody accepts a
        text they did not see.
    :raises RuleError: a credit_code_* code, code_registered, account_exists,
        name_required, contact_required, mobile, email, province, declaration_changed or a
        password policy code.
    """
    name = " ".join((name or "").split())
    if not name:
        raise _fail("name_required")
    code = credit_codes.validate(credit_code)
    if not isinstance(unit_type, UnitType):
        raise _fail("unit_type")
    if not province_code or db.session.get(Province, province_code) is None:
        raise _fail("province")
    contact = _contact(contact_name, contact_mobile, contact_email)
    if declaration_version != DECLARATION_VERSION:
        raise _fail("declaration_changed")
    if db.session.scalar(sa.select(Unit.id).where(Unit.credit_code == code)):
        raise _fail("code_registered")
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == code.lower())):
        raise _fail("account_exists")
    check_password_policy(password, code)
    unit = Unit(
        name=name[:120],
        credit_code=code,
        unit_type=unit_type,
        province_code=province_code,
        contact_name=contact[0],
        contact_mobile=contact[1],
        contact_email=contact[2],
        declaration_version=declaration_version,
        declaration_accepted_at=now,
        declaration_ip=ip[:64],
        created_at=now,
    )
    try:
        # Two people registering one code at the same moment both pass the read above:
        # the unique constraints decide, and the loser hears what a later one would.
        with db.session.begin_nested():
            db.session.add(unit)
            db.session.flush()
            account = User(
                username=code,
                display_name=name[:60],
                organisation=name[:120],
                role=Role.SUBMITTER,
                province_code=province_code,
                unit_id=unit.id,
                password_hash=hash_password(password),
                created_at=now,
            )
            db.session.add(account)
            db.session.flush()
    except IntegrityError as e:
        raise _fail("code_registered") from e
    audit.record(
        "unit.register",
        now=now,
        actor=account,
        target=unit,
        ip=ip,
        credit_code=code,
        declaration_version=declaration_version,
    )
    return unit


def set_unit_active(unit: Unit, active: bool, *, actor: User, now: datetime, ip: str = "") -> None:
    """Disable a unit (its account stops logging in, its sessions end, its works stay) or
    enable it again.

    :raises RuleError: already.
    """
    if unit.disabled is not active:
        raise _fail("already")
    account = unit.account
    if active:
        unit.disabled_at = unit.disabled_by_id = None
    else:
        unit.disabled_at, unit.disabled_by_id = now, actor.id
    if account is not None:
        account.active = active
        account.end_sessions()
    audit.record("unit.enable" if active else "unit.disable", now=now, actor=actor, target=unit, ip=ip)


def hand_over(
    unit: Unit,
    *,
    actor: User,
    now: datetime,
    reason: str,
    contact_name: str,
    contact_mobile: str,
    contact_email: str | None,
    password: str = "",
    ip: str = "",
) -> str | None:
    """Give the unit's account to the person its sealed letter names: new contact, new
    password (typed by the secretariat, or made here and returned to be shown once), to be
    changed at the first login; every session of the account ends.

    :returns: the temporary password when none was given, else None.
    :raises RuleError: reason_required, contact_required, mobile, email or a password
        policy code.
    """
    reason = (reason or "").strip()
    if not reason:
        raise _fail("reason_required")
    contact = _contact(contact_name, contact_mobile, contact_email)
    account = unit.account
    temporary = None
    if password:
        check_password_policy(password, account.username)
    else:
        password = temporary = generate_temporary_password()
    changed = [
        field
        for field, value in zip(("contact_name", "contact_mobile", "contact_email"), contact, strict=True)
        if getattr(unit, field) != value
    ]
    unit.contact_name, unit.contact_mobile, unit.contact_email = contact
    account.password_hash = hash_password(password)
    account.must_change_password = True
    account.end_sessions()
    audit.record(
        "unit.handover",
        now=now,
        actor=actor,
        target=unit,
        ip=ip,
        reason=reason[:500],
        fields=[*changed, "password"],
    )
    return temporary


def find_units(stmt: sa.Select, *, text: str = "", province_code: str = "", unit_type: str = "") -> sa.Select:
    """Narrow a select of units by what the list's search form asks: part of the name or
    of the credit code, a province, a kind of unit."""
    text = " ".join(text.split())[:60]
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            sa.or_(
                Unit.name.ilike(pattern, escape="\\"),
                Unit.credit_code.ilike(credit_codes.normalize(pattern), escape="\\"),
            )
        )
    if province_code:
        stmt = stmt.where(Unit.province_code == province_code)
    if unit_type in {t.value for t in UnitType}:
        stmt = stmt.where(Unit.unit_type == UnitType(unit_type))
    return stmt


def unit_counts() -> tuple[dict[str, dict[UnitType, int]], dict[str, int]]:
    """Registered units per province and kind (disabled ones included), and the disabled
    ones per province: what HQ sees of the units, with no name or contact."""
    by_kind: dict[str, dict[UnitType, int]] = {}
    for province_code, unit_type, count in db.session.execute(
        sa.select(Unit.province_code, Unit.unit_type, sa.func.count()).group_by(Unit.province_code, Unit.unit_type)
    ):
        by_kind.setdefault(province_code, {})[unit_type] = count
    disabled = dict(
        db.session.execute(
            sa.select(Unit.province_code, sa.func.count())
            .where(Unit.disabled_at.is_not(None))
            .group_by(Unit.province_code)
        ).all()
    )
    return by_kind, disabled
