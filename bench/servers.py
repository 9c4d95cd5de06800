"""The processes the bench starts and measures (used by run.py).

- gunicorn, for the app and for the reference alike, with the **deployed settings**: a
  config file written per server runs ``gunicorn.conf.py`` itself and changes only where
  the server listens and logs (and, for the sync-worker figures, the worker class), so the
  bench can never drift from what production runs;
- a throwaway PostgreSQL (initdb into a temp dir, a free port, a Unix socket only; as the
  ``postgres`` user when the bench runs as root, as ``../shared/RECIPES.md`` shows);
- the CPU time these servers use, and the CPU time everything else on the machine uses
  meanwhile (``CpuSnapshot``): figures taken while other work runs are flagged.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import resource
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEPLOYED_CONFIG = ROOT / "gunicorn.conf.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchBroken(RuntimeError):
    """The bench itself failed (not the app's figures): exit status 2."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def figures_from_fresh_process(script: str | Path, args: list[str], what: str, *, timeout: int = 1800) -> dict:
    """Run a bench script in a fresh Python process (nothing loaded or warmed by the run
    so far, as the worker or a new web worker would be) and take the figures it prints as
    its last line: ``{"name": [value, "unit"], ...}``."""
    keep_out = ("TEST_DB", "DATABASE_URL", "FLASK_DEBUG", "FROZEN_NOW")
    env = {k: v for k, v in os.environ.items() if k not in keep_out}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise BenchBroken(f"{what} bench failed ({done.returncode}):\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"{what}: {figures}")
    return {k: (v[0], v[1]) for k, v in figures.items()}


def insert_units(count: int, *, code_prefix: str, now) -> list[int]:
    """Submitting units for an in-process bench (inside its app context), spread over the
    provinces in turn; their ids in order. ``code_prefix``: 7 characters of the 18 of a
    credit code, so that two parts' units never share one."""
    import sqlalchemy as sa

    from experience.accounts.models import Province
    from experience.extensions import db
    from experience.units.models import Unit, UnitType

    provinces = db.session.scalars(sa.select(Province.code).order_by(Province.code)).all()
    rows = [
        dict(
            name=f"基准测试报送单位{n:04d}有限公司",
            credit_code=f"{code_prefix}{n:011d}",
            unit_type=list(UnitType)[n % len(UnitType)],
            province_code=provinces[n % len(provinces)],
            contact_name="王小明",
            contact_mobile="13812345678",
            declaration_version="bench",
            declaration_accepted_at=now,
            created_at=now,
        )
        for n in range(count)
    ]
    return db.session.execute(sa.insert(Unit).returning(Unit.id, sort_by_parameter_order=True), rows).scalars().all()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- gunicorn with the deployed settings ------------------------------------------------------


def deployed_settings() -> dict:
    """What gunicorn.conf.py sets, read by running it as gunicorn does (in this process's
    environment, which the servers inherit: WEB_CONCURRENCY and WEB_THREADS count)."""
    namespace = runpy.run_path(str(DEPLOYED_CONFIG))
    return {k: namespace.get(k) for k in ("workers", "worker_class", "threads", "timeout", "keepalive")}


# Runs the deployed file, then changes only what a bench server must: where it listens and
# logs, no control socket, no access log (a line per request would cost the app and the
# reference alike, and is not what is measured).
CONFIG_TEMPLATE = """\
# Written by bench/run.py: the deployed settings ({deployed}), with only where the server
# listens and logs changed{variant_note}.
import runpy as _runpy

globals().update({{k: v for k, v in _runpy.run_path({deployed!r}).items() if not k.startswith("_")}})
bind = {bind!r}
chdir = {chdir!r}
errorlog = {errorlog!r}
loglevel = "warning"
accesslog = None
control_socket_disable = True
proc_name = {name!r}
{variant}"""

#: the sync-worker variant, reported beside the deployed figures
SYNC_VARIANT = 'worker_class = "sync"\nthreads = 1\n'


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    log_path: Path
    workers: str
    #: CPU seconds used so far by other processes that serve this server's requests (PostgreSQL)
    extra_cpu: Callable[[], float] = field(default=lambda: 0.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's master and workers (and its database server)."""
        return group_cpu_seconds(self.proc.pid) + self.extra_cpu()


def start_server(
    name: str, app_spec: str, env: dict, port: int, chdir: Path, tmp: Path, *, gunicorn: str, sync: bool = False
) -> Server:
    """gunicorn with the deployed settings (or sync workers), its log in ``tmp``; waits for /healthz."""
    log_path = tmp / f"{name}.log"
    config = tmp / f"gunicorn-{name}-{port}.conf.py"
    config.write_text(
        CONFIG_TEMPLATE.format(
            deployed=str(DEPLOYED_CONFIG),
            variant_note=", and sync workers instead of threads" if sync else "",
            bind=f"127.0.0.1:{port}",
            chdir=str(chdir),
            errorlog=str(log_path),
            name=f"bench-{name}",
            variant=SYNC_VARIANT if sync else "",
        )
    )
    settings = deployed_settings()
    workers = (
        f"{settings['workers']} sync workers"
        if sync
        else f"{settings['workers']} {settings['worker_class']} workers × {settings['threads']} threads"
    )
    cmd = [gunicorn, "--config", str(config), app_spec]
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=chdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, proc, port, log_path, workers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchBroken(f"{name} server exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    log(f"{name} server up on port {port} ({workers})")
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    stop_server(server)
    raise BenchBroken(f"{name} server did not answer /healthz within 60 s:\n{tail(log_path)}")


def stop_server(server: Server, graceful: bool = False) -> None:
    """Stop a server: gracefully (SIGTERM: the requests in hand are finished) or quickly
    (SIGINT), then SIGKILL to its process group if anything is left."""
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM if graceful else signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=35 if graceful else 10)
    with contextlib.suppress(ProcessLookupError):  # the workers are in the master's own process group
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# -- A throwaway PostgreSQL -------------------------------------------------------------------

#: Commits do not wait for the disk, as the app's SQLite (WAL, synchronous=NORMAL) does not:
#: on both engines the figures are the app's work and round trips, not the disk's fsync.
#: Room for the app's pools (4 workers × up to 15 connections) and the reference's.
PG_OPTIONS = "-c synchronous_commit=off -c max_connections=300"


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class PgServer:
    root: Path
    bindir: Path
    port: int

    @classmethod
    def start(cls) -> PgServer:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise BenchBroken("PostgreSQL is not installed (apt-get install postgresql, as `make test` does)")
        bindir = Path(found[-1]).parent
        root = Path(tempfile.mkdtemp(prefix="experience-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        server = cls(root, bindir, free_port())
        started = time.monotonic()
        server._run(
            [str(bindir / "initdb"), "-D", f"{root}/data", "-A", "trust", "-U", "postgres", "-E", "UTF8"]
            + ["--locale=C.UTF-8"],
            "initdb",
        )
        server._run(
            [str(bindir / "pg_ctl"), "-D", f"{root}/data", "-l", f"{root}/log", "-w", "-o"]
            + [f"-p {server.port} -k {root} -c listen_addresses='' {PG_OPTIONS}", "start"],
            "pg_ctl start",
        )
        log(f"PostgreSQL {bindir.parent.name} up in {root} on port {server.port} ({time.monotonic() - started:.1f} s)")
        return server

    def _run(self, cmd: list[str], what: str) -> None:
        done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BenchBroken(f"PostgreSQL {what} failed:\n{done.stdout}\n{done.stderr}\n{tail(self.root / 'log')}")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.root}&port={self.port}"

    def cpu_seconds(self) -> float:
        """CPU time of the postmaster and its backends (the ones gone included: the
        postmaster has reaped them), which do the SQL work of the app's requests."""
        try:
            pid = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        ticks = 0
        for p in proc_table():
            if p.pid == pid:
                ticks += p.own + p.reaped
            elif p.ppid == pid:
                ticks += p.own
        return ticks / CLOCK_TICKS

    def stop(self) -> None:
        with contextlib.suppress(BenchBroken, subprocess.TimeoutExpired):
            self._run([str(self.bindir / "pg_ctl"), "-D", f"{self.root}/data", "-m", "immediate", "stop"], "stop")
        shutil.rmtree(self.root, ignore_errors=True)


# -- CPU time -----------------------------------------------------------------------------


@dataclass
class ProcCpu:
    pid: int
    ppid: int
    pgrp: int
    #: user + system ticks of the process itself, and of its children it has waited for
    own: int
    reaped: int


def proc_table() -> list[ProcCpu]:
    table = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields 4, 5: ppid, pgrp; 14-17: utime, stime, cutime, cstime (proc(5), counted from 1)
        ppid, pgrp = int(fields[1]), int(fields[2])
        table.append(
            ProcCpu(int(entry), ppid, pgrp, int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))
        )
    return table


def group_cpu_seconds(pgid: int) -> float:
    """CPU time used so far by a process group (a gunicorn master and its workers, the
    workers it has replaced included). Per request, it is less disturbed than req/s by
    other work on the machine."""
    ticks = 0
    for p in proc_table():
        if p.pgrp == pgid:
            ticks += p.own + (p.reaped if p.pid == pgid else 0)
    return ticks / CLOCK_TICKS


def cpu_busy_percent(seconds: float = 1.0) -> float:
    """How busy the machine's CPUs are (all cores, steal included) over ``seconds``: other
    work running beside the bench skews its figures, so it is reported with them."""
    try:
        before = _machine_ticks()
        time.sleep(seconds)
        after = _machine_ticks()
    except OSError:
        return -1.0
    total = after[0] - before[0]
    return round(100 * (after[1] - before[1]) / total, 1) if total else 0.0


def _machine_ticks() -> tuple[int, int]:
    """(all ticks, busy ticks) of all CPUs from /proc/stat. Busy is user, nice, system and
    steal; interrupts are left out, since the bench's own loopback traffic lands there
    (softirq) rather than in any process's time."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is already inside user)
    return sum(v[:8]), v[0] + v[1] + v[2] + v[7]


def _own_cpu_seconds() -> float:
    """This process and the children it has waited for (wrk, after each run)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class CpuSnapshot:
    wall: float
    busy: float
    server: float
    bench: float

    @classmethod
    def take(cls, server: Server) -> CpuSnapshot:
        return cls(time.monotonic(), _machine_ticks()[1] / CLOCK_TICKS, server.cpu_seconds(), _own_cpu_seconds())

    def other_percent(self, later: CpuSnapshot) -> float:
        """CPU used between the two snapshots by anything but the server under test, wrk
        and this process, in percent of all cores: what disturbed the run."""
        wall = later.wall - self.wall
        if wall <= 0:
            return 0.0
        other = (later.busy - self.busy) - (later.server - self.server) - (later.bench - self.bench)
        return round(max(0.0, 100 * other / (wall * (os.cpu_count() or 1))), 1)
