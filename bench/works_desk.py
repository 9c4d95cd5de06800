"""The secretariat's desk figures (``--only=works-list,works-zip``; group ``works-desk``).

Each part runs the app under gunicorn with the deployed settings (gunicorn.conf.py, as
every bench server), production configuration, SQLite and the local disk store, on a
database of its own seeded by this file in a process of its own (``seed-list``,
``seed-zip``): works go in with SQLAlchemy Core in batches, as bench/seed.py seeds guests
(the bench is not the demo: nothing here passes the works' checks, only the rows the
desk reads are made). A secretariat account logs in over HTTP as a browser does.

``works-list``: the desk's first page (default filters, newest first), logged in, timed
from the client on a kept-alive connection to each of three servers side by side, on
campaigns of 50, 100 and 5,000 works, asked in turn (a request to each, then again, so
that other work on the machine weighs on all alike): 10 rounds to warm up, then the
median of 40 each. The works are spread as a campaign's are: the three categories,
drafts, complete works awaiting their sealed form, submitted and returned ones, photos
with their previews, videos with their posters, sealed forms (some unread), requests for
a recommendation; ten works per unit, units in every province.

- ``works.list_p50_ms_50``, ``works.list_p50_ms_100`` and ``works.list_p50_ms_5000``;
- ``works.list_growth_ratio`` = 5,000's ÷ 50's (goal ≤ 1.5: a page costs about the same
  however many works came; but the page of 5,000 shows 100 rows where the page of 50
  shows 50, so the ratio also carries 50 more rows loaded and drawn);
- ``works.list_growth_ratio_to_100`` = 5,000's ÷ 100's: the same 100 rows, so only what
  grows with the number of works (the count, the choice of the page's ids).

``works-zip``: ten video works of 100 MB each (1 MB of random bytes repeated, written
through ``core.storage``), downloaded as one zip by the secretariat (the desk's POST of
the ticked works), read by the client 1 MB at a time and thrown away. The RSS of the
worker that streamed it (the one whose CPU time grew most; the kernel's high-water mark
reset before, and sampled every 10 ms besides) is compared with its RSS before; eight
small zips first warm every worker.

- ``works.zip_rss_growth_mb`` (goal < 50: memory does not follow the archive's size);
- ``works.zip_mb_s``: the archive's bytes over the seconds the download took;
- ``works.zip_ok``: 1 when the archive ends with its central directory listing the ten
  files and is at least as long as their bytes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import re
import secrets
import shutil
import statistics
import struct
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from servers import BenchBroken, free_port, log, start_server, stop_server
from uploads import RssSampler, cpu_ticks, status_kb, workers_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MB = 1024 * 1024
PASSWORD = "Bench-Desk-Secretariat-2024"
USERNAME = "bench-secretariat"
WORKS_PER_UNIT = 10
BATCH = 1000
LIST_FEW, LIST_MANY = 50, 5000
#: works on a full first page of the desk (experience.works.desk.PAGE_SIZE)
PAGE = 100
WARMUP, SAMPLES = 10, 40
ZIP_WORKS, ZIP_MB = 10, 100


# -- Seeding (in a process of its own, with the server's environment) -------------------------


def _app():
    from experience import create_app

    return create_app()


def _campaign_and_secretariat(now):
    """The campaign (made once) and the secretariat's account."""
    import sqlalchemy as sa

    from experience.accounts.models import Role, User
    from experience.accounts.services import create_user
    from experience.campaigns.services import current_campaign, default_campaign
    from experience.extensions import db

    campaign = current_campaign()
    if campaign is None:
        campaign = default_campaign(now.year)
        db.session.add(campaign)
        db.session.flush()
    if db.session.scalar(sa.select(User.id).where(User.username == USERNAME)) is None:
        create_user(username=USERNAME, password=PASSWORD, role=Role.SECRETARIAT, display_name="作品征集秘书处", now=now)
    return campaign


def _units(campaign_count: int, now, start: int) -> list[int]:
    """Units for ``campaign_count`` works from the ``start``-th on, in every province."""
    import sqlalchemy as sa

    from experience.accounts.models import Province
    from experience.extensions import db
    from experience.units.models import Unit, UnitType

    provinces = db.session.scalars(sa.select(Province.code).order_by(Province.code)).all()
    types = list(UnitType)
    first, last = start // WORKS_PER_UNIT, math.ceil((start + campaign_count) / WORKS_PER_UNIT)
    rows = [
        dict(
            name=f"基准测试报送单位{n:05d}有限公司",
            credit_code=f"91BENCH{n:011d}",
            unit_type=types[n % len(types)],
            province_code=provinces[n % len(provinces)],
            contact_name="王小明",
            contact_mobile="13812345678",
            declaration_version="bench",
            declaration_accepted_at=now,
            created_at=now,
        )
        for n in range(first, last)
    ]
    existing = set(db.session.scalars(sa.select(Unit.credit_code)))
    new = [r for r in rows if r["credit_code"] not in existing]
    if new:
        db.session.execute(sa.insert(Unit), new)
    codes = [r["credit_code"] for r in rows]
    ids = dict(db.session.execute(sa.select(Unit.credit_code, Unit.id).where(Unit.credit_code.in_(codes))).all())
    return [ids[c] for c in codes]


def seed_list(total: int) -> dict:
    """Add works to the campaign until it has ``total``; prints how many it has."""
    import sqlalchemy as sa

    from experience.accounts.models import User
    from experience.core import clock
    from experience.extensions import db
    from experience.works.models import Recommendation, Work, WorkFile

    app = _app()
    started = time.perf_counter()
    with app.app_context():
        now = clock.now()
        campaign = _campaign_and_secretariat(now)
        have = db.session.scalar(sa.select(sa.func.count(Work.id)).where(Work.campaign_id == campaign.id))
        secretariat = db.session.scalar(sa.select(User.id).where(User.username == USERNAME))
        for start in range(have, total, BATCH):
            stop = min(start + BATCH, total)
            units = _units(stop - start, now, start)
            works = [
                _work(i, campaign, units[(i - start) // WORKS_PER_UNIT], secretariat, now) for i in range(start, stop)
            ]
            ids = db.session.scalars(sa.insert(Work).returning(Work.id, sort_by_parameter_order=True), works).all()
            files, recommendations = [], []
            for i, (work_id, work) in enumerate(zip(ids, works, strict=True), start=start):
                files += _files(i, work_id, work, now)
                if i % 6 == 0:
                    recommendations.append(
                        dict(work_id=work_id, province_code="11", requested_by_id=secretariat, requested_at=now)
                    )
            if files:
                db.session.execute(sa.insert(WorkFile), files)
            if recommendations:
                db.session.execute(sa.insert(Recommendation), recommendations)
        db.session.commit()
        count = db.session.scalar(sa.select(sa.func.count(Work.id)).where(Work.campaign_id == campaign.id))
    return {"works": count, "seconds": round(time.perf_counter() - started, 2)}


def _work(i: int, campaign, unit_id: int, declared_by: int, now) -> dict:
    """The ``i``-th work's row: a fifth submitted, some returned, the rest drafts in every
    check state; those complete or sent carry a number."""
    from datetime import date, timedelta

    from experience.works.models import CheckState, WorkCategory, WorkState
    from experience.works.services import DECLARATION_VERSION

    category = list(WorkCategory)[i % 3]
    if i % 5 == 0:
        state, check = WorkState.SUBMITTED, CheckState.READY
    elif i % 7 == 0:
        state, check = WorkState.RETURNED, CheckState.READY
    else:
        state = WorkState.NOT_SUBMITTED
        check = (CheckState.READY, CheckState.DRAFT, CheckState.PROCESSING, CheckState.FAILED)[i % 4]
    sent, ready = state is not WorkState.NOT_SUBMITTED, check is CheckState.READY
    title = f"认证让服务更放心（第{i}号）"
    return dict(
        campaign_id=campaign.id,
        unit_id=unit_id,
        title=title,
        category=category,
        completed_on=date(campaign.year, 1 + i % 6, 1 + i % 28),
        contact_name="王小明",
        contact_phone=f"138{i:08d}",
        summary="记录一家养老机构通过服务认证后的变化。" * 5,
        body="服务认证让老人更安心。" * 100 if category is WorkCategory.TEXT else "",
        check_state=check,
        # numbers of their own (the campaign's counter is the app's; the bench never prints a form)
        number=f"B{campaign.year}-ZP-{i:06d}" if ready else None,
        declared_by_id=declared_by if ready else None,
        declared_at=now if ready else None,
        declaration_version=DECLARATION_VERSION if ready else "",
        declared_title=title if ready else "",
        state=state,
        first_submitted_at=now - timedelta(days=1) if sent else None,
        submitted_at=now - timedelta(hours=i % 48) if sent else None,
        late=sent and i % 11 == 0,
        returned_at=now if state is WorkState.RETURNED else None,
        return_comment="请补充作品简介。" if state is WorkState.RETURNED else "",
        created_at=now,
        updated_at=now,
    )


def _files(i: int, work_id: int, work: dict, now) -> list[dict]:
    """A photo work's two photos with their previews, a video with its poster, and the
    sealed form of every numbered work (one in nine unread)."""
    from experience.works.models import FileKind, WorkCategory

    key, files = f"bench-{work_id}", []
    if work["category"] is WorkCategory.PHOTO:
        for n in (1, 2):
            files.append(_file(work_id, FileKind.ORIGINAL, f"{key}-p{n}", f"IMG_{n:04d}.jpg", now, n))
            files.append(_file(work_id, FileKind.PREVIEW_SCREEN, f"{key}-s{n}", "", now))
            files.append(_file(work_id, FileKind.THUMBNAIL, f"{key}-t{n}", "", now))
    elif work["category"] is WorkCategory.VIDEO:
        files.append(_file(work_id, FileKind.ORIGINAL, f"{key}-v", "video.mp4", now, 1))
        files.append(_file(work_id, FileKind.POSTER, f"{key}-poster", "", now))
    if work["number"]:
        scan = _file(work_id, FileKind.FORM_SCAN, f"{key}-scan", "登记表.pdf", now)
        scan.update(form_hash=secrets.token_hex(5), form_read=i % 9 != 0)
        files.append(scan)
    return files


def _file(work_id: int, kind, key: str, filename: str, now, position: int = 0) -> dict:
    from experience.works.models import FileCheck

    return dict(
        work_id=work_id,
        kind=kind,
        storage_key=key,
        filename=filename,
        size=5 * MB,
        sha256=secrets.token_hex(32),
        content_type="image/jpeg",
        position=position,
        check_state=FileCheck.PASSED,
        created_at=now,
    )


def seed_zip(works: int, mb: int) -> dict:
    """``works`` video works of ``mb`` MB each, and a small one to warm up with, their
    files written through core.storage; prints their ids."""
    from datetime import date

    import sqlalchemy as sa

    from experience.core import clock, storage, uploads
    from experience.extensions import db
    from experience.works.models import FileCheck, FileKind, Work, WorkCategory, WorkFile, WorkState

    app = _app()
    block = os.urandom(MB)
    with app.app_context():
        now = clock.now()
        campaign = _campaign_and_secretariat(now)
        unit_id = _units(1, now, 0)[0]
        ids = []
        for n in range(works + 1):
            size = mb * MB if n < works else MB
            key = uploads.new_key("work", "mp4")
            written = storage.current().write(key, (block for _ in range(size // MB)))
            work_id = db.session.execute(
                sa.insert(Work).returning(Work.id),
                dict(
                    campaign_id=campaign.id,
                    unit_id=unit_id,
                    title=f"服务认证体验视频（第{n + 1}部）",
                    category=WorkCategory.VIDEO,
                    completed_on=date(campaign.year, 1, 1),
                    contact_name="王小明",
                    contact_phone="13812345678",
                    summary="基准测试用的视频作品。",
                    state=WorkState.NOT_SUBMITTED,
                    created_at=now,
                    updated_at=now,
                ),
            ).scalar_one()
            db.session.execute(
                sa.insert(WorkFile),
                dict(
                    work_id=work_id,
                    kind=FileKind.ORIGINAL,
                    storage_key=key,
                    filename=f"体验视频{n + 1}.mp4",
                    size=written.size,
                    sha256=written.sha256,
                    content_type="video/mp4",
                    position=1,
                    check_state=FileCheck.PASSED,
                    created_at=now,
                ),
            )
            ids.append(work_id)
        db.session.commit()
    return {"big": ids[:works], "small": ids[works], "bytes": works * mb * MB}


# -- The client -------------------------------------------------------------------------------


class Browser:
    """A logged-in browser: its cookies, and one kept-alive connection (or a fresh one)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = self._connect()
        self.cookies: dict[str, str] = {}

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)

    def fresh_connection(self) -> None:
        self.conn.close()
        self.conn = self._connect()

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if body is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        for cookie in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return r

    def get(self, path: str) -> tuple[int, bytes]:
        r = self.send("GET", path)
        return r.status, r.read()

    def csrf(self, path: str) -> str:
        _, page = self.get(path)
        return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()

    def log_in(self) -> None:
        form = {"username": USERNAME, "password": PASSWORD, "csrf_token": self.csrf("/login")}
        r = self.send("POST", "/login", urllib.parse.urlencode(form).encode())
        r.read()
        if r.status != 302:
            raise BenchBroken(f"works desk: the secretariat could not log in ({r.status})")

    def download(self, work_ids: list[int], token: str) -> tuple[int, float, bytes]:
        """POST the desk's zip form; read the answer 1 MB at a time. Returns (bytes, seconds,
        the last 64 KB)."""
        form = [("csrf_token", token), ("scope", "selected"), *(("work_id", str(i)) for i in work_ids)]
        started = time.perf_counter()
        r = self.send("POST", "/works/desk/download", urllib.parse.urlencode(form).encode())
        if r.status != 200 or r.getheader("Content-Type") != "application/zip":
            raise BenchBroken(f"works desk: the zip answered {r.status} {r.read()[:300]!r}")
        size, tail = 0, b""
        while block := r.read(MB):
            size += len(block)
            tail = (tail + block)[-65536:]
        return size, time.perf_counter() - started, tail


def zip_entries_listed(tail: bytes) -> int:
    """How many entries the end of central directory record says the zip has (-1: none)."""
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return -1
    return struct.unpack("<H", tail[at + 10 : at + 12])[0]


def p50s_ms(browsers: list[Browser], path: str) -> list[float]:
    """The median time of ``path`` on each server, asked in turn (one request to each, then
    again), so that whatever else the machine does meanwhile weighs on all alike."""
    times: list[list[float]] = [[] for _ in browsers]
    for n in range(WARMUP + SAMPLES):
        for browser, taken in zip(browsers, times, strict=True):
            started = time.perf_counter()
            status, page = browser.get(path)
            took = time.perf_counter() - started
            if status != 200 or b"desk-summary" not in page:
                raise BenchBroken(f"works desk: {path} answered {status}")
            if n >= WARMUP:
                taken.append(took)
    return [statistics.median(taken) * 1000 for taken in times]


# -- The parts ----------------------------------------------------------------------------------


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _run(cmd: list[str], env: dict, what: str) -> str:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise BenchBroken(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def _environment(tmp: Path, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("FLASK_DEBUG", "TRUSTED_PROXIES", "FROZEN_NOW", "TEST_DB")}
    env.update(
        {
            "PYTHONDONTWRITEBYTECODE": "1",
            "EXPERIENCE_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{tmp / 'app.db'}",
            "RATELIMIT_STORAGE_URI": f"sqlitefile:///{tmp / 'limits.db'}",
            "UPLOAD_DIR": str(tmp / "store"),
            "JOBS_DB": str(tmp / "jobs.db"),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        }
    )
    return env


def _seed(env: dict, *args: str) -> dict:
    out = _run([_tool("python"), str(Path(__file__)), *args], env, f"seed ({' '.join(args)})")
    return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def _server(ctx, name: str, works: int = 0):
    """The app on a fresh database of its own, with ``works`` works seeded; yields (port,
    env, server)."""
    tmp = ctx.tmp / name
    (tmp / "store").mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = _environment(tmp, port)
    _run([_tool("flask"), "--app", "wsgi", "db", "upgrade"], env, f"db upgrade ({name})")
    log(f"{name}: {_seed(env, 'seed-list', '--works', str(works))}")  # with the campaign and the account
    server = start_server(name, "wsgi:app", env, port, ROOT, tmp, gunicorn=_tool("gunicorn"))
    ctx.servers.append(server)
    try:
        yield port, env, server
    finally:
        ctx.servers.remove(server)
        stop_server(server)
        shutil.rmtree(tmp / "store", ignore_errors=True)


def part_works_list(ctx) -> dict:
    """Run by bench/run.py: the desk's first page with 50, 100 and 5,000 works, on three
    servers side by side, asked in turn."""
    with contextlib.ExitStack() as servers:
        ports = [servers.enter_context(_server(ctx, f"works-list-{n}", n))[0] for n in (LIST_FEW, PAGE, LIST_MANY)]
        browsers = [Browser(port) for port in ports]
        for browser in browsers:
            browser.log_in()
        few, full, many = p50s_ms(browsers, "/works/desk")
    log(f"works-list: p50 {few:.1f} ms with {LIST_FEW} works, {full:.1f} with {PAGE}, {many:.1f} with {LIST_MANY}")
    return {
        f"works.list_p50_ms_{LIST_FEW}": (round(few, 1), "ms"),
        f"works.list_p50_ms_{PAGE}": (round(full, 1), "ms"),
        f"works.list_p50_ms_{LIST_MANY}": (round(many, 1), "ms"),
        "works.list_growth_ratio": (round(many / few, 3), "ratio"),
        f"works.list_growth_ratio_to_{PAGE}": (round(many / full, 3), "ratio"),
    }


def part_works_zip(ctx) -> dict:
    """Run by bench/run.py: a zip of ten 100 MB videos, and the streaming worker's memory."""
    with _server(ctx, "works-zip") as (port, env, server):
        seeded = _seed(env, "seed-zip", "--works", str(ZIP_WORKS), "--mb", str(ZIP_MB))
        browser = Browser(port)
        browser.log_in()
        token = browser.csrf("/works/desk")
        for _ in range(8):  # fresh connections, so that every worker has served a zip before
            browser.fresh_connection()
            browser.download([seeded["small"]], token)
        browser.fresh_connection()
        workers = workers_of(server.proc.pid)
        rss_before = {pid: status_kb(pid, "VmRSS") for pid in workers}
        cpu_before = {pid: cpu_ticks(pid) for pid in workers}
        for pid in workers:  # the kernel's peak RSS, counted from now (root, or the owner, may)
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        sampler = RssSampler(workers)
        sampler.start()
        try:
            size, seconds, tail = browser.download(seeded["big"], token)
        finally:
            sampler.done.set()
            sampler.join()
        busiest = max(workers, key=lambda pid: cpu_ticks(pid) - cpu_before[pid])
        peak_kb = max(sampler.peak[busiest], status_kb(busiest, "VmHWM"))
    growth = (peak_kb - rss_before[busiest]) / 1024
    listed = zip_entries_listed(tail)
    log(
        f"works-zip: {size / MB:.0f} MB in {seconds:.1f} s; {listed} entries listed; worker {busiest} RSS "
        f"{rss_before[busiest] // 1024} MB → peak {peak_kb // 1024} MB"
    )
    return {
        "works.zip_rss_growth_mb": (round(growth, 1), "MB"),
        "works.zip_mb_s": (round(size / MB / seconds, 1), "MB/s"),
        "works.zip_ok": (int(listed == ZIP_WORKS and size >= seeded["bytes"]), "bool"),
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("seed-list", "seed-zip"))
    parser.add_argument("--works", type=int, required=True)
    parser.add_argument("--mb", type=int, default=ZIP_MB)
    args = parser.parse_args()
    print(json.dumps(seed_list(args.works) if args.what == "seed-list" else seed_zip(args.works, args.mb)))
