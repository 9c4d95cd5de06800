"""公示: the selected works made public for a period, the objections that come in during
it, and a selected work withdrawn for a cause.

The secretariat publishes the campaign's selection (``decisions.selected_works``) for a
period of Beijing dates, both ends included: open from the first day's 00:00 to the last
day's 23:59:59 Beijing time. One publication per campaign; its period may change until it
starts, never after. During the period anyone may object to a published work through the
public form (the personal-information notice first, consent required, throttled per
address by the view); only the secretariat reads objections, and answers each one. After
the period the selection is final, but a work can still be withdrawn for a cause: it
leaves the public platform and the display screens at once (``withdrawn_ids``).

Rules as plain functions; each writes its audit entry, and the caller commits.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from huey import crontab
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from experience.accounts.models import Role
from experience.campaigns.models import Campaign
from experience.core import audit, clock, jobs
from experience.core.errors import RuleError
from experience.core.phone import normalize_phone
from experience.extensions import db
from experience.notices.services import notify
from experience.screening import decisions
from experience.screening.models import Objection, Publication, Withdrawal
from experience.screening.signals import work_withdrawn
from experience.works.models import Work

DEFAULT_DAYS = 7
MAX_DAYS = 30
NAME_MAX = 60
REASON_MIN = 10
REASON_MAX = 2000
ANSWER_MAX = 2000
WITHDRAW_REASON_MAX = 1000

#: the wording of the objection form's personal-information notice the objector accepts
#: (templates/screening/objection_form.html); a new wording gets a new version, and a form
#: opened on the old one must be read again
NOTICE_VERSION = "2024-1"

MESSAGES = {
    "nothing_selected": _l("No work is selected yet: apply the decisions of a round first."),
    "start_past": _l("The first day of the public notice period cannot be before today (Beijing time)."),
    "days_range": _l("The public notice period lasts from 1 to %(max)s days."),
    "already_started": _l("The public notice period has already started: it can no longer change."),
    "published_meanwhile": _l("Someone else published the selection at the same moment: please look at it again."),
    "not_open": _l("Objections are accepted only during the public notice period."),
    "not_published": _l("This work is not on the published list."),
    "name_required": _l("Please give your name."),
    "name_too_long": _l("The name is too long (at most %(max)s characters)."),
    "phone_invalid": _l("Please give a mobile number (11 digits) or a landline with its area code."),
    "reason_too_short": _l("Please explain the objection in at least %(min)s characters."),
    "reason_too_long": _l("The reason is too long (at most %(max)s characters)."),
    "consent_required": _l("Please agree to the personal information notice to send the objection."),
    "notice_changed": _l("The personal information notice has changed: please read it again and agree to it."),
    "answer_required": _l("Please write the answer."),
    "answer_too_long": _l("The answer is too long (at most %(max)s characters)."),
    "not_yet_published": _l("The selection has not been published: there is nothing to withdraw."),
    "not_selected": _l("Only a selected work on the published list can be withdrawn."),
    "already_withdrawn": _l("This work was already withdrawn."),
    "withdraw_reason_required": _l("Please give the cause for withdrawing the work: it is kept in the log."),
    "withdraw_reason_too_long": _l("The cause is too long (at most %(max)s characters)."),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


class PeriodState(enum.Enum):
    BEFORE = "before"
    OPEN = "open"
    OVER = "over"

    @property
    def label(self):
        return PERIOD_LABELS[self]


PERIOD_LABELS = {
    PeriodState.BEFORE: _l("Not started yet"),
    PeriodState.OPEN: _l("Under public notice"),
    PeriodState.OVER: _l("Over: the selection is final"),
}


# -- The period ----------------------------------------------------------------------------------


def publication_of(campaign: Campaign) -> Publication | None:
    return db.session.scalar(sa.select(Publication).where(Publication.campaign_id == campaign.id))


def period_state(pub: Publication, now: datetime) -> PeriodState:
    """Before, during or after the period, by the Beijing date of ``now``: the first day
    counts from 00:00:00 and the last until 23:59:59 Beijing time."""
    today = clock.beijing_today(now)
    if today < pub.starts_on:
        return PeriodState.BEFORE
    if today <= pub.ends_on:
        return PeriodState.OPEN
    return PeriodState.OVER


def in_period(pub: Publication | None, now: datetime) -> bool:
    return pub is not None and period_state(pub, now) is PeriodState.OPEN


def started(pub: Publication | None, now: datetime) -> bool:
    """Whether the list is public (during the period and after it)."""
    return pub is not None and period_state(pub, now) is not PeriodState.BEFORE


def publish(
    campaign: Campaign, starts_on: date, days: int = DEFAULT_DAYS, *, actor, now: datetime, ip: str = ""
) -> Publication:
    """Publish the campaign's selection from ``starts_on`` for ``days`` Beijing days, or
    change the period of a publication that has not started yet.

    :raises RuleError: nothing_selected, days_range, start_past, already_started,
        published_meanwhile.
    """
    refusal = publish_refusal(campaign, starts_on, days, now)
    if refusal is not None:
        raise refusal
    works = decisions.selected_works(campaign)
    ends_on = starts_on + clock.ONE_DAY * (days - 1)
    pub = publication_of(campaign)
    changed = pub is not None
    if pub is None:
        pub = Publication(campaign_id=campaign.id)
        pub.campaign = campaign
        try:
            with db.session.begin_nested():
                _fill(pub, starts_on, ends_on, actor, now)
                db.session.add(pub)
        except IntegrityError:  # another secretary published this campaign at the same moment
            raise _fail("published_meanwhile") from None
    else:
        _fill(pub, starts_on, ends_on, actor, now)
    audit.record(
        "screening.publish",
        now=now,
        actor=actor,
        target=pub,
        ip=ip,
        starts_on=starts_on.isoformat(),
        ends_on=ends_on.isoformat(),
        changed=changed,
        count=len(works),
        numbers=[w.number for w in works],
    )
    return pub


def publish_refusal(campaign: Campaign, starts_on: date, days: int, now: datetime) -> RuleError | None:
    """Why ``publish`` would refuse this period now (None: it would not), asked before
    the confirmation too."""
    if not decisions.selected_works(campaign):
        return _fail("nothing_selected")
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        return _fail("days_range", max=MAX_DAYS)
    if starts_on < clock.beijing_today(now):
        return _fail("start_past")
    pub = publication_of(campaign)
    if pub is not None and period_state(pub, now) is not PeriodState.BEFORE:
        return _fail("already_started")
    return None


def _fill(pub: Publication, starts_on: date, ends_on: date, actor, now: datetime) -> None:
    pub.starts_on, pub.ends_on = starts_on, ends_on
    pub.published_by_id, pub.published_at = actor.id, now


# -- What is published ---------------------------------------------------------------------------


def withdrawn_ids(campaign: Campaign) -> set[int]:
    """The ids of the campaign's works withdrawn after publication."""
    return set(
        db.session.scalars(
            sa.select(Withdrawal.work_id)
            .join(Work, Work.id == Withdrawal.work_id)
            .where(Work.campaign_id == campaign.id)
        )
    )


def published_works(campaign: Campaign) -> list[Work]:
    """The selection as published: the selected works minus the withdrawn ones, by
    category then number (whether the period has started is the caller's question)."""
    gone = withdrawn_ids(campaign)
    return [w for w in decisions.selected_works(campaign) if w.id not in gone]


def is_published(work: Work) -> bool:
    """Whether the work is on its campaign's published list (selected, not withdrawn)."""
    return any(w.id == work.id for w in published_works(work.campaign))


def open_for_objections(work: Work, now: datetime) -> bool:
    """Whether anyone may object to the work now: its campaign's period is open and the
    work is on the list."""
    return in_period(publication_of(work.campaign), now) and is_published(work)


# -- Objections ----------------------------------------------------------------------------------


def raise_objection(
    work: Work,
    *,
    name: str,
    phone: str,
    reason: str,
    consent: bool,
    ip: str,
    now: datetime,
    notice_version: str = NOTICE_VERSION,
) -> Objection:
    """Someone objects to a published work during the period; the secretariat is told.

    :param notice_version: the wording of the personal-information notice the form showed
    :raises RuleError: not_open, not_published, notice_changed, consent_required,
        name_required, name_too_long, phone_invalid, reason_too_short, reason_too_long.
    """
    pub = publication_of(work.campaign)
    if not in_period(pub, now):
        raise _fail("not_open")
    if not is_published(work):
        raise _fail("not_published")
    if notice_version != NOTICE_VERSION:
        raise _fail("notice_changed")
    if not consent:
        raise _fail("consent_required")
    name = " ".join((name or "").split())
    if not name:
        raise _fail("name_required")
    if len(name) > NAME_MAX:
        raise _fail("name_too_long", max=NAME_MAX)
    normalised = normalize_phone(phone)
    if normalised is None:
        raise _fail("phone_invalid")
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        raise _fail("reason_too_short", min=REASON_MIN)
    if len(reason) > REASON_MAX:
        raise _fail("reason_too_long", max=REASON_MAX)
    objection = Objection(
        publication_id=pub.id,
        work_id=work.id,
        name=name,
        phone=normalised,
        reason=reason,
        notice_version=notice_version,
        ip=(ip or "")[:64],
        created_at=now,
        answer="",
    )
    db.session.add(objection)
    db.session.flush()
    notify(
        None,
        "objection_received",
        role=Role.SECRETARIAT.value,
        now=now,
        link=("screening.objection", {"objection_id": objection.id}),
        number=work.number or "",
        title=work.title,
    )
    # The objector's name and phone stay in the objection, read by the secretariat only:
    # the log, which HQ reads, keeps which work and from where.
    audit.record("screening.objection", now=now, target=objection, ip=ip or "", work_id=work.id, number=work.number)
    return objection


#: the name the brief gives the rule; ``raise_objection`` inside this module, where
#: ``object`` is Python's own
object = raise_objection  # noqa: A001


def objections(pub: Publication) -> list[Objection]:
    """The publication's objections, those still to answer first, newest first."""
    return list(
        db.session.scalars(
            sa.select(Objection)
            .where(Objection.publication_id == pub.id)
            .order_by(Objection.answered_at.is_not(None), Objection.created_at.desc(), Objection.id.desc())
            .options(joinedload(Objection.work))
        )
    )


def answer(objection: Objection, text: str, *, actor, now: datetime, ip: str = "") -> Objection:
    """The secretariat's answer to an objection (a later answer replaces it; the log keeps both).

    :raises RuleError: answer_required, answer_too_long.
    """
    text = (text or "").strip()
    if not text:
        raise _fail("answer_required")
    if len(text) > ANSWER_MAX:
        raise _fail("answer_too_long", max=ANSWER_MAX)
    changed = objection.answered_at is not None
    objection.answer, objection.answered_by_id, objection.answered_at = text, actor.id, now
    audit.record(
        "screening.objection_answer",
        now=now,
        actor=actor,
        target=objection,
        ip=ip,
        number=objection.work.number,
        changed=changed,
        answer=text,
    )
    return objection


# -- Withdrawal for a cause ----------------------------------------------------------------------


def withdrawal_of(work: Work) -> Withdrawal | None:
    return db.session.scalar(sa.select(Withdrawal).where(Withdrawal.work_id == work.id))


def withdraw_refusal(work: Work) -> RuleError | None:
    """Why the work cannot be withdrawn now, whatever the cause given (None: it can)."""
    if publication_of(work.campaign) is None:
        return _fail("not_yet_published")
    if withdrawal_of(work) is not None:
        return _fail("already_withdrawn")
    if not any(w.id == work.id for w in decisions.selected_works(work.campaign)):
        return _fail("not_selected")
    return None


def withdrawals(campaign: Campaign) -> list[Withdrawal]:
    """The campaign's withdrawn works, latest first."""
    return list(
        db.session.scalars(
            sa.select(Withdrawal)
            .join(Work, Work.id == Withdrawal.work_id)
            .where(Work.campaign_id == campaign.id)
            .order_by(Withdrawal.withdrawn_at.desc(), Withdrawal.id.desc())
            .options(joinedload(Withdrawal.work))
        )
    )


def withdraw_selected(work: Work, reason: str, *, actor, now: datetime, ip: str = "") -> Withdrawal:
    """Withdraw a published selected work for a cause: from now on no public page and no
    display screen shows it. Its unit is told, with the cause.

    :raises RuleError: withdraw_reason_required, withdraw_reason_too_long, and
        withdraw_refusal's not_yet_published, already_withdrawn, not_selected.
    """
    reason = (reason or "").strip()
    if not reason:
        raise _fail("withdraw_reason_required")
    if len(reason) > WITHDRAW_REASON_MAX:
        raise _fail("withdraw_reason_too_long", max=WITHDRAW_REASON_MAX)
    refusal = withdraw_refusal(work)
    if refusal is not None:
        raise refusal
    withdrawal = Withdrawal(work_id=work.id, reason=reason, withdrawn_by_id=actor.id, withdrawn_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(withdrawal)
    except IntegrityError:  # withdrawn by someone else at the same moment
        raise _fail("already_withdrawn") from None
    if work.unit.account is not None:
        notify(
            None,
            "screening_withdrawn",
            user_id=work.unit.account.id,
            now=now,
            link=("works.view", {"work_id": work.id}),
            number=work.number or "",
            title=work.title,
            reason=reason,
        )
    audit.record(
        "screening.withdraw_selected", now=now, actor=actor, target=work, ip=ip, number=work.number, reason=reason
    )
    work_withdrawn.send(work, now=now)
    return withdrawal


# -- Keeping objections no longer than the notice says ------------------------------------------

#: the personal-information notice tells objectors their name, phone and reason are kept
#: for one year after the period ends
KEEP_OBJECTIONS_DAYS = 365


def purge_objections(now: datetime) -> int:
    """Delete the objections (name, phone, reason, address, answer) of every publication
    whose period ended more than a year ago (Beijing dates); returns how many went. The
    audit log keeps that an objection came, never who sent it."""
    cutoff = clock.beijing_today(now) - timedelta(days=KEEP_OBJECTIONS_DAYS)
    old = sa.select(Publication.id).where(Publication.ends_on < cutoff)
    gone = db.session.execute(
        sa.delete(Objection).where(Objection.publication_id.in_(old)).execution_options(synchronize_session=False)
    ).rowcount
    if gone:
        audit.record("screening.objections_purge", now=now, actor=None, actor_name="system", count=gone)
    return gone


@jobs.huey.periodic_task(crontab(hour="3", minute="17"), priority=jobs.LIGHT)
@jobs._in_app  # as transfers.jobs: core offers nothing public for a capability's periodic task yet
def purge_old_objections() -> None:
    """Every night (03:17 server time)."""
    purge_objections(clock.now())
    db.session.commit()
