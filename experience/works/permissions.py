"""Who may see and change works, and which works a list shows each role.

A unit sees and edits its own works; the works secretariat reads every work; a province's
staff read the works of the units in their province; HQ sees counts only. For anyone else
a work does not exist (404, and the refusal is in the audit log). A work's files are read
under the same rule, through ``core.files.may_read_file`` (screening and the display
screens will add their own readers beside it).
"""

from __future__ import annotations

import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core.files import reader
from experience.core.permissions import rule
from experience.units.models import Unit
from experience.works.models import FileKind, Work


def _own(user, work) -> bool:
    return user.role is Role.SUBMITTER and user.unit_id is not None and work.unit_id == user.unit_id


@rule("create_work")
def _create_work(user, obj) -> bool:
    """A submitting unit's account makes its own works."""
    return user.role is Role.SUBMITTER and user.unit_id is not None


@rule("list_works")
def _list_works(user, obj) -> bool:
    """A unit lists its works, the secretariat all, a province's staff their province's."""
    return user.role in (Role.SUBMITTER, Role.SECRETARIAT, Role.PROVINCE)


@rule("view_work")
def _view_work(user, work) -> bool:
    if user.role is Role.SECRETARIAT:
        return True
    if user.role is Role.PROVINCE:
        return work.unit.province_code == user.province_code
    return _own(user, work)


@rule("edit_work")
def _edit_work(user, work) -> bool:
    """Only the unit that made it; whether it can change now is the service's decision."""
    return _own(user, work)


@rule("see_work_contact")
def _see_work_contact(user, work) -> bool:
    """The work's contact phone in full: the unit and the secretariat; others see it masked."""
    return user.role is Role.SECRETARIAT or _own(user, work)


@rule("count_works")
def _count_works(user, obj) -> bool:
    """HQ sees how many works came, per category and province, and nothing else of them."""
    return user.role in (Role.HQ, Role.SECRETARIAT)


@reader("work_file")
def _read_work_file(user, work_file) -> bool:
    """A work's file: whoever may read the work (logged in and active)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return False
    if work_file.kind is FileKind.FORM_SCAN:
        # the sealed form shows the contact phone in full: only those who may see it
        return _view_work(user, work_file.work) and _see_work_contact(user, work_file.work)
    return _view_work(user, work_file.work)


def visible_works(user, stmt: sa.Select) -> sa.Select:
    """Narrow a select of works to those ``user`` may list."""
    if user.role is Role.SECRETARIAT:
        return stmt
    if user.role is Role.PROVINCE:
        return stmt.where(Work.unit_id.in_(sa.select(Unit.id).where(Unit.province_code == user.province_code)))
    if user.role is Role.SUBMITTER and user.unit_id is not None:
        return stmt.where(Work.unit_id == user.unit_id)
    return stmt.where(sa.false())


@rule("decide_work")
def _decide_work(user, work) -> bool:
    """Returning a submitted work and extending a unit's deadline: the works secretariat."""
    return user.role is Role.SECRETARIAT
