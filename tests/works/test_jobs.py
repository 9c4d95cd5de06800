"""The worker's side of a work: checks, previews and playable copies, run as core.jobs
jobs (in huey's immediate mode here), and what happens when the world moves meanwhile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from huey import signals

from experience.core import jobs, storage, uploads
from experience.extensions import db
from experience.works import jobs as work_jobs
from experience.works import media, services
from experience.works.models import CheckState, FileCheck, FileKind, Work, WorkCategory, WorkFile
from tests.conftest import NOW
from tests.works.conftest import CAPTION, stored
from tests.works.test_services import add_photo, keys, run_checks


def test_a_hevc_video_gets_a_playable_h264_copy_and_the_original_stays(make_work, hevc_video):
    work = make_work(category=WorkCategory.VIDEO)
    original = services.attach_video(work, stored(hevc_video, "iphone.mp4", "mp4"), actor=work.unit.account, now=NOW)
    run_checks(work)
    work = db.session.get(Work, work.id)
    original = db.session.get(WorkFile, original.id)
    copy = work.derived(original, FileKind.PLAYABLE)
    assert original.check_state is FileCheck.PASSED
    assert copy.check_state is FileCheck.PASSED
    assert storage.current().read(original.storage_key) == hevc_video  # the work, untouched
    with uploads.local_copy(copy.storage_key) as path:
        info = media.probe_video(path)
    assert (info.video_codec, info.playable) == ("h264", True)
    assert info.duration_s == pytest.approx(original.duration_s, abs=0.05)
    assert work.check_state is CheckState.READY


def test_copies_are_queued_below_checks(make_work, hevc_video, photo_bytes):
    seen = []

    @jobs.huey.signal(signals.SIGNAL_ENQUEUED)
    def _enqueued(signal, task, *args):
        job = db.session.get(jobs.Job, task.args[0])
        seen.append((job.kind, task.priority))

    try:
        video = make_work(category=WorkCategory.VIDEO)
        services.attach_video(video, stored(hevc_video, "iphone.mp4", "mp4"), actor=video.unit.account, now=NOW)
        run_checks(video)
    finally:
        jobs.huey.disconnect_signal(_enqueued)
    priorities = dict(seen)
    assert set(priorities) == {services.CHECK_JOB, services.COPY_JOB}
    assert priorities[services.CHECK_JOB] > priorities[services.COPY_JOB]
    assert priorities[services.COPY_JOB] == jobs.HEAVY  # no lower: clean-ups still pass both


def test_a_photo_removed_before_the_worker_reaches_it_is_left_alone(make_work, photo_bytes):
    work = make_work()
    photo = add_photo(work, photo_bytes)
    job = services.start_checks(work, actor=work.unit.account, now=NOW)
    db.session.commit()
    services.remove_file(work, photo, actor=work.unit.account, now=NOW)
    db.session.commit()
    work_jobs.enqueue(job)
    db.session.expire_all()
    assert db.session.get(jobs.Job, job.id).state is jobs.JobState.DONE
    assert keys() == set()
    assert db.session.get(Work, work.id).files == []
    assert db.session.get(Work, work.id).check_state is CheckState.DRAFT


def test_a_fault_is_retried_then_reported_so_that_no_work_waits_for_ever(make_work, photo_bytes, monkeypatch):
    calls = []

    def broken(path):
        calls.append(path)
        raise MemoryError("decoder")

    monkeypatch.setattr(media, "check_jpeg", broken)
    work = make_work()
    photo = add_photo(work, photo_bytes)
    run_checks(work)
    photo = db.session.get(WorkFile, photo.id)
    assert len(calls) == jobs.RETRIES + 1
    assert (photo.check_state, photo.check_code) == (FileCheck.FAILED, "check_error")
    assert photo.storage_key is None
    assert db.session.get(Work, work.id).check_state is CheckState.FAILED
    assert services.file_message(photo) == str(services.MESSAGES["check_error"])


def test_a_second_run_of_the_same_job_redoes_nothing(make_work, photo_bytes):
    work = make_work()
    add_photo(work, photo_bytes, caption=CAPTION)
    job = services.start_checks(work, actor=work.unit.account, now=NOW)
    db.session.commit()
    work_jobs.enqueue(job)
    db.session.expire_all()
    count = len(db.session.get(Work, work.id).files)
    again = jobs.start(services.CHECK_JOB, owner=work.unit.account, now=NOW, work_id=work.id)
    db.session.commit()
    work_jobs.enqueue(again)
    db.session.expire_all()
    assert len(db.session.get(Work, work.id).files) == count == 3


def test_the_web_app_does_not_load_pyav():
    """PyAV carries FFmpeg (about 18 MB per process): the web workers import the works'
    pages and rules, the decoding happens in the worker only."""
    code = (
        "import sys; from experience import create_app; from experience.config import TestConfig; "
        "create_app(type('C', (TestConfig,), {'SQLALCHEMY_DATABASE_URI': 'sqlite://'})); "
        "print('av' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
