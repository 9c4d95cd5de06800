"""Invitation cards for a list of any length: a job beyond what a request renders, cards
that read back as the guests' own links."""

from __future__ import annotations

import io
import os
import re
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
from experience.guests.models import Guest, Salutation
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
        # the deployment's nice 10 yields to check-ins; beside make test's other passes it
        # left the worker a few percent of the machine and this test 20 minutes
        "WORKER_NICE": "0",
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
        # 132 s on an idle machine; make test runs it beside four other test processes
        deadline = time.monotonic() + 1500
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


# -- What a card says, read back from the PDF ----------------------------------------------------


def _cards(pdf: bytes) -> list[list[tuple[str, float]]]:
    """Each card's text runs, with their size in points, in the order they are drawn."""
    cards: list[list[tuple[str, float]]] = []

    def run(text, cm, tm, font, size):
        if not text.strip():
            return
        points = size * abs(cm[0] * tm[0])  # the text matrix times the page's (WeasyPrint: px to pt)
        if text.replace(" ", "").startswith("邀请函"):  # each card begins with its heading
            cards.append([])
        cards[-1].append((text.replace("\n", ""), points))

    for page in PdfReader(io.BytesIO(pdf)).pages:
        page.extract_text(visitor_text=run)
    return cards


def _card_text(card) -> str:
    return "".join(text for text, _ in card)


@pytest.fixture
def printed(client, auth, make_user, make_event, make_guest):
    """The invitation cards of a Beijing event as its staff print them, by guest name."""
    staff = make_user(Role.PROVINCE, "11", username="bjstaff", organisation="北京市市场监督管理局")
    event = make_event(
        actor=staff,
        city="北京市朝阳区",
        address="朝阳区望京街道望京街1号",
        contact_name="王老师",
        contact_phone="13812341234",
    )
    make_guest(event, name="张三", category=GuestCategory.NPC_DEPUTY, level="national", salutation=Salutation.MR)
    make_guest(event, name="李四", category=GuestCategory.CPPCC_MEMBER, level="city")
    make_guest(event, name="王芳", category=GuestCategory.CONSUMER, salutation=Salutation.MS)
    make_guest(event, name="赵六", category=GuestCategory.MEDIA, salutation=Salutation.MR)
    make_guest(event, name="欧阳明", category=GuestCategory.ENTERPRISE)  # no salutation chosen
    auth.login("bjstaff")
    with client.get(f"/events/{event.id}/invitations.pdf") as r:
        assert r.status_code == 200
        cards = _cards(r.data)
    by_name = {}
    for card in cards:
        text = _card_text(card)
        name = next(n for n in ("张三", "李四", "王芳", "赵六", "欧阳明") if n in text)
        by_name[name] = card
    assert len(by_name) == len(cards) == 5
    return by_name


def test_a_card_addresses_deputies_and_members_by_their_seat_and_others_as_the_organiser_chose(printed):
    greetings = {name: re.search(r"尊敬的(.+?)：", _card_text(card)).group(1) for name, card in printed.items()}
    assert greetings == {
        "张三": "张三代表",  # a deputy is 代表, whatever salutation was chosen besides
        "李四": "李四委员",
        "王芳": "王芳女士",
        "赵六": "赵六先生",
        "欧阳明": "欧阳明",  # nothing chosen: nothing guessed from the name
    }


def test_a_card_names_the_host_the_contact_and_the_place_once(printed):
    text = _card_text(printed["王芳"])
    assert "主办单位：北京市市场监督管理局" in text
    assert "联系人：王老师 13812341234" in text
    assert "地点：康乐中心，北京市朝阳区望京街道望京街1号" in text
    assert "朝阳区朝阳区" not in text
    assert "时间：2024-09-10 09:00 – 12:00" in text


def test_a_cards_instruction_is_in_readable_type(printed):
    for card in printed.values():
        sizes = {text: points for text, points in card}
        (instruction,) = [t for t in sizes if "扫描二维码签到" in t]
        assert sizes[instruction] >= 10, sizes
        assert min(sizes.values()) >= 9, sizes  # nothing on the card in small print
