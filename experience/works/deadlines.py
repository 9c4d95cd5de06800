"""When a unit may change its works: the unit's deadline and the state of the work.

Kept apart from ``works.submission`` so that the services of a work's fields and files
(``works.services``), which ask it before every change, and the submission rules, which
build on those services, both import it without a cycle.

A work can be changed:

- not submitted: until the unit's deadline (after it, drafts stay drafts);
- submitted: only once taken back (``submission.withdraw``) before the deadline; after
  the deadline it is locked;
- returned: until the day the return named (``reopen_until``).
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l

from experience.campaigns.models import Campaign
from experience.core import clock
from experience.core.errors import RuleError
from experience.core.submissions import Deadline
from experience.plans.models import DeadlineKind
from experience.plans.services import deadline_for
from experience.units.models import Unit
from experience.works.models import Work, WorkState

MESSAGES = {
    "deadline_passed": _l(
        "The deadline for works was %(deadline)s 23:59:59 Beijing time: the work can no longer be changed or "
        "submitted. The works secretariat can extend the deadline for your unit."
    ),
    "locked_submitted": _l(
        "The work was submitted and the deadline (%(deadline)s 23:59:59 Beijing time) has passed: it can only be "
        "changed if the works secretariat returns it."
    ),
    "reopen_closed": _l(
        "The work was returned with changes possible until %(date)s 23:59:59 Beijing time; that time has passed."
    ),
}

#: the wording of the state machine's refusals for works
Work.messages = {
    "past_deadline": MESSAGES["deadline_passed"],
    "reopen_closed": MESSAGES["reopen_closed"],
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


def deadline(work: Work) -> Deadline:
    """The deadline of the work's unit: the campaign's, or the later day of an extension."""
    return deadline_for(work.campaign, DeadlineKind.WORKS, unit_id=work.unit_id)


def unit_deadline(unit: Unit, campaign: Campaign) -> Deadline:
    return deadline_for(campaign, DeadlineKind.WORKS, unit_id=unit.id)


def edit_refusal(work: Work, now: datetime) -> RuleError | None:
    """Why the unit cannot change the work now (None: it can). A submitted work before
    the deadline must first be taken back: it is refused here too (wrong_state)."""
    if work.state is WorkState.RETURNED:
        if work.reopen_until is not None and now > clock.end_of_day(work.reopen_until):
            return _fail("reopen_closed", date=work.reopen_until.isoformat())
        return None
    due = deadline(work)
    if work.state is WorkState.SUBMITTED:
        if due.passed(now):
            return _fail("locked_submitted", deadline=due.day.isoformat())
        return work.wrong_state()
    if due.passed(now):
        return _fail("deadline_passed", deadline=due.day.isoformat())
    return None


def can_edit(work: Work, now: datetime) -> bool:
    return edit_refusal(work, now) is None
