"""The check-in benchmark (`make bench`): figures, never a pass/fail test.

What is measured: how many check-ins per second the app serves, and how slowly the
slowest of them answer (p99), when scanners and guests' phones arrive together — the
scanner API (``POST /api/v1/checkins``) and the phone's one tap (``POST /c/<code>``),
each at 1 and 32 concurrent connections for 8 s, every request with a fresh code —
and the guests' rating submit (text only, and with a photo), against the app as it is
deployed: **gunicorn.conf.py's own settings** (gthread workers × threads; each server's
config file runs it and changes only where the server listens and logs), production
settings, SQLite in WAL, on a database of 300,000 invited guests. Beside them: the same
on **sync workers** (``*.sync.*``), and the same on a throwaway **PostgreSQL** the bench
starts itself (``*.pg.*``), the production engine.

Why the reference: requests per second on their own say more about the machine than
about the app. So each setup (SQLite, SQLite on sync workers, PostgreSQL) also measures
``bench/bare.py`` — one Flask route that does one ORM INSERT + commit into the same
engine, under the same gunicorn settings — the cheapest write request this stack can
serve. The headline figures are ratios to it (``checkin.*.rps_ratio_to_bare_insert``,
``*.cpu_ratio_to_bare_insert``, ``*.p99_ratio_to_bare_at_32``): they stay meaningful on a
faster or slower machine, and show what a check-in costs beyond the one write it cannot
avoid. They are taken from paired rounds (``paired_ratios``): the bare insert and the flow
in alternation, seconds apart, because this machine's speed drifts from minute to minute.

Beside req/s and p99, every run reports the server's CPU time per request
(``*.cpu_ms_per_req_at_<c>``, from /proc; on PostgreSQL the database server's CPU is
included): other work on the machine moves req/s a lot and CPU per request much less, so
``*.cpu_ratio_to_bare_insert`` is the steadier twin of the req/s ratio. Every run also
reports ``*.cpu_other_pct_at_<c>``, the CPU that processes other than the bench's servers,
wrk and the bench itself used meanwhile (``bench.cpu_other_pct``: the highest), and
``bench.cpu_busy_before_pct`` says how busy the machine was before the bench began: a
ratio whose runs had more than 10 % of other work, or any ratio when the machine was
that busy before, prints with ``unreliable`` after its unit.

What is checked, besides speed (exit status 1 when it fails):

- exactly once, from the database after each engine's runs: a guest is checked in once
  and only once, however the requests raced (``checkin.exactly_once``, ``checkin.pg.…``);
- every fresh code answered as checked in really was (``checkin.*.fresh_checked_in``):
  the phone's tap answers 200 for "already checked in" too, so its answers are read for
  the success page, and the check-ins are counted in the database afterwards;
- the **duplicate storm** (``checkin.storm.<db>.*``): 1,000 codes, sent by each of 32
  connections walking the same list in step (each code by all 32 at the same moment), by
  the API and by the phone; every guest checked in exactly once in the database, and one
  "ok" answer per code.

Output: progress on stderr; at the end one line per figure on stdout, ``name value unit``
(goals first, as ``# goal ...`` lines; ``unreliable`` appended where it applies). Exit
status: 0 when the bench ran (goals missed or not), 1 when exactly-once failed, 2 when the
bench itself broke (a server did not start, wrk failed, the migrations failed, ...; the
figures taken until then are still printed).

Parts (``--only=checkin,storm``; ``make bench BENCH_ARGS=--only=pg``): see ``PARTS`` and
bench/README.md. Adding figures: write a function ``part_xxx(ctx) -> dict`` returning
``{"name": (value, "unit"), ...}`` and add it to ``PARTS`` (and any goals to ``GOALS``).
``app_server(ctx, setup)`` returns the app's server on a setup's seeded database (the
database is prepared on first use); ``bare_reference`` measures the reference once per
setup; ``run_ladder`` drives one flow at every concurrency; ``CodePool`` hands out fresh
codes; seed more data in ``seed.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from dedupe import part_works_dedupe
from display import part_display
from screening import part_screening_assign
from servers import (
    BENCH,
    ROOT,
    BenchBroken,
    CpuSnapshot,
    PgServer,
    Server,
    cpu_busy_percent,
    deployed_settings,
    free_port,
    log,
    start_server,
    stop_server,
    tail,
)
from sqlalchemy.pool import NullPool
from storm import Request, classify_api, classify_page, run_storm
from uploads import part_uploads
from works import part_works
from works_desk import part_works_list, part_works_zip
from works_platform import part_works_platform

BIN = Path(sys.executable).parent

#: name -> (value, unit)
Figures = dict[str, tuple[float | int, str]]

#: The page of a successful tap and the thank-you page of a rating carry this (a class in
#: templates/checkin/guest_result.html and templates/ratings/thanks.html); a repeated tap
#: answers 200 without it. The sample check-ins prove on every run that it still tells them
#: apart.
OK_MARKER = "result-ok"

#: Above this share of all CPUs (percent) used by other work, a ratio is flagged unreliable.
NOISE_LIMIT_PCT = 10

#: The photo of the photo submit: a 3-megapixel JPEG (phones send theirs unresized).
PHOTO_SIZE = (2000, 1500)


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        raise BenchBroken(f"{name} not found (run through `make bench`)")
    return found


def subprocess_env(extra: dict) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLASK_DEBUG", "TRUSTED_PROXIES", "FROZEN_NOW", "TEST_DB", "DATABASE_URL")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing written outside the temp dir
    env.update(extra)
    return env


def run(cmd: list[str], *, env: dict, cwd: Path, what: str, timeout: int = 300) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise BenchBroken(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


# -- Setups and their databases -------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """Where flows are measured: a database engine, under the deployed workers or sync ones."""

    db: str
    sync: bool = False

    @property
    def suffix(self) -> str:
        """In figure names: ``checkin.api`` (SQLite, deployed: the headline),
        ``checkin.api.sync`` (SQLite, sync workers), ``checkin.api.pg`` (PostgreSQL, deployed)."""
        return ("" if self.db == "sqlite" else f".{self.db}") + (".sync" if self.sync else "")


SQLITE = Setup("sqlite")
SQLITE_SYNC = Setup("sqlite", sync=True)
PG = Setup("pg")


@dataclass
class CodePool:
    """Codes for one use; every request of every run takes a new one."""

    name: str
    codes: list[str]
    cursor: int = 0

    @property
    def left(self) -> int:
        return len(self.codes) - self.cursor

    def file_for_run(self, tmp: Path) -> Path:
        path = tmp / f"codes-{self.name}-{self.cursor}.txt"
        path.write_text("\n".join(self.codes[self.cursor :]) + "\n")
        return path

    def used(self, n: int) -> None:
        self.cursor = min(len(self.codes), self.cursor + n)

    def take(self, n: int) -> list[str]:
        if self.left < n:
            raise BenchBroken(f"only {self.left} {self.name} codes left, {n} needed: seed more (--guests)")
        self.cursor += n
        return self.codes[self.cursor - n : self.cursor]


@dataclass
class Database:
    """One seeded database (SQLite file, or a database in the bench's PostgreSQL), with the
    reference's own database beside it on the same engine."""

    name: str
    url: str
    bare_url: str
    #: the app's environment (PUBLIC_BASE_URL is set per server)
    env: dict
    tokens_file: Path
    tokens: list[str]
    #: api, phone (fresh codes for the ladders), storm-api, storm-phone, rating (checked in)
    pools: dict[str, CodePool]
    #: CPU seconds of the database server so far (PostgreSQL), counted with the app's
    extra_cpu: Callable[[], float] = lambda: 0.0
    _engine: sa.Engine | None = None

    def rows(self, sql: str, **params) -> list[tuple]:
        """A read from the bench's side, on a connection of its own closed right after."""
        if self._engine is None:
            self._engine = sa.create_engine(self.url, poolclass=NullPool)
        statement = sa.text(sql)
        for name, value in params.items():
            if isinstance(value, list | tuple):
                statement = statement.bindparams(sa.bindparam(name, expanding=True))
        with self._engine.connect() as conn:
            return [tuple(r) for r in conn.execute(statement, params)]

    def scalar(self, sql: str, **params):
        return self.rows(sql, **params)[0][0]


def database(ctx: Ctx, name: str) -> Database:
    """The seeded database for an engine, prepared on first use."""
    if name not in ctx.dbs:
        ctx.dbs[name] = prepare_database(ctx, name)
    return ctx.dbs[name]


def prepare_database(ctx: Ctx, name: str) -> Database:
    """A fresh database from the migrations, seeded; the codes split between the uses; the
    reference's table created beside it."""
    started = time.monotonic()
    extra_cpu: Callable[[], float] = lambda: 0.0  # noqa: E731
    if name == "sqlite":
        url, bare_url = f"sqlite:///{ctx.tmp / 'app.db'}", f"sqlite:///{ctx.tmp / 'bare.db'}"
    else:
        ctx.pg = ctx.pg or PgServer.start()
        admin = sa.create_engine(ctx.pg.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE experience"))
            conn.execute(sa.text("CREATE DATABASE bare"))
        url, bare_url, extra_cpu = ctx.pg.url("experience"), ctx.pg.url("bare"), ctx.pg.cpu_seconds
    env = subprocess_env(
        {
            "EXPERIENCE_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": url,
            "RATELIMIT_STORAGE_URI": f"sqlitefile:///{ctx.tmp / f'limits-{name}.db'}",
            "UPLOAD_DIR": str(ctx.tmp / f"uploads-{name}"),
            "PUBLIC_BASE_URL": "http://127.0.0.1:8000",  # replaced by the server's own address
        }
    )
    run([tool("flask"), "--app", "wsgi", "db", "upgrade"], env=env, cwd=ROOT, what=f"db upgrade ({name})")
    seed = ctx.tmp / f"seed-{name}"
    args = ctx.args
    run(
        [tool("python"), str(BENCH / "seed.py"), "--guests", str(args.guests), "--tokens", str(args.tokens)]
        + ["--checked-in", str(args.checked_in), "--out", str(seed)],
        env=env,
        cwd=ROOT,
        what=f"seed ({name})",
        timeout=900,
    )
    bare_env = subprocess_env({"DATABASE_URL": bare_url})
    run([tool("python"), str(BENCH / "bare.py"), "init"], env=bare_env, cwd=BENCH, what=f"bare init ({name})")
    if name != "sqlite":
        # A bulk load of 300,000 rows leaves PostgreSQL work to do (autovacuum and analyze,
        # hint bits set by the first reads); done during the first measured run it was
        # counted as that run's CPU (the API's 33 ms a check-in at one connection, against
        # the phone's 6 ms right after it). A real database has long done it: do it now.
        for database_url in (url, bare_url):
            engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            with engine.connect() as conn:
                conn.execute(sa.text("VACUUM (ANALYZE)"))
                conn.execute(sa.text("CHECKPOINT"))
            engine.dispose()
    codes = (seed / "codes.txt").read_text().split()
    storm = args.storm_codes
    rest = codes[2 * storm :]
    pools = {
        "storm-api": CodePool("storm-api", codes[:storm]),
        "storm-phone": CodePool("storm-phone", codes[storm : 2 * storm]),
        "api": CodePool("api", rest[0::2]),
        "phone": CodePool("phone", rest[1::2]),
        "rating": CodePool("rating", (seed / "checked_in.txt").read_text().split()),
    }
    (seed / "codes.txt").unlink()
    tokens_file = seed / "tokens.txt"
    db = Database(name, url, bare_url, env, tokens_file, tokens_file.read_text().split(), pools, extra_cpu)
    log(
        f"{name} database migrated and seeded: {args.guests} guests ({args.checked_in} of them checked in), "
        f"{len(db.tokens)} API tokens ({time.monotonic() - started:.1f} s)"
    )
    return db


# -- The context shared by the parts ----------------------------------------------------------


@dataclass
class Ctx:
    args: argparse.Namespace
    tmp: Path
    figures: Figures = field(default_factory=dict)
    #: every server running, to stop on the way out
    servers: list[Server] = field(default_factory=list)
    dbs: dict[str, Database] = field(default_factory=dict)
    pg: PgServer | None = None
    #: the app's server (one at a time) and the setup it serves
    app: Server | None = None
    app_setup: Setup | None = None
    bare_done: set[Setup] = field(default_factory=set)
    #: the bare insert's server of a setup, kept up beside the app's for the paired rounds
    bare_servers: dict[Setup, Server] = field(default_factory=dict)
    #: ratio figure -> the cpu_other_pct figures of the runs it compares
    ratio_runs: dict[str, tuple[str, ...]] = field(default_factory=dict)


def connections(ctx: Ctx, setup: Setup) -> list[int]:
    return ctx.args.sync_connections if setup.sync else ctx.args.connections


def launch(ctx: Ctx, name: str, app_spec: str, env: dict, chdir: Path, setup: Setup, db: Database) -> Server:
    port = free_port()
    env = dict(env, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    server = start_server(name, app_spec, env, port, chdir, ctx.tmp, gunicorn=tool("gunicorn"), sync=setup.sync)
    server.extra_cpu = db.extra_cpu
    ctx.servers.append(server)
    return server


def stop(ctx: Ctx, server: Server, graceful: bool = False) -> None:
    if server in ctx.servers:
        ctx.servers.remove(server)
    if ctx.app is server:
        ctx.app = ctx.app_setup = None
    stop_server(server, graceful=graceful)


def app_server(ctx: Ctx, setup: Setup) -> Server:
    """The app under gunicorn on the setup's seeded database: the running one, or a new
    one. One app server at a time, so no idle one holds memory or connections."""
    if ctx.app is not None and ctx.app_setup == setup:
        return ctx.app
    stop_app(ctx)
    db = database(ctx, setup.db)
    ctx.app = launch(ctx, f"app-{setup.db}" + ("-sync" if setup.sync else ""), "wsgi:app", db.env, ROOT, setup, db)
    ctx.app_setup = setup
    return ctx.app


def stop_app(ctx: Ctx) -> None:
    """Gracefully: wrk stops with requests still in the server's hands, which finish
    before anything is counted in the database."""
    if ctx.app is not None:
        stop(ctx, ctx.app, graceful=True)


def bare_reference(ctx: Ctx, setup: Setup) -> None:
    """The reference for a setup, measured once: bench/bare.py into the same engine, under
    the same workers, one ORM INSERT + commit per request (figures ``bare<suffix>.*``)."""
    if setup in ctx.bare_done:
        return
    db = database(ctx, setup.db)
    stop_app(ctx)
    env = subprocess_env({"DATABASE_URL": db.bare_url})
    name = f"bare-{setup.db}" + ("-sync" if setup.sync else "")
    server = launch(ctx, name, "bare:app", env, BENCH, setup, db)
    try:
        figures, totals = run_ladder(ctx, f"bare{setup.suffix}", server, "/insert", "bare.lua", setup)
    finally:
        stop(ctx, server)
    figures[f"bare{setup.suffix}.errors"] = (totals["errors"], "count")
    ctx.figures.update(figures)
    ctx.bare_done.add(setup)


# -- wrk ------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    connections: int
    data: dict

    @property
    def rps(self) -> float:
        return self.data["requests"] / (self.data["duration_us"] / 1e6)

    @property
    def p99_ms(self) -> float:
        return self.data["latency_us"]["p99"] / 1000

    @property
    def errors(self) -> int:
        """Answers other than the expected one (429 included) plus socket errors."""
        e = self.data["errors"]
        return self.data["unexpected"] + e["connect"] + e["read"] + e["write"] + e["timeout"]

    @property
    def expected_answers(self) -> int:
        return self.data["requests"] - self.data["unexpected"]


def run_wrk(
    ctx: Ctx, url: str, script: str, connections: int, duration: int, args: list[str], timeout: int = 5
) -> WrkResult:
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", "--threads", str(threads), "--connections", str(connections), "--duration", f"{duration}s"]
    cmd += ["--timeout", f"{timeout}s", "--latency", "--script", script, url, "--"]
    cmd += [a.replace("{threads}", str(threads)) for a in args]
    try:
        done = subprocess.run(cmd, cwd=BENCH, capture_output=True, text=True, timeout=duration + 60)
    except FileNotFoundError as e:
        raise BenchBroken("wrk is not installed (apt-get install wrk, or run `make bench` as root)") from e
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise BenchBroken(f"wrk failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    if ctx.args.verbose:
        print(done.stdout, file=sys.stderr)
    return WrkResult(connections, json.loads(line[len("BENCH_JSON ") :]))


def run_ladder(
    ctx: Ctx,
    prefix: str,
    server: Server,
    path: str,
    script: str,
    setup: Setup,
    *,
    pool: CodePool | None = None,
    extra_args: Callable[[str], list[str]] = lambda tag: [],
    levels: list[int] | None = None,
    timeout: int = 5,
    warmup: bool = True,
    duration: int | None = None,
) -> tuple[Figures, dict]:
    """One flow: a short warm-up, then every concurrency (the setup's, or ``levels``) for
    --duration seconds; a request unanswered after ``timeout`` seconds counts as an error.

    Figures: ``<prefix>.rps_at_<c>``, ``<prefix>.p99_ms_at_<c>``, ``<prefix>.errors_at_<c>``,
    ``<prefix>.cpu_ms_per_req_at_<c>`` (the server's CPU time per answered request),
    ``<prefix>.cpu_other_pct_at_<c>`` (other work on the machine meanwhile).
    Also returns totals: errors and expected answers over the measured runs; requests
    sent, answered and unexpected answers over all runs, the warm-up included (every one of
    them may have written to the database).
    """
    url = server.url + path
    figures: Figures = {}
    totals = {"errors": 0, "expected": 0, "statuses": {}, "sent": 0, "answered": 0, "unexpected": 0}
    plan = [("warmup", 8, ctx.args.warmup)] if warmup and ctx.args.warmup > 0 else []
    plan += [(f"c{c}", c, duration or ctx.args.duration) for c in levels or connections(ctx, setup)]
    for label, c, duration in plan:
        tag = f"{prefix}-{label}-{secrets.token_hex(3)}"
        args = []
        codes_file = None
        if pool is not None:
            codes_file = pool.file_for_run(ctx.tmp)
            args = [str(codes_file), "{threads}"]
        before = CpuSnapshot.take(server)
        result = run_wrk(ctx, url, script, c, duration, args + extra_args(tag), timeout)
        after = CpuSnapshot.take(server)
        d = result.data
        cpu_ms = 1000 * (after.server - before.server) / max(1, d["requests"])
        other = before.other_percent(after)
        if pool is not None:
            pool.used(d["max_sent_per_thread"] * d["threads"])
            codes_file.unlink()
        log(
            f"{prefix} {label}: {result.rps:8.1f} req/s  p50 {d['latency_us']['p50'] / 1000:6.1f} ms  "
            f"p99 {result.p99_ms:6.1f} ms  max {d['latency_us']['max'] / 1000:7.1f} ms  "
            f"cpu {cpu_ms:5.2f} ms/req  other {other:4.1f}%  errors {result.errors} {d['unexpected_statuses'] or ''}"
            + (f"  codes left {pool.left}" if pool is not None else "")
        )
        if d["exhausted"]:
            raise BenchBroken(
                f"{prefix} {label}: {d['exhausted']} requests found no fresh code left: seed more (--guests)"
            )
        totals["sent"] += d["sent"]
        totals["answered"] += d["requests"]
        totals["unexpected"] += d["unexpected"]
        for status, n in d["unexpected_statuses"].items():
            totals["statuses"][status] = totals["statuses"].get(status, 0) + n
        if label == "warmup":
            continue
        figures[f"{prefix}.rps_at_{c}"] = (round(result.rps, 1), "req/s")
        figures[f"{prefix}.p99_ms_at_{c}"] = (round(result.p99_ms, 1), "ms")
        figures[f"{prefix}.errors_at_{c}"] = (result.errors, "count")
        figures[f"{prefix}.cpu_ms_per_req_at_{c}"] = (round(cpu_ms, 2), "ms")
        figures[f"{prefix}.cpu_other_pct_at_{c}"] = (other, "%")
        totals["errors"] += result.errors
        totals["expected"] += result.expected_answers
    return figures, totals


def ratios_to_bare(ctx: Ctx, figures: Figures, prefix: str, setup: Setup, c: int | None = None) -> Figures:
    """The flow against the setup's bare insert at the top concurrency (or ``c``), from the
    ladders (each measured once, minutes apart): req/s, CPU time per request (the
    reference's over the flow's: 1.0 means as cheap as the bare insert) and p99 (the
    flow's over the reference's: 1.0 means as fast). Named ``*.ladder_*``: the headline
    ratios come from the paired rounds (``paired_ratios``)."""
    c = c or max(connections(ctx, setup))
    bare = f"bare{setup.suffix}"
    known = {**ctx.figures, **figures}

    def get(name: str) -> float:
        return known.get(name, (0, ""))[0]

    out: Figures = {
        f"{prefix}.ladder_rps_ratio_to_bare_insert": (
            _ratio(get(f"{prefix}.rps_at_{c}"), get(f"{bare}.rps_at_{c}")),
            "ratio",
        ),
        f"{prefix}.ladder_cpu_ratio_to_bare_insert": (
            _ratio(get(f"{bare}.cpu_ms_per_req_at_{c}"), get(f"{prefix}.cpu_ms_per_req_at_{c}")),
            "ratio",
        ),
    }
    for name in out:
        ctx.ratio_runs[name] = (f"{prefix}.cpu_other_pct_at_{c}", f"{bare}.cpu_other_pct_at_{c}")
    return out


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if a and b else 0


def bare_server(ctx: Ctx, setup: Setup) -> Server:
    """The setup's bare insert under gunicorn, kept up (idle between its runs) until
    ``stop_bare``."""
    if setup not in ctx.bare_servers:
        db = database(ctx, setup.db)
        env = subprocess_env({"DATABASE_URL": db.bare_url})
        name = f"bare-{setup.db}" + ("-sync" if setup.sync else "") + "-paired"
        ctx.bare_servers[setup] = launch(ctx, name, "bare:app", env, BENCH, setup, db)
    return ctx.bare_servers[setup]


def stop_bare(ctx: Ctx) -> None:
    for server in ctx.bare_servers.values():
        stop(ctx, server)
    ctx.bare_servers.clear()


def paired_ratios(
    ctx: Ctx, setup: Setup, prefix: str, server: Server, c: int, ladder: Callable[..., tuple[Figures, dict]]
) -> tuple[Figures, dict]:
    """The headline ratios, from ``--paired-rounds`` rounds at concurrency ``c``: the bare
    insert for ``--paired-duration`` seconds, then the flow as long, both servers up (the
    one not measured idles). This machine's speed drifts by a third from one minute to
    the next (other tenants of the host: the bare insert at 32 connections did 741 and
    1,248 req/s in two runs an hour apart, with no other process busy); a ratio of runs
    seconds apart sees the same machine. Each ratio is the median of the rounds'.
    ``ladder(levels=…, warmup=…, duration=…)`` runs the flow; its totals are returned (its
    requests wrote check-ins too)."""
    bare = bare_server(ctx, setup)
    rounds: list[tuple[WrkRun, WrkRun]] = []
    totals: dict = {}
    for r in range(ctx.args.paired_rounds):
        run = dict(levels=[c], warmup=r == 0, duration=ctx.args.paired_duration)
        reference, _ = run_ladder(ctx, f"paired.bare{setup.suffix}", bare, "/insert", "bare.lua", setup, **run)
        flow, found = ladder(**run)
        totals = _add_totals(totals, found)
        rounds.append((WrkRun.of(reference, f"paired.bare{setup.suffix}", c), WrkRun.of(flow, prefix, c)))

    def median(values: list[float]) -> float:
        return round(sorted(values)[len(values) // 2], 3)

    out: Figures = {
        f"{prefix}.rps_ratio_to_bare_insert": (median([_ratio(f.rps, b.rps) for b, f in rounds]), "ratio"),
        f"{prefix}.cpu_ratio_to_bare_insert": (median([_ratio(b.cpu_ms, f.cpu_ms) for b, f in rounds]), "ratio"),
        f"{prefix}.p99_ratio_to_bare_at_{c}": (median([_ratio(f.p99_ms, b.p99_ms) for b, f in rounds]), "ratio"),
        f"{prefix}.paired_rps": (" / ".join(f"{f.rps:.0f}:{b.rps:.0f}" for b, f in rounds), "flow:bare req/s"),
        f"{prefix}.paired_cpu_other_pct": (max(max(b.other, f.other) for b, f in rounds), "%"),
    }
    for name in list(out)[:3]:
        ctx.ratio_runs[name] = (f"{prefix}.paired_cpu_other_pct",)
    return out, totals


@dataclass
class WrkRun:
    """One run's figures as run_ladder names them."""

    rps: float
    cpu_ms: float
    p99_ms: float
    other: float

    @classmethod
    def of(cls, figures: Figures, prefix: str, c: int) -> WrkRun:
        def get(what: str) -> float:
            return figures[f"{prefix}.{what}_at_{c}"][0]

        return cls(get("rps"), get("cpu_ms_per_req"), get("p99_ms"), get("cpu_other_pct"))


def _add_totals(a: dict, b: dict) -> dict:
    if not a:
        return b
    out = {k: a[k] + b[k] for k in a if k != "statuses"}
    out["statuses"] = dict(a["statuses"])
    for status, n in b["statuses"].items():
        out["statuses"][status] = out["statuses"].get(status, 0) + n
    return out


def log_statuses(server: Server, prefix: str, totals: dict) -> None:
    for status, n in sorted(totals["statuses"].items()):
        log(f"{prefix}: {n} answers {status}")
    if any(status.startswith("5") for status in totals["statuses"]):
        for line in server_errors(server):
            log(f"app log: {line}")


def server_errors(server: Server, limit: int = 3) -> list[str]:
    """The last distinct exception lines in a server's log (what a 500 was about)."""
    found: list[str] = []
    for line in reversed(tail(server.log_path, 2000).splitlines()):
        line = line.strip()
        if (
            line
            and not line.startswith(("File ", "^", "["))
            and ("Error" in line or "Exception" in line)
            and line not in found
        ):
            found.append(line[:300])
            if len(found) == limit:
                break
    return found


# -- What the database says -------------------------------------------------------------------


def ok_scans_by_via(db: Database) -> dict[str, int]:
    return dict(db.rows("SELECT via, count(*) FROM scan WHERE result = 'ok' GROUP BY via"))


def exactly_once(db: Database) -> Figures:
    """From the database, with no server running: at most one 'ok' scan per guest; as many
    guests checked in as 'ok' scans; no 'ok' scan for a guest who is not checked in."""
    prefix = "checkin" if db.name == "sqlite" else f"checkin.{db.name}"
    ok_scans = db.scalar("SELECT count(*) FROM scan WHERE result = 'ok'")
    checked_in = db.scalar("SELECT count(*) FROM guest WHERE checked_in_at IS NOT NULL")
    duplicated = db.scalar(
        "SELECT count(*) FROM (SELECT guest_id FROM scan WHERE result = 'ok' GROUP BY guest_id HAVING count(*) > 1) d"
    )
    orphaned = db.scalar(
        "SELECT count(*) FROM scan s LEFT JOIN guest g ON g.id = s.guest_id "
        "WHERE s.result = 'ok' AND g.checked_in_at IS NULL"
    )
    holds = duplicated == 0 and orphaned == 0 and ok_scans == checked_in
    if not holds:
        log(
            f"EXACTLY-ONCE VIOLATED ({db.name}): {ok_scans} ok scans, {checked_in} guests checked in, "
            f"{duplicated} guests with several ok scans, {orphaned} ok scans without a checked-in guest"
        )
    return {
        f"{prefix}.exactly_once": (int(holds), "bool"),
        f"{prefix}.ok_scans": (ok_scans, "count"),
        f"{prefix}.guests_checked_in": (checked_in, "count"),
    }


def fresh_checked_in(prefix: str, totals: dict, check_ins: int) -> Figures:
    """Every request of a check-in ladder carried a fresh code, so every answer should say
    "checked in", and the database should hold one new check-in per such answer (and no
    more than requests were sent: wrk stops with some in flight, which may still land)."""
    ok_answers = totals["answered"] - totals["unexpected"]
    holds = totals["unexpected"] == 0 and ok_answers <= check_ins <= totals["sent"]
    if not holds:
        log(
            f"{prefix}: FRESH CODES NOT ALL CHECKED IN: {totals['sent']} sent, {totals['answered']} answered, "
            f"{ok_answers} answered as checked in, {totals['unexpected']} answered otherwise "
            f"{totals['statuses']}, {check_ins} new check-ins in the database"
        )
    return {
        f"{prefix}.ok_answers": (ok_answers, "count"),
        f"{prefix}.unexpected_answers": (totals["unexpected"], "count"),
        f"{prefix}.check_ins": (check_ins, "count"),
        f"{prefix}.fresh_checked_in": (int(holds), "bool"),
    }


# -- The parts ------------------------------------------------------------------------------


def sample_check_ins(ctx: Ctx, db: Database, server: Server) -> Figures:
    """One check-in of each kind outside wrk, each sent twice, the answers' bodies read:
    the first must say checked in, the repeat must not (which proves OK_MARKER still tells
    the phone's two 200 pages apart)."""
    api_code, phone_code = db.pools["api"].take(1)[0], db.pools["phone"].take(1)[0]

    def api(nonce: str) -> tuple[int, str]:
        req = urllib.request.Request(
            server.url + "/api/v1/checkins",
            method="POST",
            data=json.dumps({"code": api_code, "nonce": nonce}).encode(),
            headers={"Authorization": f"Bearer {db.tokens[0]}", "Content-Type": "application/json"},
        )
        status, body = fetch(req)
        with contextlib.suppress(ValueError):
            return status, json.loads(body).get("result", "")
        return status, ""

    def phone() -> tuple[int, bool]:
        req = urllib.request.Request(
            server.url + "/c/" + phone_code,
            method="POST",
            data=b"consent=y",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        status, body = fetch(req)
        return status, OK_MARKER in body

    first, repeat = api(f"sample-{secrets.token_hex(4)}"), api(f"sample-{secrets.token_hex(4)}")
    api_ok = first == (201, "ok") and repeat == (200, "already_checked_in")
    first_tap, second_tap = phone(), phone()
    phone_ok = first_tap == (200, True) and second_tap == (200, False)
    if not api_ok:
        log(f"API sample: {first} then {repeat}, expected (201, 'ok') then (200, 'already_checked_in')")
    if not phone_ok:
        log(
            f"phone sample: {first_tap} then {second_tap} (status, page carries {OK_MARKER!r}), expected "
            "(200, True) then (200, False): a tap that checks in, then one that finds the guest checked in"
        )
    return {"api": int(api_ok), "phone": int(phone_ok)}


def fetch(req: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except urllib.error.URLError as e:
        log(f"sample request failed: {e}")
        return 0, ""


def part_checkin(ctx: Ctx, setup: Setup) -> Figures:
    """The scanner API and the phone's tap against the setup's bare insert; then, from the
    database, whether every fresh code answered as checked in was checked in."""
    bare_reference(ctx, setup)
    db = database(ctx, setup.db)
    server = app_server(ctx, setup)
    samples = sample_check_ins(ctx, db, server)
    before = ok_scans_by_via(db)
    figures: Figures = {}
    totals = {}
    for flow, path, script, args in (
        ("api", "/api/v1/checkins", "checkin_api.lua", lambda tag: [str(db.tokens_file), tag]),
        ("phone", "/c/", "checkin_phone.lua", lambda tag: [OK_MARKER]),
    ):
        prefix = f"checkin.{flow}{setup.suffix}"
        ladder = functools.partial(
            run_ladder, ctx, prefix, server, path, script, setup, pool=db.pools[flow], extra_args=args
        )
        found, totals[flow] = ladder()
        figures.update(found)
        figures.update(ratios_to_bare(ctx, figures, prefix, setup))
        if not setup.sync:  # (sync workers are reported beside, without goals: their ladder's ratios)
            paired, more = paired_ratios(ctx, setup, prefix, server, max(connections(ctx, setup)), ladder)
            figures.update(paired)
            totals[flow] = _add_totals(totals[flow], more)
        figures[f"{prefix}.sample_ok"] = (samples[flow], "bool")
        log_statuses(server, prefix, totals[flow])
    stop_app(ctx)
    stop_bare(ctx)
    after = ok_scans_by_via(db)
    for flow in ("api", "phone"):
        new = after.get(flow, 0) - before.get(flow, 0)
        figures.update(fresh_checked_in(f"checkin.{flow}{setup.suffix}", totals[flow], new))
    sample_errors = 2 - samples["api"] - samples["phone"]
    errors = totals["api"]["errors"] + totals["phone"]["errors"] + sample_errors
    figures[f"checkin{setup.suffix}.errors"] = (errors, "count")
    return figures


def rating_form(db: Database) -> list[tuple[str, str]]:
    """Every question at four stars, and a comment."""
    dims = [row[0] for row in db.rows("SELECT id FROM rating_dimension WHERE retired_at IS NULL")]
    return [(f"d{d}", "4") for d in dims] + [("comment", "很好"), ("display", "category")]


def text_body(ctx: Ctx, fields: list[tuple[str, str]]) -> tuple[Path, str]:
    """The text-only submit: (file of the body, its content type)."""
    path = ctx.tmp / "rating-text.body"
    path.write_bytes(urllib.parse.urlencode(fields).encode())
    return path, "application/x-www-form-urlencoded"


def photo_body(ctx: Ctx, fields: list[tuple[str, str]]) -> tuple[Path, str]:
    """The submit with a photo: the same answers, a JPEG of PHOTO_SIZE (a smooth picture
    with some grain, about what a phone's camera gives) and the consent to show it."""
    from PIL import Image

    image = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(PHOTO_SIZE),
            Image.effect_noise(PHOTO_SIZE, 12),
            Image.radial_gradient("L").resize(PHOTO_SIZE),
        ),
    )
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=90)
    boundary = f"bench{secrets.token_hex(8)}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in [*fields, ("photo_consent", "y")]
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + jpeg.getvalue()
        + b"\r\n"
    )
    path = ctx.tmp / "rating-photo.body"
    path.write_bytes(b"".join(parts) + f"--{boundary}--\r\n".encode())
    log(f"rating photo: {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEG, {len(jpeg.getvalue()) // 1024} KB")
    return path, f"multipart/form-data; boundary={boundary}"


def part_rating(ctx: Ctx, setup: Setup, *, photo: bool = True) -> Figures:
    """Guests checked in at the desk (seeded) rate the event: POST /c/<code>/rate, every
    star, text only (``rating.submit``) and with a photo (``rating.submit_photo``, at
    --photo-connections: a photo takes a worker's thread for long, so at 32 connections
    every request would wait past wrk's timeout); every answer must be the thank-you page,
    and the ratings are counted in the database."""
    bare_reference(ctx, setup)
    db = database(ctx, setup.db)
    server = app_server(ctx, setup)
    fields = rating_form(db)
    kinds = [("submit", text_body(ctx, fields), None, 5)]
    if photo:
        kinds.append(("submit_photo", photo_body(ctx, fields), ctx.args.photo_connections, 30))
    before = db.scalar("SELECT count(*) FROM rating")
    figures: Figures = {}
    ok_answers = unexpected = errors = 0
    for kind, (body, content_type), levels, timeout in kinds:
        prefix = f"rating.{kind}{setup.suffix}"
        ladder = functools.partial(
            run_ladder,
            ctx,
            prefix,
            server,
            "/c/",
            "rating_submit.lua",
            setup,
            pool=db.pools["rating"],
            extra_args=lambda tag, body=body, content_type=content_type: [str(body), content_type, OK_MARKER],
            timeout=timeout,
        )
        found, totals = ladder(levels=levels)
        figures.update(found)
        top = max(levels or connections(ctx, setup))
        figures.update(ratios_to_bare(ctx, figures, prefix, setup, top))
        if kind == "submit":  # the goal's flow (the photo's figures stay the ladder's)
            paired, more = paired_ratios(ctx, setup, prefix, server, top, ladder)
            figures.update(paired)
            totals = _add_totals(totals, more)
        log_statuses(server, prefix, totals)
        ok_answers += totals["answered"] - totals["unexpected"]
        unexpected += totals["unexpected"]
        errors += totals["errors"]
    stop_app(ctx)
    stop_bare(ctx)
    saved = db.scalar("SELECT count(*) FROM rating") - before
    if saved < ok_answers:
        log(f"rating{setup.suffix}: {ok_answers} thank-you pages but only {saved} new ratings in the database")
    figures[f"rating{setup.suffix}.ok_answers"] = (ok_answers, "count")
    figures[f"rating{setup.suffix}.unexpected_answers"] = (unexpected, "count")
    figures[f"rating{setup.suffix}.ratings_saved"] = (saved, "count")
    figures[f"rating{setup.suffix}.errors"] = (errors, "count")
    return figures


def part_storm(ctx: Ctx, setup: Setup) -> Figures:
    """The duplicate storm (bench/storm.py), by the API and by the phone, then the
    database: each storm guest checked in exactly once, and one 'ok' answer per code."""
    db = database(ctx, setup.db)
    server = app_server(ctx, setup)
    prefix = f"checkin.storm.{setup.db}"
    n, tag = ctx.args.storm_connections, secrets.token_hex(3)
    flows = {
        "api": (
            lambda code, conn, i: Request(
                "/api/v1/checkins",
                json.dumps({"code": code, "nonce": f"storm-{tag}-{conn}-{i}"}).encode(),
                {"Authorization": f"Bearer {db.tokens[conn % len(db.tokens)]}", "Content-Type": "application/json"},
            ),
            classify_api,
        ),
        "phone": (
            lambda code, conn, i: Request(
                f"/c/{code}", b"consent=y", {"Content-Type": "application/x-www-form-urlencoded"}
            ),
            classify_page(OK_MARKER),
        ),
    }
    figures: Figures = {}
    codes: list[str] = []
    several_ok = not_once = server_errors_total = ok_total = 0
    for flow, (request, classify) in flows.items():
        flow_codes = db.pools[f"storm-{flow}"].take(ctx.args.storm_codes)
        codes += flow_codes
        result = run_storm(server.port, flow_codes, n, request, classify)
        a = result.answers
        log(
            f"storm {setup.db} {flow}: {len(flow_codes)} codes × {n} connections, {result.requests} requests "
            f"in {result.seconds} s: " + ", ".join(f"{k} {a[k]}" for k in sorted(a))
        )
        several_ok += result.codes_answered_ok_more_than_once
        not_once += result.codes - result.codes_answered_ok(1)
        server_errors_total += a["server_error"]
        ok_total += a["ok"]
        p = f"{prefix}.{flow}"
        figures[f"{p}.requests"] = (result.requests, "count")
        figures[f"{p}.seconds"] = (result.seconds, "s")
        figures[f"{p}.ok_answers"] = (a["ok"], "count")
        figures[f"{p}.already_answers"] = (a["already"], "count")
        figures[f"{p}.limited"] = (a["limited"], "count")
        figures[f"{p}.server_errors"] = (a["server_error"], "count")
        figures[f"{p}.other_errors"] = (a["unexpected"] + a["socket_error"], "count")
        if a["server_error"]:
            for line in server_errors(server):
                log(f"app log: {line}")
    stop_app(ctx)
    rows = db.rows(
        "SELECT g.checked_in_at IS NOT NULL, "
        "(SELECT count(*) FROM scan s WHERE s.guest_id = g.id AND s.result = 'ok') "
        "FROM guest g WHERE g.code IN :codes",
        codes=codes,
    )
    once = sum(1 for checked_in, oks in rows if checked_in and oks == 1)
    holds = once == len(codes) and several_ok == 0
    if not holds:
        log(
            f"STORM EXACTLY-ONCE VIOLATED ({setup.db}): {once} of {len(codes)} guests checked in with exactly "
            f"one ok scan; {several_ok} codes answered 'ok' more than once"
        )
    figures[f"{prefix}.exactly_once"] = (int(holds), "bool")
    figures[f"{prefix}.ok_answers"] = (ok_total, "count")
    figures[f"{prefix}.codes_without_one_ok_answer"] = (not_once, "count")
    figures[f"{prefix}.server_errors"] = (server_errors_total, "count")
    return figures


def part_reports(ctx: Ctx) -> Figures:
    """Summary PDFs against a fixed reference document, and the live ratings page (bench/reports.py)."""
    out = run(
        [
            tool("python"),
            str(BENCH / "reports.py"),
            "--db",
            str(ctx.tmp / "reports.db"),
            "--uploads",
            str(ctx.tmp / "reports-uploads"),
            "--events-per-province",
            str(ctx.args.summary_events),
        ],
        env=subprocess_env({}),
        cwd=ROOT,
        what="reports bench",
        timeout=900,
    )
    return {k: (v[0], v[1]) for k, v in json.loads(out.strip().splitlines()[-1]).items()}


def part_printouts(ctx: Ctx) -> Figures:
    """Invitation cards and the sign-in sheet for 100 and for 5,000 guests (bench/printouts.py,
    a fresh process each): cost per guest should not grow with the list, memory stay bounded."""
    figures: Figures = {}
    for what, name in (("invitations", "invitations"), ("sheet", "sign_in_sheet")):
        runs = {}
        for guests in (100, ctx.args.print_guests):
            tag = f"{what}-{guests}"
            out = run(
                [
                    tool("python"),
                    str(BENCH / "printouts.py"),
                    "--db",
                    str(ctx.tmp / f"print-{tag}.db"),
                    "--uploads",
                    str(ctx.tmp / f"print-{tag}"),
                    "--guests",
                    str(guests),
                    "--what",
                    what,
                ],
                env=subprocess_env({}),
                cwd=ROOT,
                what=f"printout bench ({tag})",
                timeout=1800,
            )
            runs[guests] = json.loads(out.strip().splitlines()[-1])
            log(f"print {tag}: {runs[guests]}")
        small, big = runs[100], runs[ctx.args.print_guests]
        per_small, per_big = small["seconds"] / 100, big["seconds"] / ctx.args.print_guests
        figures[f"print.{name}_100_s"] = (small["seconds"], "s")
        figures[f"print.{name}_{ctx.args.print_guests}_s"] = (big["seconds"], "s")
        figures[f"print.{name}_{ctx.args.print_guests}_pages"] = (big["pages"], "count")
        figures[f"print.{name}_growth_ratio"] = (round(per_big / per_small, 3) if per_small else 0, "ratio")
        figures[f"print.{name}_{ctx.args.print_guests}_peak_rss_mb"] = (big["peak_rss_mb"], "MB")
    return figures


@dataclass(frozen=True)
class Part:
    name: str
    run: Callable[[Ctx], Figures]
    about: str
    #: the setup whose bare reference it measures first, if not measured yet
    setup: Setup | None = None
    #: the concurrencies of each wrk ladder it drives besides the reference (for the estimate)
    ladders: Callable[[argparse.Namespace], list[list[int]]] = lambda args: []
    storm: bool = False
    #: flows whose headline ratios come from paired rounds (``paired_ratios``)
    paired: int = 0


#: run in this order; ``--only`` picks some (their references and databases come along)
PARTS = [
    Part(
        "checkin",
        lambda ctx: part_checkin(ctx, SQLITE),
        "SQLite, deployed workers: bare insert, API, phone (the headline)",
        SQLITE,
        lambda a: [a.connections] * 2,
        paired=2,
    ),
    Part(
        "rating",
        lambda ctx: part_rating(ctx, SQLITE),
        "SQLite, deployed workers: rating submit, text only and with a photo",
        SQLITE,
        lambda a: [a.connections, a.photo_connections],
        paired=1,
    ),
    Part(
        "sync",
        lambda ctx: part_checkin(ctx, SQLITE_SYNC),
        "SQLite, sync workers: bare insert, API, phone",
        SQLITE_SYNC,
        lambda a: [a.sync_connections] * 2,
    ),
    Part("storm", lambda ctx: part_storm(ctx, SQLITE), "SQLite: the duplicate storm, API and phone", storm=True),
    Part(
        "pg-checkin",
        lambda ctx: part_checkin(ctx, PG),
        "PostgreSQL, deployed workers: bare insert, API, phone",
        PG,
        lambda a: [a.connections] * 2,
        paired=2,
    ),
    Part(
        "pg-rating",
        lambda ctx: part_rating(ctx, PG, photo=False),
        "PostgreSQL, deployed workers: rating submit, text only",
        PG,
        lambda a: [a.connections],
        paired=1,
    ),
    Part("pg-storm", lambda ctx: part_storm(ctx, PG), "PostgreSQL: the duplicate storm, API and phone", storm=True),
    Part("reports", part_reports, "summary PDFs and the live ratings page (bench/reports.py)"),
    Part("printouts", part_printouts, "invitation cards and sign-in sheets, 100 and 5,000 guests"),
    Part("works", part_works, "a 3-minute 1080p video checked: brand, durations, last second, poster"),
    Part("uploads", part_uploads, "a 500 MB video through the resumable upload (tus) against a raw write"),
    Part("works-list", part_works_list, "the works desk's first page with 50, 100 and 5,000 works"),
    Part("works-zip", part_works_zip, "a 1 GB selection of works streamed as a zip: the worker's memory"),
    Part("screening-assign", part_screening_assign, "assigning 200 and 2,000 works to 40 experts, 3 each (in process)"),
    Part("works-dedupe", part_works_dedupe, "the duplicate search over 200 and 2,000 photos' hashes (in process)"),
    Part("works-platform", part_works_platform, "the public works list with 20 and 500 selected works (in process)"),
    Part(
        "display",
        lambda ctx: part_display(ctx, sys.modules[__name__]),
        "200 screens polling: blank latency, check-in API with and without them, memory (bench/display.py)",
        # its ratio from paired rounds too (without the screens, then with them), so counted
        # as one paired flow: a warm-up more than it runs (only its first run has one)
        paired=1,
    ),
]
GROUPS = {
    "sqlite": ["checkin", "rating", "sync", "storm"],
    "pg": ["pg-checkin", "pg-rating", "pg-storm"],
    "storms": ["storm", "pg-storm"],
    "works-desk": ["works-list", "works-zip"],
    "screening": ["screening-assign", "works-dedupe"],
    "platform": ["works-platform"],
    "display": ["display"],
}


def selected_parts(only: str) -> list[Part]:
    """``--only``: part or group names, comma-separated (``bench_checkin`` as before works too)."""
    if not only:
        return list(PARTS)
    names: set[str] = set()
    for name in filter(None, (x.strip().removeprefix("bench_") for x in only.split(","))):
        if name in GROUPS:
            names.update(GROUPS[name])
        elif any(p.name == name for p in PARTS):
            names.add(name)
        else:
            known = ", ".join([p.name for p in PARTS] + list(GROUPS))
            raise BenchBroken(f"unknown part {name!r} (parts and groups: {known})")
    return [p for p in PARTS if p.name in names]


def planned_load(parts: list[Part], args: argparse.Namespace) -> tuple[int, int, int]:
    """(wrk runs, their seconds, storm requests) the parts will drive, warm-ups included:
    the bench takes this, plus seeding, server starts, reports and printouts."""
    runs = seconds = storm_requests = 0
    references: set[Setup] = set()
    for part in parts:
        ladders = part.ladders(args)
        if part.setup is not None and part.setup not in references:
            references.add(part.setup)
            ladders.append(args.sync_connections if part.setup.sync else args.connections)
        for levels in ladders:
            runs += len(levels) + (args.warmup > 0)
            seconds += len(levels) * args.duration + args.warmup
        storm_requests += 2 * args.storm_codes * args.storm_connections if part.storm else 0
        # each paired round: the bare insert, then the flow; the first of each after a warm-up
        runs += part.paired * (2 * args.paired_rounds + 2 * (args.warmup > 0))
        seconds += part.paired * (2 * args.paired_rounds * args.paired_duration + 2 * args.warmup)
    return runs, seconds, storm_requests


#: (figure, comparison, target): printed, never enforced
GOALS = [
    ("checkin.api.rps_ratio_to_bare_insert", ">=", 0.6),
    ("checkin.api.cpu_ratio_to_bare_insert", ">=", 0.6),
    ("checkin.api.p99_ratio_to_bare_at_32", "<=", 1.5),
    ("checkin.phone.rps_ratio_to_bare_insert", ">=", 0.5),
    ("rating.submit.rps_ratio_to_bare_insert", ">=", 0.5),
    ("checkin.api.pg.rps_ratio_to_bare_insert", ">=", 0.5),
    ("checkin.phone.unexpected_answers", "==", 0),
    ("checkin.errors", "==", 0),
    ("checkin.pg.errors", "==", 0),
    ("checkin.storm.sqlite.exactly_once", "==", 1),
    ("checkin.storm.sqlite.server_errors", "==", 0),
    ("checkin.storm.pg.exactly_once", "==", 1),
    ("checkin.storm.pg.server_errors", "==", 0),
    ("summary.event_pdf_s", "<", 3),
    ("summary.national_pdf_s", "<", 15),
    ("print.invitations_growth_ratio", "<=", 1.5),
    ("print.invitations_5000_peak_rss_mb", "<", 500),
    ("print.sign_in_sheet_growth_ratio", "<=", 1.5),
    ("works.probe_ratio_to_duration", "<=", 0.01),
    ("works.upload.throughput_ratio_to_raw_write", ">=", 0.5),
    ("works.upload.rss_growth_mb", "<", 50),
    ("works.upload.sha256_ok", "==", 1),
    ("works.list_growth_ratio", "<=", 1.5),
    ("works.zip_rss_growth_mb", "<", 50),
    ("works.assign_growth_ratio", "<=", 12),
    ("works.platform_growth_ratio", "<=", 1.5),
    ("works.dedupe_growth_ratio", "<=", 20),
    ("display.blank_latency_ms_p95", "<", 2000),
    ("display.checkin_ratio_with_200_screens", ">=", 0.8),
]


def must_hold(name: str) -> bool:
    """Figures whose failure means the app lost or doubled check-ins: exit status 1."""
    return name.endswith((".exactly_once", ".fresh_checked_in"))


COMPARE = {
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
}


def unreliable(ctx: Ctx, name: str) -> bool:
    """A ratio taken while other work used more than NOISE_LIMIT_PCT of the CPUs (in
    either run it compares, or on the machine before the bench began)."""
    if name not in ctx.ratio_runs:
        return False
    noise = [ctx.figures.get("bench.cpu_busy_before_pct", (0, ""))[0]]
    noise += [ctx.figures.get(run, (0, ""))[0] for run in ctx.ratio_runs[name]]
    return max(noise) > NOISE_LIMIT_PCT


def report(ctx: Ctx) -> None:
    for name, op, target in GOALS:
        if name in ctx.figures:
            value = ctx.figures[name][0]
            verdict = "met" if COMPARE[op](value, target) else "MISSED"
            flag = " (unreliable)" if unreliable(ctx, name) else ""
            print(f"# goal {name} {op} {target}: {value} {verdict}{flag}")
    for name, (value, unit) in ctx.figures.items():
        print(f"{name} {value} {unit}" + (" unreliable" if unreliable(ctx, name) else ""))
    sys.stdout.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parts = "\n".join(f"  {p.name:<11} {p.about}" for p in PARTS)
    groups = "\n".join(f"  {g:<11} {', '.join(names)}" for g, names in GROUPS.items())
    parser = argparse.ArgumentParser(
        description="The check-in benchmark (see the docstring of bench/run.py and bench/README.md).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"parts, in the order they run:\n{parts}\ngroups:\n{groups}\n\n"
        "gunicorn's settings come from gunicorn.conf.py (WEB_CONCURRENCY and WEB_THREADS count).",
    )
    levels = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    parser.add_argument("--only", default="", help="comma-separated parts or groups (below); default all")
    # 8, not 10: the ladders' figures explain the ratios (those come from the paired rounds),
    # and the whole bench has to stay under 30 minutes
    parser.add_argument("--duration", type=int, default=8, help="seconds per ladder run (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each flow")
    parser.add_argument(
        "--paired-rounds", type=int, default=3, help="rounds of bare insert then flow for the headline ratios (3)"
    )
    parser.add_argument("--paired-duration", type=int, default=6, help="seconds of each run of a round (default 6)")
    # 1 and 32 only: the headline ratios come from the paired rounds at 32, and a level of
    # 8 cost every ladder 12 s (the whole bench has to stay under 30 minutes)
    parser.add_argument("--connections", type=levels, default=[1, 32], help="concurrencies (default 1,32)")
    parser.add_argument(
        "--sync-connections", type=levels, default=[32], help="concurrencies on sync workers (default 32)"
    )
    parser.add_argument(
        "--photo-connections", type=levels, default=[1, 8], help="concurrencies of the photo submit (default 1,8)"
    )
    parser.add_argument("--guests", type=int, default=300_000, help="invited guests to seed (default 300000)")
    parser.add_argument(
        "--checked-in",
        type=int,
        default=None,
        help="of them, seeded as checked in: the guests who rate (default a third: 100000)",
    )
    parser.add_argument("--tokens", type=int, default=32, help="scanner API tokens to spread the load over")
    parser.add_argument("--storm-codes", type=int, default=1000, help="codes of each duplicate storm (default 1000)")
    parser.add_argument("--storm-connections", type=int, default=32, help="connections sending every code (default 32)")
    parser.add_argument(
        "--summary-events",
        type=int,
        default=10,
        help="events per province for the national summary (default 10: 320 events)",
    )
    parser.add_argument(
        "--print-guests", type=int, default=5000, help="guests of the big printout (default 5000, the importer's limit)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (its path is logged)")
    parser.add_argument("--verbose", action="store_true", help="show wrk's own output")
    args = parser.parse_args(argv)
    if args.checked_in is None:
        # a rating at 800 req/s spends some 60,000 of them in its part; every run takes
        # fresh codes (a code rated twice changes the rating: another path)
        args.checked_in = args.guests // 3
    return args


def run_parts(ctx: Ctx, parts: list[Part]) -> int:
    """The parts, then exactly-once on each database they used; stops whatever they
    started. Exit status 2 when the bench broke: a part that breaks (BenchBroken, or any
    error of its own) is logged and the next part runs; every figure taken is kept."""
    broken = []
    try:
        for part in parts:
            log(f"-- {part.name}: {part.about}")
            began = time.monotonic()
            try:
                ctx.figures.update(part.run(ctx))
            except BenchBroken as e:
                log(f"BROKEN ({part.name}): {e}")
                broken.append(part.name)
            except Exception:  # a part's own bug or a refusal it did not expect: the others still run
                log(f"BROKEN ({part.name}):\n{traceback.format_exc()}")
                broken.append(part.name)
            if broken and broken[-1] == part.name:
                stop_app(ctx)
                stop_bare(ctx)
            # where the bench's 30 minutes go (its seeding included, in the first part to need it)
            ctx.figures[f"bench.part_seconds.{part.name}"] = (round(time.monotonic() - began), "s")
        stop_app(ctx)
        for db in ctx.dbs.values():
            ctx.figures.update(exactly_once(db))
        if broken:
            ctx.figures["bench.broken_parts"] = (",".join(broken), "parts")
        return 2 if broken else 0
    except BenchBroken as e:
        log(f"BROKEN: {e}")
        return 2
    finally:
        for server in list(ctx.servers):
            stop(ctx, server)
        if ctx.pg is not None:
            ctx.pg.stop()


def machine_figures(ctx: Ctx, busy_before: float, seconds: float) -> Figures:
    settings = deployed_settings()
    others = [v for name, (v, _unit) in ctx.figures.items() if ".cpu_other_pct_at_" in name]
    figures: Figures = {
        "bench.workers": (settings["workers"], "count"),
        "bench.threads_per_worker": (settings["threads"], "count"),
        "bench.seconds": (round(seconds, 1), "s"),
        "bench.cpu_busy_before_pct": (busy_before, "%"),
        "bench.cpus": (os.cpu_count() or 0, "count"),
    }
    if others:  # only wrk runs measure it
        figures["bench.cpu_other_pct"] = (max(others), "%")
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        parts = selected_parts(args.only)
    except BenchBroken as e:
        log(str(e))
        return 2
    if shutil.which("wrk") is None:
        log("wrk is not installed (apt-get install wrk, or run `make bench` as root)")
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    busy = cpu_busy_percent()
    if busy > NOISE_LIMIT_PCT:
        log(f"the CPUs are already {busy}% busy before the bench starts: ratios will be flagged unreliable")
    runs, seconds, storm_requests = planned_load(parts, args)
    log(
        f"parts: {', '.join(p.name for p in parts)}; {runs} wrk runs, {seconds / 60:.1f} min of load, "
        f"{storm_requests} storm requests, plus seeding, server starts, reports and printouts"
    )
    started = time.monotonic()
    ctx = Ctx(args, Path(tempfile.mkdtemp(prefix="experience-bench-")))
    try:
        status = run_parts(ctx, parts)
    finally:
        if args.keep:
            log(f"kept {ctx.tmp}")
        else:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
    ctx.figures.update(machine_figures(ctx, busy, time.monotonic() - started))
    report(ctx)
    if status == 0 and any(must_hold(name) and value != 1 for name, (value, _unit) in ctx.figures.items()):
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
