"""Notices inside the app: stored ones, and reminders derived from the calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from experience.core.permissions import can
from experience.extensions import db
from experience.notices.models import Notice, NoticeRead

TEXTS = {
    "plan_submitted": _l("%(province)s submitted its plan."),
    "plan_resubmitted": _l("%(province)s resubmitted its plan after changes."),
    "plan_returned": _l("HQ returned your plan for changes: %(comment)s"),
    "plan_confirmed": _l("HQ confirmed your plan."),
    "event_selected": _l("HQ selected your event “%(title)s” as a launch-ceremony project."),
    "event_unselected": _l("HQ no longer lists your event “%(title)s” as a launch-ceremony project."),
    "event_changed": _l("%(province)s changed the event “%(title)s” after its plan was submitted."),
    "event_added": _l("%(province)s added the event “%(title)s” after its plan was submitted."),
    "event_cancelled": _l("%(province)s cancelled the event “%(title)s” after its plan was submitted."),
    "event_cancelled_launch": _l("%(province)s cancelled “%(title)s”, a launch-ceremony project."),
    "extension_granted": _l("HQ extended your plan's deadline to %(date)s."),
    "summary_extension_granted": _l("HQ extended your summary's deadline to %(date)s."),
    "summary_submitted": _l("%(province)s submitted its summary."),
    "summary_returned": _l("HQ returned your summary for changes: %(comment)s"),
    "work_submitted": _l("%(unit)s submitted the work %(number)s “%(title)s”."),
    "work_resubmitted": _l("%(unit)s submitted the work %(number)s “%(title)s” again after changes."),
    "work_withdrawn": _l("%(unit)s took back the work %(number)s “%(title)s” to change it."),
    "work_returned": _l(
        "The works secretariat returned your work “%(title)s” for changes (until %(date)s): %(comment)s"
    ),
    "works_extension_granted": _l("The works secretariat extended your unit's deadline for works to %(date)s."),
    "recommendation_requested": _l("%(unit)s asks for your recommendation of the work “%(title)s”."),
    "recommendation_given": _l("%(province)s recommended your work “%(title)s”."),
    "recommendation_declined": _l("%(province)s did not recommend your work “%(title)s”: %(reason)s"),
    "screening_advanced": _l(
        "Your work %(number)s “%(title)s” goes on to the next round of the screening (%(round)s)."
    ),
    "screening_selected": _l("Your work %(number)s “%(title)s” was selected in the screening of works (%(round)s)."),
    "screening_not_selected": _l(
        "Your work %(number)s “%(title)s” was not selected in the screening of works (%(round)s)."
    ),
    "objection_received": _l("An objection to the published work %(number)s “%(title)s” came in."),
    "screening_withdrawn": _l(
        "The works secretariat withdrew your selected work %(number)s “%(title)s” from the published list: %(reason)s"
    ),
    "deadline_7": _l("%(label)s: %(days)s days left (%(date)s)."),
    "deadline_1": _l("%(label)s: due tomorrow (%(date)s)."),
    "deadline_0": _l("%(label)s: due today (%(date)s, 23:59 Beijing time)."),
}


def notify(
    province_code: str | None,
    kind: str,
    *,
    now: datetime,
    link: tuple[str, dict] = ("", {}),
    user_id: int | None = None,
    role: str | None = None,
    **params,
) -> Notice:
    """Leave a notice for a province's staff, for one account (``user_id``), for everyone
    of a role (``role``), or for HQ when none of the three is given."""
    assert kind in TEXTS, kind
    assert (province_code, user_id, role).count(None) >= 2, "a notice has one recipient"
    notice = Notice(
        province_code=province_code,
        user_id=user_id,
        role=role,
        kind=kind,
        params=params,
        created_at=now,
        link_endpoint=link[0],
        link_args=link[1],
    )
    db.session.add(notice)
    return notice


def text(kind: str, params: dict) -> str:
    return str(TEXTS[kind]) % params


@dataclass(frozen=True)
class Reminder:
    kind: str
    params: dict

    @property
    def text(self) -> str:
        return text(self.kind, self.params)


def reminders(entries, done_kinds: set[str]) -> list[Reminder]:
    """Deadline reminders from calendar entries: from 7 days before, and on the last day
    before and the day itself; none for what was already handed in."""
    out = []
    for e in entries:
        if e.kind in done_kinds or e.days_left < 0 or e.days_left > 7:
            continue
        kind = "deadline_0" if e.days_left == 0 else "deadline_1" if e.days_left == 1 else "deadline_7"
        out.append(Reminder(kind, {"label": str(e.label), "days": e.days_left, "date": e.deadline.isoformat()}))
    return out


def addressed_to(reader) -> sa.ColumnElement[bool]:
    """The notices ``reader`` receives, as one SQL condition: those to their account, to
    their role, and those to their province (province staff) or to HQ (HQ: the notices
    with no recipient named)."""
    mine = [Notice.user_id == reader.id, Notice.role == reader.role.value]
    if can(reader, "hq"):
        mine.append(sa.and_(Notice.province_code.is_(None), Notice.user_id.is_(None), Notice.role.is_(None)))
    elif can(reader, "province_staff"):
        mine.append(Notice.province_code == reader.province_code)
    return sa.or_(*mine)


def notices_for(reader, limit: int = 20) -> list[Notice]:
    """The reader's notices, newest first, each with ``read_at``: when this reader read it."""
    rows = db.session.execute(
        sa.select(Notice, NoticeRead.read_at)
        .outerjoin(NoticeRead, sa.and_(NoticeRead.notice_id == Notice.id, NoticeRead.user_id == reader.id))
        .where(addressed_to(reader))
        .order_by(Notice.created_at.desc(), Notice.id.desc())
        .limit(limit)
    ).all()
    for notice, read_at in rows:
        notice.read_at = read_at
    return [notice for notice, _ in rows]


def _unread(reader) -> sa.ColumnElement[bool]:
    return ~sa.exists().where(NoticeRead.notice_id == Notice.id, NoticeRead.user_id == reader.id)


def unread_count(reader) -> int:
    stmt = sa.select(sa.func.count()).select_from(Notice).where(addressed_to(reader), _unread(reader))
    return db.session.scalar(stmt) or 0


def mark_all_read(reader, now: datetime) -> None:
    """Mark the reader's notices read, for this reader only: a colleague who receives the
    same notice (a province's, a role's) keeps it unread until they read it. Two requests
    at once (two tabs) mark each notice once."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(
        dialect.insert(NoticeRead)
        .from_select(
            ["notice_id", "user_id", "read_at"],
            sa.select(Notice.id, sa.literal(reader.id), sa.literal(now, sa.DateTime())).where(
                addressed_to(reader), _unread(reader)
            ),
        )
        .on_conflict_do_nothing()
    )
