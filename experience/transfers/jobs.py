"""The worker's clean-up of abandoned uploads (tus "expiration")."""

from __future__ import annotations

from huey import crontab

from experience.core import clock, jobs
from experience.extensions import db
from experience.transfers import services


# core.jobs runs its own periodic tasks in the worker's app with _in_app; this one needs
# the same, and core offers nothing public for it yet
@jobs.huey.periodic_task(crontab(minute="*/30"), priority=jobs.LIGHT)
@jobs._in_app
def expire_uploads() -> None:
    """Every half hour: uploads untouched for a day go, rows and bytes (before the orphan
    sweep, which spares them while their rows exist: services._uploads)."""
    services.expire(clock.now())
    db.session.commit()
