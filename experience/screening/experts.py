"""Experts' accounts (评审专家): made and changed by the works secretariat.

An expert is a ``reviewer`` account (``User``: name, the unit's name as ``organisation``,
province) with screening's own record (``Expert``: the unit's credit code, the categories
the expert scores). The unit and the credit code are what assignment matches against a
work's unit to keep experts off their own unit's works, so both are checked here.

The secretariat gives a first password (the project's password rules); the expert must
set their own at the first login (``must_change_password``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from experience.accounts.models import Province, Role, User
from experience.accounts.services import MESSAGES as ACCOUNT_MESSAGES
from experience.accounts.services import check_password_policy, hash_password
from experience.campaigns.models import Campaign
from experience.core import audit
from experience.core.errors import RuleError
from experience.extensions import db
from experience.screening import assignment
from experience.screening.models import Assignment, AssignmentState, Entry, Expert, Round, RoundState
from experience.units import credit_code as codes
from experience.works.models import WorkCategory

#: the columns' lengths
NAME_MAX, ORGANISATION_MAX = 60, 120
_USERNAME = re.compile(r"[A-Za-z0-9._-]{3,40}")

MESSAGES = {
    "released_inactive": _l("The expert's account was made inactive: the work went to another expert."),
    "name_required": _l("Please give the expert's name."),
    "name_too_long": _l("The name may have at most 60 characters."),
    "organisation_required": _l(
        "Please give the expert's unit: it keeps the expert away from the works of their own unit."
    ),
    "organisation_too_long": _l("The unit's name may have at most 120 characters."),
    "province_required": _l("Please choose the province of the expert's unit."),
    "bad_category": _l("Unknown work category."),
    "not_an_expert": _l("This account is not an expert's."),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


def _clean_name(value: str) -> str:
    name = (value or "").strip()
    if not name:
        raise _fail("name_required")
    if len(name) > NAME_MAX:
        raise _fail("name_too_long")
    return name


def _clean_organisation(value: str) -> str:
    organisation = " ".join((value or "").split())
    if not organisation:
        raise _fail("organisation_required")
    if len(organisation) > ORGANISATION_MAX:
        raise _fail("organisation_too_long")
    return organisation


def _clean_credit_code(value: str | None) -> str:
    """The normalised code, or "" when none is given (not every unit has one).

    :raises RuleError: credit_code_* from ``units.credit_code.validate``.
    """
    if not codes.normalize(value or ""):
        return ""
    return codes.validate(value)


def _clean_province(value: str | None) -> str:
    if not value or db.session.get(Province, value) is None:
        raise _fail("province_required")
    return value


def _clean_categories(values: Iterable[str | WorkCategory] | None) -> list[str]:
    """WorkCategory values in the enum's order; none means every category."""
    wanted = set()
    for value in values or ():
        try:
            wanted.add(WorkCategory(value).value if not isinstance(value, WorkCategory) else value.value)
        except ValueError:
            raise _fail("bad_category") from None
    return [c.value for c in WorkCategory if c.value in wanted]


def create_expert(
    *,
    username: str,
    display_name: str,
    organisation: str,
    credit_code: str | None,
    province_code: str | None,
    categories: Iterable[str | WorkCategory] = (),
    password: str,
    actor,
    now: datetime,
    ip: str = "",
) -> User:
    """An expert's account and record; the expert sets their own password at first login.

    :raises RuleError: bad_username, username_taken, name_required, name_too_long,
        organisation_required, organisation_too_long, province_required, bad_category,
        credit_code_*, or a password policy code (too_short, guessable, …).
    """
    username = (username or "").strip()
    if not _USERNAME.fullmatch(username):
        raise RuleError("bad_username", ACCOUNT_MESSAGES["bad_username"])
    name = _clean_name(display_name)
    unit_name = _clean_organisation(organisation)
    code = _clean_credit_code(credit_code)
    province = _clean_province(province_code)
    wanted = _clean_categories(categories)
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username.lower())):
        raise RuleError("username_taken", ACCOUNT_MESSAGES["username_taken"])
    check_password_policy(password, username)
    user = User(
        username=username,
        role=Role.REVIEWER,
        province_code=province,
        display_name=name,
        organisation=unit_name,
        password_hash=hash_password(password),
        created_at=now,
        must_change_password=True,
    )
    db.session.add(user)
    db.session.flush()
    db.session.add(Expert(user_id=user.id, credit_code=code, categories=wanted, created_at=now, created_by_id=actor.id))
    db.session.flush()
    audit.record(
        "screening.expert_create",
        now=now,
        actor=actor,
        target=user,
        ip=ip,
        organisation=unit_name,
        credit_code=code,
        categories=wanted,
    )
    return user


def _cleaned(**given) -> dict:
    """name → cleaned value, for the values given (not None)."""
    return {name: clean(value) for name, (value, clean) in given.items() if value is not None}


def expert_of(user: User) -> Expert:
    """:raises RuleError: not_an_expert."""
    expert = db.session.get(Expert, user.id) if user.role is Role.REVIEWER else None
    if expert is None:
        raise _fail("not_an_expert")
    return expert


def update_expert(
    user: User,
    *,
    actor,
    now: datetime,
    ip: str = "",
    display_name: str | None = None,
    organisation: str | None = None,
    credit_code: str | None = None,
    province_code: str | None = None,
    categories: Iterable[str | WorkCategory] | None = None,
    active: bool | None = None,
) -> list[str]:
    """Change what is given (None: unchanged); returns the names of what changed.

    Assignments already made stay: the secretariat sees the expert's unit on the
    assignment pages and removes an assignment by hand where the change makes one wrong.
    An expert made inactive is logged out at once and gets no new assignments; the works
    they had not scored yet in an open round go to other experts (``assignment.release``).

    :raises RuleError: as ``create_expert`` for the fields given; not_an_expert.
    """
    expert = expert_of(user)
    wanted = _cleaned(
        display_name=(display_name, _clean_name),
        organisation=(organisation, _clean_organisation),
        province_code=(province_code, _clean_province),
        active=(active, bool),
    )
    own = _cleaned(credit_code=(credit_code, _clean_credit_code), categories=(categories, _clean_categories))
    changed = [k for k, v in wanted.items() if getattr(user, k) != v]
    changed += [k for k, v in own.items() if getattr(expert, k) != v]
    if not changed:
        return []
    for k, v in wanted.items():
        setattr(user, k, v)
    if "active" in changed and not user.active:
        user.end_sessions()  # out at once, not at the next login
        assignment.release(user, reason=str(MESSAGES["released_inactive"]), now=now)
    for k, v in own.items():
        setattr(expert, k, v)
    db.session.flush()
    audit.record(
        "screening.expert_update",
        now=now,
        actor=actor,
        target=user,
        ip=ip,
        changed=changed,
        **{k: (wanted | own)[k] for k in changed if k != "display_name"},
    )
    return changed


def experts() -> list[tuple[User, Expert]]:
    """Every expert, active first, then by name."""
    rows = db.session.execute(
        sa.select(User, Expert)
        .join(Expert, Expert.user_id == User.id)
        .where(User.role == Role.REVIEWER)
        .order_by(User.active.desc(), User.display_name, User.id)
        .options(selectinload(User.province))  # the list names each expert's province
    )
    return [(u, e) for u, e in rows]


def loads(campaign: Campaign) -> dict[int, tuple[int, int]]:
    """expert's user id → (scored, assigned): the works each expert holds in the
    campaign's opened rounds (active assignments of the entries' current passes)."""
    rows = db.session.execute(
        sa.select(Assignment.expert_id, sa.func.count(Assignment.scored_at), sa.func.count(Assignment.id))
        .join(Entry, sa.and_(Entry.id == Assignment.entry_id, Entry.pass_no == Assignment.pass_no))
        .join(Round, Round.id == Assignment.round_id)
        .where(
            Round.campaign_id == campaign.id,
            Round.state != RoundState.DRAFT,
            Assignment.state == AssignmentState.ACTIVE,
        )
        .group_by(Assignment.expert_id)
    )
    return {expert_id: (scored, total) for expert_id, scored, total in rows}
