"""The role-level permissions: what each role may reach, whatever the record."""

from __future__ import annotations

import sqlalchemy as sa

from experience.accounts.models import Role, User
from experience.core.permissions import rule


@rule("hq")
def _hq(user, obj) -> bool:
    return user.role is Role.HQ


@rule("province_staff")
def _province_staff(user, obj) -> bool:
    """The staff of a province: its plan, its summary, its own home page."""
    return user.role is Role.PROVINCE


@rule("secretariat")
def _secretariat(user, obj) -> bool:
    return user.role is Role.SECRETARIAT


@rule("administer_accounts")
def _administer_accounts(user, obj) -> bool:
    return user.role in (Role.HQ, Role.PROVINCE)


@rule("administer_account")
def _administer_account(admin, user) -> bool:
    """HQ administers every account; province staff administer their province's
    organisers; nobody administers their own account from the list."""
    if user is None or user.id == admin.id:
        return False
    if user.role in (Role.SUBMITTER, Role.REVIEWER):
        # a unit's account and an expert's are the secretariat's (units' pages, screening's experts)
        return False
    if admin.role is Role.HQ:
        return True
    return admin.role is Role.PROVINCE and user.role is Role.ORGANIZER and user.province_code == admin.province_code


@rule("offer_any_role")
def _offer_any_role(user, obj) -> bool:
    """Whether a new account may get any role (HQ), or only the organiser role."""
    return user.role is Role.HQ


@rule("read_notices")
def _read_notices(user, obj) -> bool:
    """Notices go to HQ, to each province's staff, to the works secretariat and to each
    submitting unit (organisers have none)."""
    return user.role in (Role.HQ, Role.PROVINCE, Role.SECRETARIAT, Role.SUBMITTER)


@rule("list_events")
def _list_events(user, obj) -> bool:
    return user.role in (Role.HQ, Role.PROVINCE, Role.ORGANIZER)


@rule("create_event")
def _create_event(user, obj) -> bool:
    return user.role in (Role.PROVINCE, Role.ORGANIZER)


def administered_users(admin, stmt):
    """Narrow a select of accounts to those ``admin`` administers."""
    if admin.role is Role.HQ:
        # units' accounts are the secretariat's to manage, with the unit (units/views.py)
        return stmt.where(User.role.not_in((Role.SUBMITTER, Role.REVIEWER)))
    if admin.role is Role.PROVINCE:
        return stmt.where(User.role == Role.ORGANIZER, User.province_code == admin.province_code)
    return stmt.where(sa.false())
