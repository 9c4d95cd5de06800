"""Campaigns: the current year, its calendar, and HQ's edits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from experience.campaigns.models import DEFAULT_SECTORS, Campaign
from experience.core import audit, clock
from experience.core.errors import RuleError
from experience.extensions import db

DEADLINE_LABELS = {
    "plan": _l("Provincial plans due at HQ"),
    "works": _l("Works due at the secretariat"),
    "summary": _l("Provincial summaries due at HQ"),
}


def current_campaign() -> Campaign | None:
    """The latest campaign year; the system supports one active year at a time."""
    return db.session.scalar(sa.select(Campaign).order_by(Campaign.year.desc()).limit(1))


def default_campaign(year: int, theme: str = "") -> Campaign:
    """A campaign with the 2024 notice's calendar moved to ``year``."""
    return Campaign(
        year=year,
        theme=theme or "认证推进服务业高质量发展",
        plan_deadline=date(year, 8, 23),
        works_deadline=date(year, 8, 30),
        summary_deadline=date(year, 10, 18),
        week_start=date(year, 9, 1),
        week_end=date(year, 9, 30),
        sectors=DEFAULT_SECTORS,
    )


@dataclass(frozen=True)
class CalendarEntry:
    kind: str
    label: object
    deadline: date
    days_left: int
    extended: bool = False


def calendar(campaign: Campaign, now: datetime, extensions: dict[str, date] | None = None) -> list[CalendarEntry]:
    """The campaign's deadlines with days left from ``now`` (Beijing date)."""
    extensions = extensions or {}
    entries = []
    for kind, day in campaign.deadlines():
        effective = extensions.get(kind, day)
        entries.append(
            CalendarEntry(kind, DEADLINE_LABELS[kind], effective, clock.days_left(effective, now), kind in extensions)
        )
    return entries


def update_campaign(campaign: Campaign, *, actor, now: datetime, ip: str = "", **fields) -> None:
    """:raises RuleError: with ``field`` naming the date at fault: wrong_year, bad_week,
    plan_after_week, works_after_week, summary_before_end."""
    candidate = {
        k: fields.get(k, getattr(campaign, k))
        for k in (
            "year",
            "theme",
            "plan_deadline",
            "works_deadline",
            "summary_deadline",
            "week_start",
            "week_end",
            "sectors",
        )
    }
    for name in ("plan_deadline", "works_deadline", "summary_deadline", "week_start", "week_end"):
        if candidate[name].year != candidate["year"]:
            raise RuleError("wrong_year", _l("Every date must fall in the campaign's year."), field=name)
    if candidate["week_start"] > candidate["week_end"]:
        raise RuleError("bad_week", _l("The experience week must end on or after its first day."), field="week_end")
    if candidate["plan_deadline"] > candidate["week_start"]:
        raise RuleError(
            "plan_after_week", _l("Plans are due before the experience week starts."), field="plan_deadline"
        )
    if candidate["works_deadline"] > candidate["week_end"]:
        raise RuleError(
            "works_after_week", _l("Works are due before the experience week ends."), field="works_deadline"
        )
    if candidate["summary_deadline"] < candidate["week_end"]:
        raise RuleError(
            "summary_before_end", _l("Summaries are due after the experience week."), field="summary_deadline"
        )
    changed = {k: str(v) for k, v in candidate.items() if getattr(campaign, k) != v}
    for k, v in candidate.items():
        setattr(campaign, k, v)
    if changed:
        audit.record("campaign.update", now=now, actor=actor, target=campaign, ip=ip, changed=changed)
