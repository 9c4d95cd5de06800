"""Provincial plans: saving, submitting by the deadline, HQ's review and selections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from experience.accounts.models import Province, User
from experience.campaigns.models import Campaign
from experience.core import audit, clock, uploads
from experience.core.errors import RuleError
from experience.core.submissions import Deadline, check_extension
from experience.events.models import Event, EventStatus
from experience.events.signals import event_changed
from experience.extensions import db
from experience.notices.services import notify
from experience.plans.models import (
    STATE_LABELS,
    SUBMISSION_MESSAGES,
    DeadlineExtension,
    DeadlineKind,
    Plan,
    PlanState,
)

MESSAGES = {
    **SUBMISSION_MESSAGES,
    "not_editable": _l("The plan is with HQ and cannot be changed now."),
    "no_events": _l("The plan needs at least one event that is not cancelled."),
    "no_document": _l("Please upload the sealed official document (PDF scan) first."),
    "missing_text": _l("Please fill in: %(fields)s."),
    "event_cancelled": _l("A cancelled event cannot be selected."),
    "plan_not_submitted": _l("Events can be selected once their province has submitted its plan."),
    "extension_too_late": _l("The new deadline must come before the summaries are due (%(date)s)."),
}

TEXT_FIELDS = {
    "organisation_text": _l("Organisation and leadership"),
    "coordination_text": _l("Coordination with other departments"),
    "publicity_text": _l("Publicity"),
    "safety_text": _l("Safety"),
}


#: each kind of extension is audited under its own name
EXTENSION_ACTIONS = {DeadlineKind.PLAN: "plan.extension", DeadlineKind.SUMMARY: "summary.extension"}


def plan_for(campaign: Campaign, province_code: str, *, create: bool = True) -> Plan | None:
    plan = db.session.scalar(
        sa.select(Plan).where(Plan.campaign_id == campaign.id, Plan.province_code == province_code)
    )
    if plan is None and create:
        plan = Plan(campaign=campaign, province_code=province_code, state=PlanState.NOT_SUBMITTED)
        db.session.add(plan)
        db.session.flush()
    return plan


def extension_for(
    campaign: Campaign, kind: str | DeadlineKind, *, province_code: str | None = None, unit_id: int | None = None
) -> DeadlineExtension | None:
    """The latest extension of ``kind`` granted to one sender: a province or a submitting unit."""
    if (province_code is None) == (unit_id is None):
        raise ValueError("an extension's subject is a province or a unit")
    subject = (
        DeadlineExtension.province_code == province_code
        if province_code is not None
        else DeadlineExtension.unit_id == unit_id
    )
    return db.session.scalar(
        sa.select(DeadlineExtension)
        .where(DeadlineExtension.campaign_id == campaign.id, DeadlineExtension.kind == DeadlineKind(kind), subject)
        .order_by(DeadlineExtension.granted_at.desc(), DeadlineExtension.id.desc())
        .limit(1)
    )


def deadline_for(
    campaign: Campaign, kind: str | DeadlineKind, *, province_code: str | None = None, unit_id: int | None = None
) -> Deadline:
    """The campaign's deadline of ``kind`` for one sender, with its extension if any."""
    kind = DeadlineKind(kind)
    ext = extension_for(campaign, kind, province_code=province_code, unit_id=unit_id)
    return Deadline(dict(campaign.deadlines())[kind.value], ext.new_deadline if ext else None)


def effective_deadline(campaign: Campaign, province_code: str, kind: str | DeadlineKind = "plan") -> date:
    """The last day a province's first submission of ``kind`` is accepted."""
    return deadline_for(campaign, kind, province_code=province_code).day


def plan_events(plan: Plan) -> list[Event]:
    return list(
        db.session.scalars(
            sa.select(Event)
            .where(
                Event.campaign_id == plan.campaign_id,
                Event.province_code == plan.province_code,
                Event.status == EventStatus.PLANNED,
            )
            .order_by(Event.starts_at, Event.id)
        )
    )


@event_changed.connect
def flag_change_after_submission(event: Event, *, kind: str, actor: User, now: datetime, ip: str, detail: dict) -> bool:
    """Once the plan is with HQ, every change to its events is allowed, but marked on the
    event, audit-logged as such, and told to HQ. Returns whether it was."""
    plan = plan_for(event.campaign, event.province_code, create=False)
    if plan is None or plan.editable:
        return False
    event.changed_after_confirm_at = now
    audit.record(
        "event.change_after_confirm",
        now=now,
        actor=actor,
        target=event,
        ip=ip,
        change=kind,
        plan_state=plan.state.value,
        **detail,
    )
    notify(
        None,
        kind,
        now=now,
        link=("events.view", {"event_id": event.id}),
        province=event.province.name,
        title=event.title,
    )
    return True


def save_plan(plan: Plan, *, actor: User, now: datetime, ip: str = "", **texts: str) -> None:
    """Save the province's texts; only while the plan is with the province."""
    if not plan.editable:
        raise RuleError("not_editable", MESSAGES["not_editable"])
    for field in TEXT_FIELDS:
        if field in texts:
            setattr(plan, field, texts[field].strip())
    plan.updated_at = now
    audit.record("plan.save", now=now, actor=actor, target=plan, ip=ip)


def set_document(plan: Plan, key: str, name: str, *, actor: User, now: datetime, ip: str = "") -> str | None:
    if not plan.editable:
        raise RuleError("not_editable", MESSAGES["not_editable"])
    old = plan.document_key
    plan.document_key, plan.document_name = key, name
    plan.updated_at = now
    audit.record("plan.save", now=now, actor=actor, target=plan, ip=ip, fields=["document"])
    return old


def check_ready(plan: Plan, *, now: datetime) -> None:
    """Whether the plan could be sent now, changing nothing: asked before the province is
    asked to confirm the sending, so that a confirmation is never followed by a refusal.

    :raises RuleError: as submit_plan.
    """
    _check_complete(plan)
    if plan.state is PlanState.NOT_SUBMITTED:
        deadline = deadline_for(plan.campaign, DeadlineKind.PLAN, province_code=plan.province_code)
        if deadline.passed(now):
            raise plan.refusal("past_deadline", deadline=deadline.day.isoformat())
    elif plan.reopen_until is not None and now > clock.end_of_day(plan.reopen_until):
        raise plan.refusal("reopen_closed", date=plan.reopen_until.isoformat())


def _check_complete(plan: Plan) -> None:
    if not plan.editable:
        raise plan.wrong_state()
    missing = [str(label) for field, label in TEXT_FIELDS.items() if not getattr(plan, field).strip()]
    if missing:
        raise RuleError("missing_text", MESSAGES["missing_text"], fields="、".join(missing))
    if not plan.document_key:
        raise RuleError("no_document", MESSAGES["no_document"])
    if not plan_events(plan):
        raise RuleError("no_events", MESSAGES["no_events"])


def submit_plan(plan: Plan, *, actor: User, now: datetime, ip: str = "") -> None:
    """Send the plan to HQ, complete: its texts, the sealed document, at least one event.

    The first submission must come by the end of the deadline day in Beijing (or of the
    extension HQ granted). A returned plan can always come back (HQ's returns name no
    last day); lateness is judged on the first submission only (core.submissions).

    :raises RuleError: wrong_state, missing_text, no_document, no_events, past_deadline.
    """
    _check_complete(plan)
    first = plan.submit(now, deadline_for(plan.campaign, DeadlineKind.PLAN, province_code=plan.province_code))
    plan.updated_at = now
    audit.record("plan.submit", now=now, actor=actor, target=plan, ip=ip, first=first, late=plan.late)
    notify(
        None,
        "plan_submitted" if first else "plan_resubmitted",
        now=now,
        link=("plans.review", {"plan_id": plan.id}),
        province=plan.province.name,
    )


def return_plan(plan: Plan, comment: str, *, actor: User, now: datetime, ip: str = "") -> None:
    """HQ sends the plan back with what to change; it may come back at any time.

    :raises RuleError: wrong_state, comment_required.
    """
    comment = plan.send_back(comment, now)
    audit.record("plan.return", now=now, actor=actor, target=plan, ip=ip, comment=comment)
    notify(plan.province_code, "plan_returned", now=now, link=("plans.edit", {}), comment=comment)


def confirm_plan(plan: Plan, *, actor: User, now: datetime, ip: str = "") -> None:
    """HQ accepts the submitted plan: a transition only plans have. :raises RuleError: wrong_state."""
    if plan.state is not PlanState.SUBMITTED:
        raise plan.wrong_state()
    plan.state = PlanState.CONFIRMED
    plan.confirmed_at = now
    audit.record("plan.confirm", now=now, actor=actor, target=plan, ip=ip)
    notify(plan.province_code, "plan_confirmed", now=now, link=("plans.edit", {}))


def select_launch(event: Event, selected: bool, note: str = "", *, actor: User, now: datetime, ip: str = "") -> None:
    """HQ marks (or unmarks) an event as a launch-ceremony project (启动仪式项目)."""
    if selected and event.is_cancelled:
        raise RuleError("event_cancelled", MESSAGES["event_cancelled"])
    plan = plan_for(event.campaign, event.province_code, create=False)
    if selected and (plan is None or plan.state not in (PlanState.SUBMITTED, PlanState.CONFIRMED)):
        raise RuleError("plan_not_submitted", MESSAGES["plan_not_submitted"])
    if event.launch_selected == selected and event.launch_note == note.strip():
        return
    was = event.launch_selected
    event.launch_selected = selected
    event.launch_note = note.strip() if selected else ""
    audit.record(
        "event.launch_select" if selected else "event.launch_unselect",
        now=now,
        actor=actor,
        target=event,
        ip=ip,
        note=note.strip(),
    )
    if selected != was:
        notify(
            event.province_code,
            "event_selected" if selected else "event_unselected",
            now=now,
            link=("events.view", {"event_id": event.id}),
            title=event.title,
        )


def grant_extension(
    campaign: Campaign,
    province_code: str,
    new_deadline: date,
    reason: str,
    *,
    actor: User,
    now: datetime,
    kind: str | DeadlineKind = "plan",
    ip: str = "",
) -> DeadlineExtension:
    """Record HQ's extension for one province, audited as ``plan.extension`` or
    ``summary.extension``.

    :raises RuleError: extension_past; extension_too_late for a plan's extension that
        reaches the summary deadline.
    """
    kind = DeadlineKind(kind)
    if kind not in EXTENSION_ACTIONS:
        raise ValueError(f"HQ grants no extension of {kind.value} here")
    check_extension(deadline_for(campaign, kind, province_code=province_code), new_deadline, now)
    if kind is DeadlineKind.PLAN and new_deadline >= campaign.summary_deadline:
        raise RuleError(
            "extension_too_late", MESSAGES["extension_too_late"], date=campaign.summary_deadline.isoformat()
        )
    ext = DeadlineExtension(
        campaign_id=campaign.id,
        province_code=province_code,
        kind=kind,
        new_deadline=new_deadline,
        reason=reason.strip(),
        granted_by_id=actor.id,
        granted_at=now,
    )
    db.session.add(ext)
    db.session.flush()
    audit.record(
        EXTENSION_ACTIONS[kind],
        now=now,
        actor=actor,
        target_type="province",
        target_id=province_code,
        province_code=province_code,
        ip=ip,
        kind=kind.value,
        new_deadline=new_deadline.isoformat(),
        reason=reason.strip(),
    )
    notify(
        province_code,
        "extension_granted" if kind is DeadlineKind.PLAN else "summary_extension_granted",
        now=now,
        link=("plans.edit", {}) if kind is DeadlineKind.PLAN else ("reports.province", {}),
        date=new_deadline.isoformat(),
    )
    return ext


@dataclass
class NationalRow:
    province: Province
    plan: Plan | None
    #: the events in the province's plan (not cancelled), held or not
    events: int
    launch: int
    extension: date | None
    #: the last day of its first submission, the extension counted
    deadline: date
    #: no plan yet, and that day is over: 逾期未报
    overdue: bool

    @property
    def state(self) -> PlanState:
        return self.plan.state if self.plan else PlanState.NOT_SUBMITTED


def latest_extensions(campaign: Campaign, kind: str | DeadlineKind) -> dict[str, date]:
    """Each province's latest extension of ``kind`` (the one that counts), in one query."""
    latest: dict[str, date] = {}
    for code, day in db.session.execute(
        sa.select(DeadlineExtension.province_code, DeadlineExtension.new_deadline)
        .where(
            DeadlineExtension.campaign_id == campaign.id,
            DeadlineExtension.kind == DeadlineKind(kind),
            DeadlineExtension.province_code.is_not(None),
        )
        .order_by(DeadlineExtension.granted_at, DeadlineExtension.id)
    ):
        latest[code] = day
    return latest


def national_table(campaign: Campaign, *, now: datetime) -> list[NationalRow]:
    """All 32 provincial units with their plan, in four queries whatever the size; a
    province with no plan sent after its deadline (extension included) is overdue."""
    provinces = db.session.scalars(sa.select(Province).order_by(Province.code)).all()
    plans = {p.province_code: p for p in db.session.scalars(sa.select(Plan).where(Plan.campaign_id == campaign.id))}
    counts = {
        code: (n, launch)
        for code, n, launch in db.session.execute(
            sa.select(Event.province_code, sa.func.count(), sa.func.sum(sa.case((Event.launch_selected, 1), else_=0)))
            .where(Event.campaign_id == campaign.id, Event.status == EventStatus.PLANNED)
            .group_by(Event.province_code)
        )
    }
    extensions = latest_extensions(campaign, DeadlineKind.PLAN)
    rows = []
    for p in provinces:
        plan = plans.get(p.code)
        deadline = Deadline(campaign.plan_deadline, extensions.get(p.code))
        unsent = plan is None or plan.first_submitted_at is None
        rows.append(
            NationalRow(
                p,
                plan,
                *(counts.get(p.code) or (0, 0)),
                extensions.get(p.code),
                deadline.day,
                unsent and deadline.passed(now),
            )
        )
    return rows


# -- Names in the audit log (core.audit.names) -------------------------------------------

audit.describe_values("plan_state", {state.value: label for state, label in STATE_LABELS.items()})


def _ids(ids: set[str]) -> set[int]:
    return {int(i) for i in ids if i.isdigit() and len(i) <= 18}


@audit.names("plan")
def _plan_names(ids: set[str]) -> dict[str, str]:
    """A plan is named by its province."""
    rows = db.session.execute(
        sa.select(Plan.id, Province.name)
        .join(Province, Province.code == Plan.province_code)
        .where(Plan.id.in_(_ids(ids)))
    )
    return {str(i): name for i, name in rows}


@audit.names("event")
def _event_names(ids: set[str]) -> dict[str, str]:
    return {
        str(i): title
        for i, title in db.session.execute(sa.select(Event.id, Event.title).where(Event.id.in_(_ids(ids))))
    }


@audit.names("campaign")
def _campaign_names(ids: set[str]) -> dict[str, str]:
    return {
        str(i): str(year)
        for i, year in db.session.execute(sa.select(Campaign.id, Campaign.year).where(Campaign.id.in_(_ids(ids))))
    }


@uploads.keeps
def _plan_documents(now: float):
    return db.session.scalars(sa.select(Plan.document_key).where(Plan.document_key.is_not(None)))
