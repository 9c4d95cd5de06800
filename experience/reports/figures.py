"""The figures of a summary, computed from the data as plain values (JSON-ready), so
that a submitted summary can keep them after the personal data is gone.

An event counts as held once it has ended (``Event.held_clause(now)``): "共举办活动 N 场"
counts those, and the events planned but not held yet are counted apart, never mixed in.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import sqlalchemy as sa

from experience.accounts.models import Province
from experience.campaigns.models import Campaign
from experience.core import clock
from experience.core.submissions import Deadline
from experience.events.models import Event, EventStatus, GuestCategory
from experience.extensions import db
from experience.guests import services as guests
from experience.guests.models import Guest
from experience.plans.models import DeadlineKind
from experience.plans.services import latest_extensions
from experience.ratings import services as ratings
from experience.ratings.models import Rating, Score
from experience.reports.models import ProvinceSummary

BIN = timedelta(minutes=15)


def arrivals_by_quarter_hour(event: Event) -> list[tuple[str, int]]:
    """Check-ins per 15 minutes (Beijing time), from the first bin to the last, gaps shown."""
    times = db.session.scalars(
        sa.select(Guest.checked_in_at).where(Guest.event_id == event.id, Guest.checked_in_at.is_not(None))
    ).all()
    if not times:
        return []
    bins = Counter(_quarter(clock.to_beijing(t).replace(tzinfo=None)) for t in times)
    start, end = min(bins), max(bins)
    out, at = [], start
    while at <= end:
        out.append((at.strftime("%H:%M"), bins.get(at, 0)))
        at += BIN
    return out


def _quarter(local: datetime) -> datetime:
    return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)


def event_figures(event: Event, *, now: datetime) -> dict:
    counts = guests.counts(event)
    stats = ratings.stats(event)
    return {
        "event_id": event.id,
        "title": event.title,
        "held": event.is_held(now),
        "categories": [
            {"category": c.category.value, "invited": c.invited, "arrived": c.arrived, "walk_ins": c.walk_ins}
            for c in counts
        ],
        "invited": sum(c.invited for c in counts),
        "arrived": sum(c.arrived for c in counts),
        "walk_ins": sum(c.walk_ins for c in counts),
        "arrivals": arrivals_by_quarter_hour(event),
        "ratings": stats.ratings,
        "checked_in": stats.checked_in,
        "response_rate": stats.response_rate,
        "dimensions": [
            {"name": ds.dimension.name, "average": ds.average, "count": ds.count, "distribution": ds.distribution}
            for ds in stats.dimensions
        ],
    }


def _events(campaign: Campaign, province_code: str | None = None):
    stmt = sa.select(Event).where(Event.campaign_id == campaign.id, Event.status == EventStatus.PLANNED)
    if province_code:
        stmt = stmt.where(Event.province_code == province_code)
    return list(db.session.scalars(stmt.order_by(Event.starts_at, Event.id)))


def province_figures(campaign: Campaign, province_code: str, *, now: datetime) -> dict:
    """The province's events one by one (held or only planned so far), and the same
    figures added up across them."""
    events = [event_figures(e, now=now) for e in _events(campaign, province_code)]
    totals = {
        "held": sum(1 for e in events if e["held"]),
        "planned": len(events),
        "invited": sum(e["invited"] for e in events),
        "arrived": sum(e["arrived"] for e in events),
        "walk_ins": sum(e["walk_ins"] for e in events),
        "ratings": sum(e["ratings"] for e in events),
        "checked_in": sum(e["checked_in"] for e in events),
    }
    totals["response_rate"] = totals["ratings"] / totals["checked_in"] if totals["checked_in"] else None
    by_category = {c.value: {"invited": 0, "arrived": 0, "walk_ins": 0} for c in GuestCategory}
    for e in events:
        for c in e["categories"]:
            for k in ("invited", "arrived", "walk_ins"):
                by_category[c["category"]][k] += c[k]
    return {
        "events": events,
        "totals": totals,
        "categories": by_category,
        "dimensions": _dimension_averages(campaign, province_code),
    }


def _dimension_averages(campaign: Campaign, province_code: str | None = None) -> list[dict]:
    """Average stars per question over every rating of the scope (not an average of averages)."""
    stmt = (
        sa.select(Score.dimension_id, sa.func.avg(Score.stars), sa.func.count())
        .join(Rating, Rating.id == Score.rating_id)
        .join(Event, Event.id == Rating.event_id)
        .where(Event.campaign_id == campaign.id, Event.status == EventStatus.PLANNED)
        .group_by(Score.dimension_id)
    )
    if province_code:
        stmt = stmt.where(Event.province_code == province_code)
    found = {dim_id: (float(avg), n) for dim_id, avg, n in db.session.execute(stmt)}
    return [
        {"name": d.name, "average": found.get(d.id, (None, 0))[0], "count": found.get(d.id, (None, 0))[1]}
        for d in ratings.dimensions(campaign.id, include_retired=True)
        if d.retired_at is None or d.id in found
    ]


def national_rows(campaign: Campaign, *, now: datetime) -> list[dict]:
    """One row per provincial unit, in a handful of grouped queries whatever the size:
    events held by ``now``, and those planned (not cancelled, held or not)."""
    provinces = db.session.scalars(sa.select(Province).order_by(Province.code)).all()
    summaries = {
        s.province_code: s
        for s in db.session.scalars(sa.select(ProvinceSummary).where(ProvinceSummary.campaign_id == campaign.id))
    }
    planned = (Event.campaign_id == campaign.id, Event.status == EventStatus.PLANNED)
    events: dict[str, tuple[int, int]] = {
        code: (held or 0, n)
        for code, held, n in db.session.execute(
            sa.select(
                Event.province_code,
                sa.func.sum(sa.case((Event.held_clause(now), 1), else_=0)),
                sa.func.count(),
            )
            .where(*planned)
            .group_by(Event.province_code)
        )
    }
    launch = dict(
        db.session.execute(
            sa.select(Event.province_code, sa.func.count())
            .where(*planned, Event.launch_selected.is_(True))
            .group_by(Event.province_code)
        ).all()
    )
    arrived: dict[str, dict[str, int]] = {}
    for code, category, n in db.session.execute(
        sa.select(Event.province_code, Guest.category, sa.func.count())
        .join(Event, Event.id == Guest.event_id)
        .where(*planned, Guest.checked_in_at.is_not(None))
        .group_by(Event.province_code, Guest.category)
    ):
        arrived.setdefault(code, {})[category.value] = n
    dims = ratings.dimensions(campaign.id)
    averages: dict[str, dict[int, float]] = {}
    for code, dim_id, avg in db.session.execute(
        sa.select(Event.province_code, Score.dimension_id, sa.func.avg(Score.stars))
        .join(Rating, Rating.id == Score.rating_id)
        .join(Event, Event.id == Rating.event_id)
        .where(*planned)
        .group_by(Event.province_code, Score.dimension_id)
    ):
        averages.setdefault(code, {})[dim_id] = float(avg)
    extensions = latest_extensions(campaign, DeadlineKind.SUMMARY)
    rows = []
    for p in provinces:
        s = summaries.get(p.code)
        unsent = s is None or s.first_submitted_at is None
        rows.append(
            {
                "code": p.code,
                "name": p.name,
                "state": s.state.value if s else "not_submitted",
                "submitted_at": s.first_submitted_at if s else None,
                "late": bool(s and s.late),
                "overdue": unsent and Deadline(campaign.summary_deadline, extensions.get(p.code)).passed(now),
                "held": events.get(p.code, (0, 0))[0],
                "planned": events.get(p.code, (0, 0))[1],
                "launch": launch.get(p.code, 0),
                "arrived": {c.value: arrived.get(p.code, {}).get(c.value, 0) for c in GuestCategory},
                "arrived_total": sum(arrived.get(p.code, {}).values()),
                "averages": [averages.get(p.code, {}).get(d.id) for d in dims],
            }
        )
    return rows


def national_figures(campaign: Campaign, *, now: datetime) -> dict:
    rows = national_rows(campaign, now=now)
    return {
        "rows": rows,
        "dimensions": _dimension_averages(campaign),
        "totals": {
            "held": sum(r["held"] for r in rows),
            "planned": sum(r["planned"] for r in rows),
            "launch": sum(r["launch"] for r in rows),
            "arrived": sum(r["arrived_total"] for r in rows),
            "submitted": sum(1 for r in rows if r["state"] != "not_submitted"),
            "late": sum(1 for r in rows if r["late"]),
            "overdue": sum(1 for r in rows if r["overdue"]),
        },
        "categories": {c.value: sum(r["arrived"][c.value] for r in rows) for c in GuestCategory},
    }
