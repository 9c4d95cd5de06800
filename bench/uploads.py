"""The resumable upload's figures (``--only=uploads``): a 500 MB video through tus.

The app runs under gunicorn with the deployed settings (gunicorn.conf.py, as every bench
server), production configuration, SQLite, the local disk store (fsync on). A unit and
its video work are made first (``python bench/uploads.py seed``, in a process of its own).
Then a Python tus client on loopback, as tus-js-client does in the browser: one POST, then
8 MB PATCHes (upload.js's chunk size) on one kept-alive connection, each at the offset the
last answer gave; the last one makes the server hash the file and attach it to the work.

The reference, in the same run: Python writing the same bytes to a file on the same file
system (the store's folder), in the same 8 MB chunks written as 1 MB pieces (what the
route hands the store), with the same fsync policy (one fsync per chunk, as
``LocalStorage.append`` does).

Figures:
- ``works.upload.throughput_mb_s`` and ``works.upload.raw_write_mb_s``;
- ``works.upload.throughput_ratio_to_raw_write`` = the first ÷ the second (goal ≥ 0.5);
- ``works.upload.rss_growth_mb``: the peak RSS of the worker that handled the chunks (the
  one whose CPU time grew most; its kernel high-water mark reset before, and its RSS
  sampled every 10 ms besides) minus its RSS before the upload (goal < 50);
- ``works.upload.completion_hash_s``: the last chunk's time minus the median chunk's: what
  hashing the stored file once and attaching it cost;
- ``works.upload.sha256_ok``: 1 when the work's file has the SHA-256 of what was sent.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from servers import BenchBroken, free_port, log, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
CHUNK = 8 * MB
PIECE = MB
TOTAL = 500 * MB
PASSWORD = "Bench-Upload-2024"
CREDIT_CODE = "914403001922038216"


def seed() -> None:
    """Make the unit and its video work in the app's database; print what the client needs."""
    sys.path.insert(0, str(ROOT))
    from datetime import date, timedelta

    from experience import create_app
    from experience.campaigns.services import current_campaign, default_campaign
    from experience.core import clock
    from experience.extensions import db
    from experience.units import services as units
    from experience.units.models import UnitType
    from experience.works import services as works
    from experience.works.models import WorkCategory

    app = create_app()
    with app.app_context():
        now = clock.now()
        campaign = current_campaign()
        if campaign is None:
            campaign = default_campaign(now.year)
            db.session.add(campaign)
        # The bench measures an upload, not the calendar: after the works deadline (Aug 30)
        # its unit could no longer upload (422), so this throwaway campaign's deadline is
        # moved a month past today.
        today = clock.beijing_today(now)
        if campaign.works_deadline < today:
            campaign.works_deadline = today + timedelta(days=30)
        db.session.flush()
        unit = units.register_unit(
            name="华为技术有限公司",
            credit_code=CREDIT_CODE,
            unit_type=UnitType.RELATED_ENTERPRISE,
            province_code="44",
            contact_name="王小明",
            contact_mobile="13812345678",
            contact_email=None,
            password=PASSWORD,
            declaration_version=units.DECLARATION_VERSION,
            now=now,
        )
        work = works.create_work(
            unit,
            campaign,
            actor=unit.account,
            now=now,
            title="认证让养老更安心",
            category=WorkCategory.VIDEO,
            completed_on=date(campaign.year, 1, 1),
            contact_name="王小明",
            contact_phone="13812345678",
            summary="基准测试用的视频作品。",
        )
        db.session.commit()
        print(json.dumps({"username": CREDIT_CODE, "work_id": work.id}))


def latest_sha256(database_url: str, work_id: int) -> str | None:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT sha256 FROM work_file WHERE work_id = :w AND kind = 'original'"), {"w": work_id}
        ).scalar()
    engine.dispose()
    return found


# -- The client ---------------------------------------------------------------------------


class Session:
    """One kept-alive connection with a browser's cookies."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body=None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        for cookie in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return r, data

    def token(self, path: str) -> str:
        _, page = self.request("GET", path)
        return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def block() -> bytes:
    """The 8 MB sent as every chunk (random, so nothing on the way compresses it)."""
    return os.urandom(CHUNK)


def upload(port: int, username: str, work_id: int, data: bytes, total: int) -> dict:
    """Log in as the unit and send ``total`` bytes (``data`` again and again) through tus."""
    s = Session(port)
    login = {"username": username, "password": PASSWORD, "csrf_token": s.token("/login")}
    r, _ = s.request(
        "POST", "/login", urllib.parse.urlencode(login).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    )
    if r.status != 302:
        raise RuntimeError(f"login failed: {r.status}")
    tus = {"Tus-Resumable": "1.0.0", "X-CSRFToken": s.token(f"/works/{work_id}")}
    meta = ",".join(
        f"{k} {base64.b64encode(str(v).encode()).decode()}"
        for k, v in {"filename": "bench.mp4", "purpose": "work-video", "target": work_id}.items()
    )
    creation = dict(tus, **{"Upload-Length": str(total), "Upload-Metadata": meta})
    r, body = s.request("POST", "/transfers/", headers=creation)
    if r.status != 201:
        raise RuntimeError(f"creation failed: {r.status} {body[:200]!r}")
    url = r.headers["Location"]
    times, offset = [], 0
    started = time.perf_counter()
    while offset < total:
        piece = data[: min(CHUNK, total - offset)]
        headers = dict(tus, **{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        t = time.perf_counter()
        r, body = s.request("PATCH", url, piece, headers)
        times.append(time.perf_counter() - t)
        if r.status != 204:
            raise RuntimeError(f"chunk at {offset} failed: {r.status} {body[:200]!r}")
        offset = int(r.headers["Upload-Offset"])
    return {"seconds": time.perf_counter() - started, "chunk_times": times}


def raw_write(folder: Path, data: bytes, total: int) -> float:
    """Seconds to write ``total`` bytes as the store does: 1 MB pieces, fsync per 8 MB chunk."""
    path = folder / "bench-raw-write.bin"
    written = 0
    started = time.perf_counter()
    with open(path, "wb") as f:
        while written < total:
            chunk = data[: min(CHUNK, total - written)]
            for at in range(0, len(chunk), PIECE):
                f.write(chunk[at : at + PIECE])
            f.flush()
            os.fsync(f.fileno())
            written += len(chunk)
    seconds = time.perf_counter() - started
    path.unlink()
    return seconds


# -- Memory and CPU of gunicorn's workers -----------------------------------------------------


def workers_of(master: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class RssSampler(threading.Thread):
    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids, self.peak = pids, dict.fromkeys(pids, 0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.pids:
                with contextlib.suppress(OSError):  # a worker gone meanwhile
                    self.peak[pid] = max(self.peak[pid], status_kb(pid, "VmRSS"))
            time.sleep(0.01)


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _run(cmd: list[str], env: dict, what: str) -> str:
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise BenchBroken(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def part_uploads(ctx) -> dict:
    """Run by bench/run.py: the app on its own SQLite database and store."""
    tmp = ctx.tmp / "uploads-part"
    store = tmp / "store"
    store.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{tmp / 'app.db'}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("FLASK_DEBUG", "TRUSTED_PROXIES", "FROZEN_NOW", "TEST_DB")}
    env.update(
        {
            "PYTHONDONTWRITEBYTECODE": "1",
            "EXPERIENCE_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": database_url,
            "RATELIMIT_STORAGE_URI": f"sqlitefile:///{tmp / 'limits.db'}",
            "UPLOAD_DIR": str(store),
            "JOBS_DB": str(tmp / "jobs.db"),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        }
    )
    _run([_tool("flask"), "--app", "wsgi", "db", "upgrade"], env, "db upgrade (uploads)")
    seeded = json.loads(_run([_tool("python"), str(Path(__file__)), "seed"], env, "seed (uploads)").splitlines()[-1])
    data = block()
    expected = hashlib.sha256()
    for sent in range(0, TOTAL, CHUNK):
        expected.update(data[: min(CHUNK, TOTAL - sent)])
    raw_before = raw_write(store, data, TOTAL)
    server = start_server("app-uploads", "wsgi:app", env, port, ROOT, tmp, gunicorn=_tool("gunicorn"))
    ctx.servers.append(server)
    try:
        # a first small upload warms every path the big one takes (imports, templates, the engine)
        upload(port, seeded["username"], seeded["work_id"], data, 2 * CHUNK)
        workers = workers_of(server.proc.pid)
        rss_before = {pid: status_kb(pid, "VmRSS") for pid in workers}
        cpu_before = {pid: cpu_ticks(pid) for pid in workers}
        for pid in workers:  # the kernel's peak RSS, counted from now (root, or the owner, may)
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        sampler = RssSampler(workers)
        sampler.start()
        result = upload(port, seeded["username"], seeded["work_id"], data, TOTAL)
        sampler.done.set()
        sampler.join()
        busiest = max(workers, key=lambda pid: cpu_ticks(pid) - cpu_before[pid])
        peak_kb = max(sampler.peak[busiest], status_kb(busiest, "VmHWM"))
    finally:
        ctx.servers.remove(server)
        stop_server(server)
    raw_after = raw_write(store, data, TOTAL)
    raw = min(raw_before, raw_after)  # the file system at its best, to be fair to it
    times = result["chunk_times"]
    throughput = TOTAL / MB / result["seconds"]
    raw_speed = TOTAL / MB / raw
    log(
        f"uploads: {TOTAL // MB} MB in {result['seconds']:.1f} s ({throughput:.0f} MB/s); raw write "
        f"{raw_before:.1f} s / {raw_after:.1f} s; worker {busiest} RSS {rss_before[busiest] // 1024} MB → peak "
        f"{peak_kb // 1024} MB"
    )
    return {
        "works.upload.throughput_mb_s": (round(throughput, 1), "MB/s"),
        "works.upload.raw_write_mb_s": (round(raw_speed, 1), "MB/s"),
        "works.upload.throughput_ratio_to_raw_write": (round(throughput / raw_speed, 3), "ratio"),
        "works.upload.rss_growth_mb": (round((peak_kb - rss_before[busiest]) / 1024, 1), "MB"),
        "works.upload.median_chunk_s": (round(statistics.median(times), 3), "s"),
        "works.upload.completion_hash_s": (round(times[-1] - statistics.median(times), 3), "s"),
        "works.upload.sha256_ok": (int(latest_sha256(database_url, seeded["work_id"]) == expected.hexdigest()), "bool"),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["seed"]:
        seed()
    else:
        sys.exit("usage: bench/uploads.py seed   (the figures: bench/run.py --only=uploads)")
