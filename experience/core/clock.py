"""Time: stored as naive UTC, shown and reasoned about in Beijing time.

Services take ``now`` as an argument; views get it from :func:`now`, which tests can
freeze with the ``FROZEN_NOW`` setting (a naive UTC datetime).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta  # noqa: F401 (re-exported)
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

BEIJING = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def now() -> datetime:
    if has_app_context():
        frozen = current_app.config.get("FROZEN_NOW")
        if frozen is not None:
            return frozen
    return utcnow()


def to_beijing(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC).astimezone(BEIJING)


def from_beijing(local: datetime) -> datetime:
    """A naive Beijing wall-clock time to naive UTC."""
    return local.replace(tzinfo=BEIJING).astimezone(UTC).replace(tzinfo=None)


def end_of_day(day: date) -> datetime:
    """The last instant of ``day`` in Beijing (23:59:59.999999), as naive UTC.

    "By Aug 23" in the notice means until the end of that day in Beijing.
    """
    return from_beijing(datetime.combine(day, time.max))


def beijing_today(at: datetime) -> date:
    return to_beijing(at).date()


def days_left(deadline: date, at: datetime) -> int:
    """Whole days from the Beijing date of ``at`` to ``deadline`` (0 on the day itself)."""
    return (deadline - beijing_today(at)).days


def aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


ONE_DAY = timedelta(days=1)
