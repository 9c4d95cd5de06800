"""What the background worker does with a work's files (``core.jobs``).

- ``work_checks``: each original waiting for its check is decoded: a photo by
  ``media.check_jpeg``, then its screen preview and thumbnail are made; a video by
  ``media.probe_video``, then its poster frame is taken. A refused file's bytes are
  deleted at once; its row stays with the reason, so that the unit reads what to do.
  A video that browsers will not play as it is gets a playable copy, as a job of its own.
- ``work_playable_copy``: ``media.make_playable_copy``, at the lowest priority: the
  consumer runs one job at a time (``-w 1``), and a queued check passes a queued copy,
  so that a unit waiting for its photos is not held up by another unit's 3-minute video.

A check runs outside any transaction (the file is read from a local copy, which takes a
while); its result is written in one short transaction with a conditional update, so a
file removed or replaced meanwhile is left alone and what was made for it is deleted.
Running a job again redoes only what is still pending (``core.jobs``: idempotent); a
fault that is not a refusal is retried, and after the last attempt the file is marked
as not checkable, so that no work waits for ever.

PyAV and Pillow's decoders are only ever called from here (the worker); media.py keeps
them behind its functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa

from experience.accounts.models import User
from experience.core import clock, jobs, uploads
from experience.core.errors import RuleError
from experience.extensions import db
from experience.works import media, services
from experience.works.models import FileCheck, FileKind, Work, WorkCategory, WorkFile

#: huey priorities (higher runs first): checks before copies, clean-ups before both
CHECK_PRIORITY = jobs.HEAVY + 5
COPY_PRIORITY = jobs.HEAVY
PRIORITIES = {services.CHECK_JOB: CHECK_PRIORITY, services.COPY_JOB: COPY_PRIORITY}


def enqueue(job: jobs.Job) -> None:
    """Hand a works job to the worker at its priority; call it after the commit."""
    retry_delay = 0 if jobs.huey.immediate else jobs.RETRY_DELAY
    jobs.huey.enqueue(jobs.run_job.s(job.id, retry_delay=retry_delay, priority=PRIORITIES[job.kind]))


@jobs.handler(services.CHECK_JOB)
def check_work(job: jobs.Job, progress) -> tuple[bytes, str]:
    """Check every original of the work still waiting; then set the work's state, and
    start the playable copies its video needs."""
    work_id, owner_id = job.params["work_id"], job.owner_id
    last_attempt = job.attempts > jobs.RETRIES
    waiting = db.session.scalars(
        sa.select(WorkFile.id)
        .where(
            WorkFile.work_id == work_id,
            WorkFile.kind == FileKind.ORIGINAL,
            WorkFile.check_state == FileCheck.PENDING,
        )
        .order_by(WorkFile.position, WorkFile.id)
    ).all()
    db.session.commit()  # no transaction stays open while files are decoded
    results: dict[int, str] = {}
    copies: list[int] = []
    for n, file_id in enumerate(waiting, 1):
        results[file_id], copy_id = _check_file(file_id, last_attempt=last_attempt)
        if copy_id is not None:
            copies.append(copy_id)
        progress(n, len(waiting))
    work = db.session.get(Work, work_id)
    started = []
    if work is not None:  # deleted meanwhile: nothing more to do
        services.refresh_check_state(work)
        owner = db.session.get(User, owner_id)
        started = [jobs.start(services.COPY_JOB, owner=owner, now=clock.now(), file_id=c) for c in copies]
    db.session.commit()
    for copy_job in started:
        enqueue(copy_job)
    return json.dumps({"work": work_id, "files": results}).encode(), f"checks-{work_id}.json"


def _check_file(file_id: int, *, last_attempt: bool) -> tuple[str, int | None]:
    """Check one original; returns what became of it, and the id of the playable copy to
    make (a row waiting for it), if any."""
    original = db.session.get(WorkFile, file_id)
    if original is None or original.check_state is not FileCheck.PENDING or not original.storage_key:
        return "gone", None
    key, category, work_id = original.storage_key, original.work.category, original.work_id
    db.session.commit()
    try:
        with uploads.local_copy(key) as path:
            found, made, needs_copy = _decode(path, category)
    except FileNotFoundError:
        return "gone", None  # removed while it waited
    except RuleError as e:
        return _refuse(file_id, key, e.code, e.params), None
    except Exception:
        if not last_attempt:
            raise  # core.jobs retries the job
        return _refuse(file_id, key, "check_error", {}), None
    stored = {kind: uploads.store_bytes(data, "work", "jpg") for kind, data in made.items()}
    now = clock.now()
    done = db.session.execute(
        sa.update(WorkFile)
        .where(WorkFile.id == file_id, WorkFile.storage_key == key, WorkFile.check_state == FileCheck.PENDING)
        .values(check_state=FileCheck.PASSED, check_code="", check_params={}, checked_at=now, **found)
    ).rowcount
    if not done:  # removed or replaced while it was checked
        db.session.rollback()
        for derived in stored.values():
            uploads.delete_upload(derived)
        return "gone", None
    for kind, derived_key in stored.items():
        data = made[kind]
        db.session.add(_derived(work_id, file_id, kind=kind, key=derived_key, data=data, now=now))
    copy = None
    if needs_copy:
        copy = WorkFile(
            work_id=work_id,
            kind=FileKind.PLAYABLE,
            source_id=file_id,
            content_type="video/mp4",
            check_state=FileCheck.PENDING,
            created_at=now,
        )
        db.session.add(copy)
    db.session.commit()
    return "passed", copy.id if copy is not None else None


def _decode(path: Path, category: WorkCategory) -> tuple[dict, dict[FileKind, bytes], bool]:
    """Check a photo or a video by its content and make what is shown of it: (what was
    found, the derived files' bytes by kind, whether a playable copy is needed).

    :raises RuleError: media's refusals.
    """
    if category is WorkCategory.PHOTO:
        info = media.check_jpeg(path)
        screen, thumb = media.photo_previews(path)
        found = dict(content_type="image/jpeg", width=info.width, height=info.height)
        return found, {FileKind.PREVIEW_SCREEN: screen, FileKind.THUMBNAIL: thumb}, False
    video = media.probe_video(path)
    poster = media.poster_frame(path)
    found = dict(content_type="video/mp4", width=video.width, height=video.height, duration_s=video.duration_s)
    return found, {FileKind.POSTER: poster}, media.needs_playable_copy(video)


def _derived(work_id: int, original_id: int, *, kind: FileKind, key: str, data: bytes, now) -> WorkFile:
    return WorkFile(
        work_id=work_id,
        kind=kind,
        source_id=original_id,
        storage_key=key,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="image/jpeg",
        check_state=FileCheck.PASSED,
        checked_at=now,
        created_at=now,
    )


def _refuse(file_id: int, key: str, code: str, params: dict) -> str:
    """Record why the file was refused and delete its bytes: a refused file leaves nothing
    stored."""
    db.session.execute(
        sa.update(WorkFile)
        .where(WorkFile.id == file_id, WorkFile.storage_key == key)
        .values(
            check_state=FileCheck.FAILED,
            check_code=code,
            check_params=_plain(params),
            checked_at=clock.now(),
            storage_key=None,
        )
    )
    db.session.commit()
    uploads.delete_upload(key)
    return f"failed:{code}"


def _plain(params: dict) -> dict:
    """A refusal's parameters as JSON can keep them (a label becomes its text)."""
    return {k: v if isinstance(v, (int, float, str)) else str(v) for k, v in params.items()}


@jobs.handler(services.COPY_JOB)
def make_copy(job: jobs.Job, progress) -> tuple[bytes, str]:
    """Make the playable copy of a video: H.264/AAC, index first (media.make_playable_copy)."""
    copy_id = job.params["file_id"]
    copy = db.session.get(WorkFile, copy_id)
    if copy is None or copy.check_state is not FileCheck.PENDING or copy.source is None:
        return b"{}", "copy.json"
    source_id, source_key = copy.source_id, copy.source.storage_key
    db.session.commit()
    if not source_key:
        return b"{}", "copy.json"
    with tempfile.TemporaryDirectory(prefix="playable-") as folder:
        target = Path(folder) / "copy.mp4"
        try:
            with uploads.local_copy(source_key) as path:
                media.make_playable_copy(path, target, lambda done, total: progress(int(done), int(total) or 1))
        except FileNotFoundError:
            return b"{}", "copy.json"
        except RuleError as e:
            _copy_failed(copy_id, source_id, source_key, e.code, e.params)
            return json.dumps({"copy": copy_id, "failed": e.code}).encode(), "copy.json"
        except Exception:
            if job.attempts <= jobs.RETRIES:
                raise
            _copy_failed(copy_id, source_id, source_key, "video_copy_failed", {})
            return json.dumps({"copy": copy_id, "failed": "video_copy_failed"}).encode(), "copy.json"
        size = os.path.getsize(target)
        with open(target, "rb") as f:
            key, written = uploads.store_stream(iter(lambda: f.read(1024 * 1024), b""), "work", "mp4")
    done = db.session.execute(
        sa.update(WorkFile)
        .where(WorkFile.id == copy_id, WorkFile.check_state == FileCheck.PENDING)
        .values(
            storage_key=key,
            size=written.size,
            sha256=written.sha256,
            check_state=FileCheck.PASSED,
            checked_at=clock.now(),
        )
    ).rowcount
    db.session.commit()
    if not done:  # the video was removed meanwhile
        uploads.delete_upload(key)
    return json.dumps({"copy": copy_id, "size": size}).encode(), "copy.json"


def _copy_failed(copy_id: int, source_id: int, source_key: str, code: str, params: dict) -> None:
    """A video no copy can be made of will not play on the platform or the screens: it is
    refused like any other, with what to do."""
    db.session.execute(
        sa.update(WorkFile)
        .where(WorkFile.id == copy_id)
        .values(check_state=FileCheck.FAILED, check_code=code, checked_at=clock.now())
    )
    _refuse(source_id, source_key, code, params)
    for derived in db.session.scalars(
        sa.select(WorkFile).where(WorkFile.source_id == source_id, WorkFile.kind == FileKind.POSTER)
    ):
        uploads.delete_upload(derived.storage_key)
        db.session.delete(derived)
    work = db.session.scalar(
        sa.select(Work).join(WorkFile, WorkFile.work_id == Work.id).where(WorkFile.id == source_id)
    )
    if work is not None:
        services.refresh_check_state(work)
    db.session.commit()
