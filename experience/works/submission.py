"""A work is submitted: its number, the version its sealed form was printed from, the
deadline, returns and extensions.

The registration form (登记表) carries a QR code with the work's number (作品编号) and a
short hash of what the form shows (``form_hash``): the fields of 附件2, the unit, the text
and every original file with its caption. The unit prints it, seals it and uploads the
scan; the scan is *current* while the work still hashes the same. A work may be submitted
only when its checks passed, its declarations are current and its scan is current.

The rules of time are the shared state machine's (``core.submissions``) with the unit's
deadline (the campaign's ``works_deadline``, or a later day the secretariat granted that
unit); when a work can be changed is ``works.deadlines``'. A submitted work is taken back
(``withdraw``) before it is changed, and the next submission needs a new sealed form once
anything on the form changed; a returned work not sent again by its reopen day stays
returned.

Rules as plain functions; each writes its audit entry and its notice, and the caller
commits.
"""

from __future__ import annotations

import enum
import hashlib
import json
from datetime import date, datetime

import sqlalchemy as sa
from blinker import Namespace
from flask_babel import lazy_gettext as _l

from experience.accounts.models import Role
from experience.campaigns.models import Campaign
from experience.core import audit, clock
from experience.core.errors import RuleError
from experience.core.submissions import check_extension
from experience.extensions import db
from experience.notices.services import notify
from experience.plans.models import DeadlineExtension, DeadlineKind
from experience.units.models import Unit
from experience.works import services

# when a work can be changed, and the unit's deadline, are deadlines' (read through here too)
from experience.works.deadlines import can_edit as can_edit
from experience.works.deadlines import deadline as deadline
from experience.works.deadlines import edit_refusal as edit_refusal
from experience.works.deadlines import unit_deadline
from experience.works.models import CheckState, FileKind, Work, WorkState

#: sent with the work on every submission, first or again (kwargs: actor, now, first), in the
#: same transaction: screening's pre-screen fingerprints its files
submitted = Namespace().signal("work-submitted")
#: sent with the work when a returned work is submitted again (kwargs: actor, now), after
#: its state changed and in the same transaction: screening puts it back in its round
#: (a capability to the right of works listens; works does not know it)
resubmitted = Namespace().signal("work-resubmitted")

MESSAGES = {
    "not_ready": _l("The work's files have not all passed their checks yet."),
    "declarations_needed": _l("Please accept the commitment and the licence first."),
    "form_scan_needed": _l(
        "Please print the registration form, have it sealed and upload its scan: a work counts as submitted only "
        "with the sealed form of its current version."
    ),
    "form_scan_outdated": _l(
        "The sealed form uploaded was printed before the work last changed. Please print the form again, have it "
        "sealed and upload the new scan."
    ),
    "withdraw_after_deadline": _l(
        "After the deadline (or the day a return allowed) a submitted work cannot be taken back: it could not be "
        "submitted again."
    ),
    "reopen_until_required": _l("Please give the last day on which the unit may send the work again."),
}

#: 附件2's 推荐单位意见, word for word; a new wording is a new version (a recommendation
#: keeps the version it gave)
RECOMMENDATION_VERSION = "2024-1"
RECOMMENDATION_TEXTS = {
    "2024-1": _l(
        "The work meets the requirements of the call for service certification works. Our unit agrees to "
        "recommend it for the call for service certification works."
    ),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


# -- The unit's deadline ---------------------------------------------------------------------


def extend_deadline(
    unit: Unit, campaign: Campaign, new_day: date, reason: str, *, actor, now: datetime, ip: str = ""
) -> DeadlineExtension:
    """The secretariat gives one unit a later deadline for all its works.

    :raises RuleError: extension_past (not later than the current one, or already over).
    """
    check_extension(unit_deadline(unit, campaign), new_day, now)
    ext = DeadlineExtension(
        campaign_id=campaign.id,
        unit_id=unit.id,
        kind=DeadlineKind.WORKS,
        new_deadline=new_day,
        reason=reason.strip(),
        granted_by_id=actor.id,
        granted_at=now,
    )
    db.session.add(ext)
    audit.record(
        "works.extension", now=now, actor=actor, target=unit, ip=ip, date=new_day.isoformat(), reason=ext.reason
    )
    _notify_unit(unit, "works_extension_granted", now, ("units.home", {}), date=new_day.isoformat())
    return ext


# -- The registration form's version ---------------------------------------------------------

#: characters of the hash in the QR code: 40 bits, enough to tell a work's versions apart
HASH_CHARS = 10


def form_fields(work: Work) -> dict:
    """What the registration form shows of the unit's work, as plain values: a change to
    any of them makes the printed form out of date. The province's recommendation is not
    among them: it is the province's, and a sealed form stays valid when it comes."""
    unit = work.unit
    return {
        "number": work.number or "",
        "unit": [unit.name, unit.credit_code],
        "title": work.title,
        "category": work.category.value,
        "completed_on": work.completed_on.isoformat(),
        "contact": [work.contact_name, work.contact_phone],
        "summary": work.summary,
        "body": hashlib.sha256(work.body.encode()).hexdigest() if work.body else "",
        "files": [
            [f.sha256, f.position, *f.caption.values()] for f in work.files if f.kind is FileKind.ORIGINAL and f.sha256
        ],
        "declaration": [work.declaration_version, work.declared_title],
    }


def form_hash(work: Work) -> str:
    canonical = json.dumps(form_fields(work), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_CHARS]


#: the QR code's text: the number and the hash, e.g. "2024-ZP-00123/3f9a1c2b7d"
QR_SEPARATOR = "/"


def qr_text(work: Work) -> str:
    return f"{work.number}{QR_SEPARATOR}{form_hash(work)}"


def parse_qr(text: str) -> tuple[str, str] | None:
    """(number, hash) from a QR code's text, or None if it is not one of our forms."""
    number, sep, digest = text.strip().partition(QR_SEPARATOR)
    if not sep or len(digest) != HASH_CHARS or "-ZP-" not in number:
        return None
    return number, digest


def assign_number(work: Work, *, actor, now: datetime) -> str:
    """The work's 作品编号, given the first time its form is printed: the campaign's next
    number, counted in one UPDATE so that two units printing at once get two numbers."""
    if work.number:
        return work.number
    n = db.session.execute(
        sa.update(Campaign)
        .where(Campaign.id == work.campaign_id)
        .values(works_last_number=Campaign.works_last_number + 1)
        .returning(Campaign.works_last_number)
    ).scalar_one()
    work.number = f"{work.campaign.year}-ZP-{n:05d}"
    audit.record("work.number", now=now, actor=actor, target=work, number=work.number)
    return work.number


def scan_current(work: Work) -> bool:
    """The sealed form uploaded was printed from the work as it is now."""
    scan = work.form_scan
    return scan is not None and bool(work.number) and scan.form_hash == form_hash(work)


# -- Where a work stands -----------------------------------------------------------------------


class Status(enum.Enum):
    """What a work's unit has left to do, as its pages and the lists show it."""

    #: its fields, files or declarations are not complete, or a check has not passed
    DRAFT = "draft"
    #: complete: the sealed registration form of this version is missing
    AWAITING_FORM = "awaiting_form"
    #: the sealed form is current: it can be submitted
    READY = "ready"
    SUBMITTED = "submitted"
    RETURNED = "returned"

    @property
    def label(self):
        return STATUS_LABELS[self]


STATUS_LABELS = {
    Status.DRAFT: _l("Draft"),
    Status.AWAITING_FORM: _l("Awaiting the sealed form"),
    Status.READY: _l("Ready to submit"),
    Status.SUBMITTED: _l("Submitted"),
    Status.RETURNED: _l("Returned for changes"),
}


def complete(work: Work) -> bool:
    return work.check_state is CheckState.READY and services.declarations_current(work)


def status(work: Work) -> Status:
    if work.state is WorkState.SUBMITTED:
        return Status.SUBMITTED
    if work.state is WorkState.RETURNED:
        return Status.RETURNED
    if not complete(work):
        return Status.DRAFT
    return Status.READY if scan_current(work) else Status.AWAITING_FORM


def can_submit(work: Work, now: datetime) -> bool:
    """Everything is there for ``submit`` to pass now: complete, the sealed form current,
    within the deadline (or the return's window)."""
    if work.state is WorkState.SUBMITTED or not complete(work) or not scan_current(work):
        return False
    return edit_refusal(work, now) is None


def can_reopen(work: Work, now: datetime) -> bool:
    """A submitted work may be taken back for changes while the unit could still change
    and submit it again: before its deadline, or, sent again after a return, within the
    return's reopen day (taking it back later would leave it returned for good)."""
    return work.state is WorkState.SUBMITTED and _withdraw_refusal(work, now) is None


def _withdraw_refusal(work: Work, now: datetime) -> RuleError | None:
    if work.returned_at is not None:
        if work.reopen_until is not None and now > clock.end_of_day(work.reopen_until):
            return _fail("withdraw_after_deadline")
        return None
    return _fail("withdraw_after_deadline") if deadline(work).passed(now) else None


# -- Submitting, taking back, returning --------------------------------------------------------


def submit(work: Work, *, actor, now: datetime, ip: str = "") -> bool:
    """The unit submits the work (or sends it again after a return).

    :returns: whether this is its first submission
    :raises RuleError: not_ready, declarations_needed, form_scan_needed,
        form_scan_outdated, and the state machine's wrong_state, past_deadline,
        reopen_closed.
    """
    if work.state is WorkState.SUBMITTED:
        raise work.wrong_state()
    if work.check_state is not CheckState.READY:
        raise _fail("not_ready")
    if not services.declarations_current(work):
        raise _fail("declarations_needed")
    if work.form_scan is None:
        raise _fail("form_scan_needed")
    if not scan_current(work):
        raise _fail("form_scan_outdated")
    first = work.submit(now, deadline(work))
    audit.record(
        "work.submit" if first else "work.resubmit",
        now=now,
        actor=actor,
        target=work,
        ip=ip,
        number=work.number,
        late=work.late,
    )
    notify(
        None,
        "work_submitted" if first else "work_resubmitted",
        role=Role.SECRETARIAT.value,
        now=now,
        link=("works.view", {"work_id": work.id}),
        number=work.number,
        title=work.title,
        unit=work.unit.name,
    )
    submitted.send(work, actor=actor, now=now, first=first)
    if not first:
        resubmitted.send(work, actor=actor, now=now)
    return first


def withdraw(work: Work, *, actor, now: datetime, ip: str = "") -> None:
    """The unit takes a submitted work back before the deadline (it may change it and
    submit it again; a first submission taken back counts as never made).

    :raises RuleError: wrong_state, withdraw_after_deadline.
    """
    if work.state is not WorkState.SUBMITTED:
        raise work.wrong_state()
    refusal = _withdraw_refusal(work, now)
    if refusal is not None:
        raise refusal
    work.withdraw(now)
    audit.record("work.withdraw", now=now, actor=actor, target=work, ip=ip, number=work.number)
    notify(
        None,
        "work_withdrawn",
        role=Role.SECRETARIAT.value,
        now=now,
        link=("works.view", {"work_id": work.id}),
        number=work.number,
        title=work.title,
        unit=work.unit.name,
    )


def send_back(work: Work, reason: str, reopen_until: date | None, *, actor, now: datetime, ip: str = "") -> None:
    """The secretariat returns a submitted work with what to change and the last day the
    unit may send it again (required: a returned work not sent again by then stays
    returned).

    :raises RuleError: reopen_until_required, and the state machine's wrong_state,
        comment_required, reopen_past.
    """
    if reopen_until is None:
        raise _fail("reopen_until_required")
    kept = work.send_back(reason, now, reopen_until)
    audit.record(
        "work.return",
        now=now,
        actor=actor,
        target=work,
        ip=ip,
        number=work.number,
        comment=kept,
        reopen_until=reopen_until.isoformat(),
    )
    _notify_unit(
        work.unit,
        "work_returned",
        now,
        ("works.view", {"work_id": work.id}),
        title=work.title,
        comment=kept,
        date=reopen_until.isoformat(),
    )


def _notify_unit(unit: Unit, kind: str, now: datetime, link: tuple[str, dict], **params) -> None:
    """A notice to the unit's account (a unit has one)."""
    account = unit.account
    if account is not None:
        notify(None, kind, user_id=account.id, now=now, link=link, **params)
