"""Invitation cards for a list of any length: a job beyond what a request renders, cards
that read back as the guests' own links."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import zxingcpp
from huey.storage import SqliteStorage
from PIL import Image
from pypdf import PdfReader

from experience.accounts.models import Role
from experience.core import jobs
from experience.core.jobs import Job, JobState
from experience.core.tokens import new_code
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests import printouts
from experience.guests.models import Guest
from tests.conftest import NOW

ROOT = Path(__file__).resolve().parent.parent.parent


def _page_codes(pdf: bytes, page: int, tmp_path) -> set[str]:
    """The invitation codes the QR codes of one page hold, read from its picture."""
    src = tmp_path / "cards.pdf"
    src.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "110", "-png", "-f", str(page), "-l", str(page), str(src), str(tmp_path / "p")], check=True
    )
    (png,) = tmp_path.glob("p*.png")
    codes = {b.text.rsplit("/", 1)[-1] for b in zxingcpp.read_barcodes(Image.open(png))}
    png.unlink()
    return codes


def _seed(event, n: int) -> list[str]:
    codes = [new_code() for _ in range(n)]
    db.session.execute(
        sa.insert(Guest),
        [
            dict(event_id=event.id, name=f"嘉宾{i:04d}", category=GuestCategory.CONSUMER, code=c, created_at=NOW)
            for i, c in enumerate(codes)
        ],
    )
    db.session.commit()
    return codes


def test_a_list_beyond_the_request_limit_becomes_a_job_with_a_download(
    app, client, auth, make_user, make_event, monkeypatch, tmp_path
):
    monkeypatch.setattr(printouts, "SYNC_LIMIT", 10)
    monkeypatch.setattr(printouts, "SHEETS_PER_PART", 1)  # several parts, joined
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    codes = _seed(event, 13)
    auth.login("bjstaff")
    r = client.get(f"/events/{event.id}/invitations.pdf")
    assert r.status_code == 302 and "/jobs/" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "邀请卡" in page and "下载" in page
    job = db.session.scalar(sa.select(Job))
    assert (job.state, job.done, job.total) == (JobState.DONE, 13, 13)
    with client.get(f"/jobs/{job.id}/result") as pdf:
        data = pdf.data
    assert len(PdfReader(io.BytesIO(data)).pages) == 3  # six cards a sheet
    assert _page_codes(data, 3, tmp_path) == set(codes[12:13])
    assert _page_codes(data, 1, tmp_path) == set(codes[:6])


def test_a_short_list_is_printed_in_the_request(app, client, auth, make_user, make_event, tmp_path):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    codes = _seed(event, 7)
    auth.login("bjstaff")
    with client.get(f"/events/{event.id}/invitations.pdf") as r:
        assert r.status_code == 200 and r.mimetype == "application/pdf"
        data = r.data
    assert len(PdfReader(io.BytesIO(data)).pages) == 2
    assert _page_codes(data, 2, tmp_path) == {codes[6]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


@pytest.mark.skipif(os.environ.get("TEST_DB", "sqlite") != "sqlite", reason="one run through a real worker is enough")
def test_5000_invitations_through_a_real_worker_while_check_in_answers(
    app, client, make_user, make_event, database_url, tmp_path
):
    """The worker process the deployment runs (huey_consumer, one worker) makes the 834
    sheets; meanwhile a guest checks in through the app as on event day."""
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    codes = _seed(event, 5000)
    app.config["FROZEN_NOW"] = event.starts_at
    job = jobs.start("invitations", owner=staff, now=NOW, event_id=event.id)
    db.session.commit()
    queue_file = tmp_path / "jobs.db"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JOBS_DB": str(queue_file),
        "UPLOAD_DIR": app.config["UPLOAD_DIR"],
        "SECRET_KEY": "worker-test",
        "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
    }
    # the worker's queue file, fed as the app does outside tests (here huey runs immediate)
    task = jobs.run_job.s(job.id)
    SqliteStorage("experience", filename=str(queue_file)).enqueue(jobs.huey.serialize_task(task), task.priority)
    with open(tmp_path / "worker.log", "w") as log:
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "huey_consumer"), "experience.worker.huey", "-w", "1", "-k", "process"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 900
        checked_in = False
        while time.monotonic() < deadline:
            db.session.rollback()
            state, done = db.session.execute(sa.select(Job.state, Job.done).where(Job.id == job.id)).one()
            if state is JobState.RUNNING and done and not checked_in:
                started = time.monotonic()
                r = client.post(f"/c/{codes[4321]}", data={"consent": "y"})
                assert r.status_code == 200 and "签到成功" in r.get_data(as_text=True)
                assert time.monotonic() - started < 30  # answered while the worker renders
                checked_in = True
            if state in (JobState.DONE, JobState.FAILED):
                break
            time.sleep(1)
    finally:
        worker.terminate()
        worker.wait(30)
    db.session.rollback()
    job = db.session.get(Job, job.id)
    assert job.state is JobState.DONE, (job.error, (tmp_path / "worker.log").read_text()[-2000:])
    assert checked_in and job.done == 5000
    data = Path(app.config["UPLOAD_DIR"], job.result_key).read_bytes()
    assert len(PdfReader(io.BytesIO(data)).pages) == 834
    assert _page_codes(data, 400, tmp_path) == set(codes[2394:2400])
