"""Background work: the huey queue, and the ``Job`` rows that pages wait on.

A request never does big work itself. It records a ``Job`` (what, for whom, its progress)
and puts its id on the queue; the worker (``huey_consumer experience.worker.huey``,
started by ``make run`` beside gunicorn) runs it, and the waiting page shows its progress,
then the download, or why it failed.

The queue lives in a SQLite file under ``instance/`` (no other server), or in Redis when
``REDIS_URL`` is set, so that several machines share one queue. Tests run it in huey's
immediate mode: a job runs inside the request that makes it.

Rules for every job (``run_job``):
- **time**: at most ``TIME_LIMIT`` seconds (huey stops it; the job is marked failed);
- **idempotent**: running a job again redoes it from the start and replaces its result, so
  a retry after a crash is harmless; a job already done is not run again;
- **retried** ``RETRIES`` times after an error, then marked failed with the reason;
- **low priority, one at a time**: heavy work has priority 0 (clean-ups 10), and the
  consumer runs one worker, so that check-in keeps the other core during event week;
- **results** are stored files kept ``RESULT_TTL`` and then swept (``core.uploads``).

Capabilities register what a kind of job does with ``@handler("kind")``: a function
``fn(job, progress) -> (data, filename)`` that calls ``progress(done, total)`` as it goes.
"""

from __future__ import annotations

import enum
import os
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, has_app_context, render_template, url_for
from flask_login import current_user
from huey import RedisHuey, SqliteHuey, crontab
from sqlalchemy.orm import Mapped, mapped_column

from experience.core import audit, clock, files, uploads
from experience.core.models import enum_column
from experience.core.permissions import deny
from experience.extensions import db

TIME_LIMIT = 15 * 60
RETRIES = 2
RETRY_DELAY = 20
RESULT_TTL = timedelta(hours=24)
HEAVY, LIGHT = 0, 10

#: kind → fn(job, progress) -> (bytes, filename)
_HANDLERS: dict[str, Callable[..., tuple[bytes, str]]] = {}
#: the app the worker runs jobs in (bound by experience.worker); requests use their own
_app: Flask | None = None


def _make_queue():
    if os.environ.get("REDIS_URL"):
        return RedisHuey("experience", url=os.environ["REDIS_URL"])
    instance = os.environ.get("JOBS_DB") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "instance", "jobs.db"
    )
    os.makedirs(os.path.dirname(instance), exist_ok=True)
    return SqliteHuey("experience", filename=instance)


huey = _make_queue()


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(db.Model):
    __tablename__ = "job"

    #: unguessable: the waiting page's address
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=lambda: secrets.token_hex(16))
    kind: Mapped[str] = mapped_column(sa.String(40))
    state: Mapped[JobState] = enum_column("state", JobState, default=JobState.QUEUED)
    #: who asked for it: only they see its page and its result
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    #: what the handler needs, e.g. {"event_id": 3}
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    result_key: Mapped[str | None] = mapped_column(sa.String(80))
    result_name: Mapped[str] = mapped_column(sa.String(200), default="")
    error: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    @property
    def percent(self) -> int:
        if self.state is JobState.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def expires_at(self) -> datetime | None:
        return self.finished_at + RESULT_TTL if self.finished_at else None


def handler(kind: str):
    """Register the decorated function as what jobs of ``kind`` do."""

    def decorator(fn):
        _HANDLERS[kind] = fn
        return fn

    return decorator


def start(kind: str, *, owner, now: datetime, **params) -> Job:
    """Record a job and put it on the queue (after the caller's commit, see ``enqueue``)."""
    if kind not in _HANDLERS:
        raise ValueError(kind)
    job = Job(kind=kind, owner_id=owner.id, params=params, created_at=now)
    db.session.add(job)
    db.session.flush()
    return job


def pending(kind: str, *, owner, **params) -> Job | None:
    """The owner's job of this kind and params still waiting or running, if any."""
    for job in db.session.scalars(
        sa.select(Job).where(
            Job.kind == kind, Job.owner_id == owner.id, Job.state.in_([JobState.QUEUED, JobState.RUNNING])
        )
    ):
        if job.params == params:
            return job
    return None


def start_once(kind: str, *, owner, now: datetime, **params) -> Job:
    """The owner's job of this kind and params if one is still waiting or running (a reload
    starts no second one), else a new one: recorded, committed and queued."""
    job = pending(kind, owner=owner, **params)
    if job is None:
        job = start(kind, owner=owner, now=now, **params)
        db.session.commit()
        enqueue(job)
    return job


def enqueue(job: Job) -> None:
    """Hand the job to the worker; call it after the commit, so the worker finds the row.
    (In immediate mode a retry waits for nothing: there is no consumer to wait for it.)"""
    huey.enqueue(run_job.s(job.id, retry_delay=0 if huey.immediate else RETRY_DELAY))


def bind(app: Flask) -> None:
    """The worker's app: jobs run in its context."""
    global _app
    _app = app


def _in_app(fn):
    def wrapped(*args, **kwargs):
        if has_app_context():  # immediate mode: inside the request or test that started it
            return fn(*args, **kwargs)
        with _app.app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()

    wrapped.__name__ = fn.__name__
    return wrapped


@huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, priority=HEAVY, timeout=TIME_LIMIT, context=True)
@_in_app
def run_job(job_id: str, task=None) -> None:
    job = db.session.get(Job, job_id)
    if job is None or job.state is JobState.DONE:
        return  # gone, or already done: running it again would only redo it
    job.state, job.attempts, job.started_at = JobState.RUNNING, job.attempts + 1, clock.now()
    job.done, job.error = 0, ""
    db.session.commit()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        # at most twice a second: the page polls, the database need not hear every card
        now = time.monotonic()
        if now - last[0] < 0.5 and done < total:
            return
        last[0] = now
        db.session.execute(sa.update(Job).where(Job.id == job_id).values(done=done, total=total))
        db.session.commit()

    try:
        data, name = _HANDLERS[job.kind](job, progress)
    except Exception as e:
        db.session.rollback()
        final = task is None or not task.retries
        db.session.execute(
            sa.update(Job)
            .where(Job.id == job_id)
            .values(
                state=JobState.FAILED if final else JobState.QUEUED,
                error=f"{type(e).__name__}: {e}"[:500],
                finished_at=clock.now() if final else None,
            )
        )
        db.session.commit()
        raise
    old = job.result_key
    key = uploads.store_bytes(data, "job", name.rsplit(".", 1)[-1].lower())
    job = db.session.get(Job, job_id)
    job.result_key, job.result_name = key, name
    job.state, job.finished_at = JobState.DONE, clock.now()
    job.done = job.total = max(job.total, job.done)
    db.session.commit()
    uploads.delete_upload(old)


@uploads.keeps
def _results(now: float):
    """A job's result is kept for RESULT_TTL after it finished, then swept."""
    since = clock.utcnow() - RESULT_TTL
    return db.session.scalars(sa.select(Job.result_key).where(Job.result_key.is_not(None), Job.finished_at > since))


@huey.periodic_task(crontab(minute="*/5"), priority=LIGHT)
@_in_app
def flush_refusals() -> None:
    """Every five minutes: refusals beyond a user's per-minute bound become their count
    entries in the audit log (core.audit), even if that user never comes back."""
    audit.flush_refusal_counts(clock.now())
    db.session.commit()


@huey.periodic_task(crontab(minute="*/30"), priority=LIGHT)
@_in_app
def clean_up() -> None:
    """Every half hour: stored files nothing needs (expired previews and job results,
    leftovers of refused forms) go."""
    uploads.sweep()


# -- The waiting page ---------------------------------------------------------------------


def _own(job_id: str) -> Job:
    job = db.session.get(Job, job_id) if len(job_id) <= 32 else None
    if job is None:
        abort(404)
    if job.owner_id != current_user.id:
        deny("job", job_id)  # someone else's: logged, and a 404 like a missing one
    return job


#: kind → (title, endpoint to go back to, taking the job's params), set by the capabilities
TITLES: dict[str, Callable[[Job], tuple[str, str | None]]] = {}


def page(job_id: str):
    """The job's progress; the page reloads itself every 2 s until it is done or failed."""
    job = _own(job_id)
    title, back = TITLES[job.kind](job) if job.kind in TITLES else (job.kind, None)
    return render_template("core/job.html", job=job, JobState=JobState, job_title=title, back=back)


def result(job_id: str):
    job = _own(job_id)
    if job.state is not JobState.DONE or not job.result_key:
        abort(404)
    # 404 once past RESULT_TTL and swept
    return files.serve(job.result_key, mimetype=uploads.mimetype_of(job.result_name), download_name=job.result_name)


def register(app: Flask) -> None:
    app.add_url_rule("/jobs/<job_id>", "jobs.page", page)
    app.add_url_rule("/jobs/<job_id>/result", "jobs.result", result)


def page_url(job: Job) -> str:
    return url_for("jobs.page", job_id=job.id)
