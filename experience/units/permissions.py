"""Who may see and manage submitting units, and which units a list shows each role."""

from __future__ import annotations

import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core.permissions import rule
from experience.units.models import Unit


@rule("submitter")
def _submitter(user, unit) -> bool:
    """A unit's own account; with a unit, only that unit's."""
    return user.role is Role.SUBMITTER and user.unit_id is not None and (unit is None or unit.id == user.unit_id)


@rule("manage_units")
def _manage_units(user, unit) -> bool:
    """The works secretariat disables, enables and hands over any unit."""
    return user.role is Role.SECRETARIAT


@rule("list_units")
def _list_units(user, obj) -> bool:
    """The secretariat lists every unit; province staff their province's, read-only."""
    return user.role in (Role.SECRETARIAT, Role.PROVINCE)


@rule("view_unit")
def _view_unit(user, unit) -> bool:
    if user.role is Role.SECRETARIAT:
        return True
    if user.role is Role.PROVINCE:
        return unit.province_code == user.province_code
    return _submitter(user, unit)


@rule("see_unit_contact")
def _see_unit_contact(user, unit) -> bool:
    """A contact's mobile and e-mail in full: the secretariat, and the unit itself."""
    return user.role is Role.SECRETARIAT or _submitter(user, unit)


@rule("count_units")
def _count_units(user, obj) -> bool:
    """HQ sees how many units registered, per province and kind, and nothing else of them."""
    return user.role in (Role.HQ, Role.SECRETARIAT)


def visible_units(user, stmt: sa.Select) -> sa.Select:
    """Narrow a select of units to those ``user`` may list."""
    if user.role is Role.SECRETARIAT:
        return stmt
    if user.role is Role.PROVINCE:
        return stmt.where(Unit.province_code == user.province_code)
    return stmt.where(sa.false())
