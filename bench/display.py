"""The display screens' benchmark (``--only=display``, run by run.py): 200 screens polling.

An event's screens (现场大屏) poll the app: ``GET /s/<token>/sync`` every
feed.SYNC_SECONDS with ``If-None-Match: "<version>"`` (304 until something changed), and
``/s/<token>/content`` when the content version ``cv`` changed, ``/s/<token>/live`` every
``live_ms`` while a live scene is up — what static/displays/screen.js does (feed.py is the
protocol). Here 200 of them, each on its own kept-alive connection and with its own random
phase, rotate through their scenes (reporting what they show in ``shown``, so the
heartbeat writes happen as they would), against the app as deployed (gunicorn.conf.py,
the bench's seeded SQLite database). Then:

- ``display.checkin_ratio_with_200_screens``: the scanner API's check-ins per second at
  CHECKIN_CONNECTIONS connections (run.py's check-in flow) with the screens polling ÷
  without them, from paired rounds as run.py's ``paired_ratios`` takes its ratios: this
  machine's speed drifts by ±30 % from one minute to the next (other tenants of the host),
  and a baseline measured once before the screens and once after them moved 604 → 838
  and 1,150 → 822 req/s within single runs, so the ratio came out anywhere from 0.72 to
  0.84 for the same code. So each of ``--paired-rounds`` rounds runs the flow without the
  screens (paused: each coroutine waits, sending nothing) and with them (resumed, each
  screen after its own random phase), ``--paired-duration`` seconds each, seconds apart,
  in turns (without first in even rounds, with first in odd ones), and the ratio is the
  median of the rounds' ratios (``display.paired_rps`` shows every round's with:without).
  A run before the screens ever start warms the server up and is not a round;
- ``display.server_mb_per_screen``: the server's RSS (gunicorn's master and workers, from
  /proc) after the first run with the screens connected minus after the warm-up run
  before they started, ÷ screens;
- ``display.blank_latency_ms_p50/p95/max``: the organiser logs in and presses "blank" in
  the console (``POST /events/<id>/screens/command``, name=blank, the CSRF token read from
  ``GET /events/<id>/screens``), TRIALS times, then "unblank"; for every screen, the time
  from the POST's answer to the first sync answer saying ``blank: true``, over screens and
  trials;
- ``display.sync_rps`` and ``display.sync_p99_ms``: the screens' sync requests answered per
  second and their p99 (client side, send to last byte), while they ran (paused time left
  out);
- ``display.server_cpu_pct_screens_only`` and ``display.server_cpu_ms_per_screen_request``:
  the server's CPU while only the screens poll (--duration seconds, at least 5);
- ``display.simulator_cpu_pct``: the CPU the simulated screens themselves used, in % of
  one core while they ran (they share the machine with the server: the figure says how
  much they took).

The screens are created before the server starts, in a fresh process in the app's context
(``seed-screens`` below): rows inserted through the app's models, 200 on the one seeded
event — beyond screens.SCREENS_MAX (20 per event), a rule of the console, not of the
protocol; it is the number of polls that loads the server, and one event lets one blank
reach all of them. Every check-in of the rounds takes a fresh code from the API's code
pool; when fewer are left than the rounds may take (a full bench has spent most of them
on the check-in parts; a quick run seeds few), the same process adds that many fresh
guests to the event first.

The simulator is one asyncio loop in a thread of the bench's own process (raw sockets,
HTTP/1.1 written and parsed by hand: each screen's request bytes built once but for the
sync's query and ETag, an answer's head read in one call), so its CPU counts as the
bench's, never as "other work" — but it shares the two cores with the server, so it is
kept cheap. A missing or broken screen or console route stops the part with exit status
2: no figure is ever made up. The console is tried first (its page, then one "unblank",
which changes nothing on screens that are not blank), so a missing route fails the part
before anything is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

from seed import PASSWORD
from servers import ROOT, BenchBroken, log, proc_table

#: the screens; the figures' names say 200 (BENCH_DISPLAY_SCREENS changes it for a quick run)
SCREENS = int(os.environ.get("BENCH_DISPLAY_SCREENS", 200))
#: blank/unblank presses (BENCH_DISPLAY_TRIALS changes it)
TRIALS = int(os.environ.get("BENCH_DISPLAY_TRIALS", 5))
#: the check-in API's concurrency for the ratio
CHECKIN_CONNECTIONS = 8
#: the fresh codes to have ready per second of check-in runs: the most seen was 1,150
#: req/s, and the pool counts each run as its busiest wrk thread's share times the
#: threads (up to 1.5 × what was answered)
CODES_PER_SECOND = 2500
#: what part_display keeps of each check-in run (run_ladder's figures at CHECKIN_CONNECTIONS)
RUN_FIGURES = ("rps", "p99_ms", "cpu_ms_per_req", "cpu_other_pct", "errors")
#: a screen that has not seen the blank this long after the POST's answer is counted missed
BLANK_WAIT_SECONDS = 10
#: a request of a screen unanswered this long counts as an error (the connection is reopened)
REQUEST_TIMEOUT = 10
#: what the venue PC's browser says it is (the heartbeat records it)
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 bench"
#: the protocol's period (feed.SYNC_SECONDS) until the first sync answer gives sync_ms
SYNC_SECONDS = 1.5


# -- The screens' side ----------------------------------------------------------------------


class Connection:
    """One kept-alive HTTP/1.1 connection, reopened when the server closes it (as a
    browser's fetch would, unseen by the page)."""

    def __init__(self, port: int, counts: Counter):
        self.port = port
        self.counts = counts
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, request: bytes) -> tuple[int, bytes]:
        """Send a whole request (see ScreenRequests) and read its answer."""
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.counts["connections_opened"] += 1
            try:
                self.writer.write(request)
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every answer
                # in a task of its own
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    return await self._answer()
            except (ConnectionError, asyncio.IncompleteReadError, EOFError):
                # a kept-alive connection the server closed meanwhile: once more on a new one
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _answer(self) -> tuple[int, bytes]:
        # the status line and the headers in one read (a closed connection: IncompleteReadError)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").lower().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for header in lines[1:]:
            if header:
                name, _, value = header.partition(":")
                headers[name.strip()] = value.strip()
        close = headers.get("connection") == "close"
        if status in (204, 304) or headers.get("content-length") == "0":
            body = b""
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", ""):
            body = await self._chunks()
        else:
            body, close = await self.reader.read(), True
        if close:
            self.close()
        return status, body

    async def _chunks(self) -> bytes:
        body = b""
        while size := int((await self.reader.readline()).split(b";")[0], 16):
            body += await self.reader.readexactly(size)
            await self.reader.readline()
        await self.reader.readline()
        return body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class ScreenRequests:
    """One screen's requests as bytes: all but the sync's query and ETag are the same on
    every poll, so they are encoded once (the simulator's CPU is taken from the server's
    two cores)."""

    def __init__(self, port: int, token: str):
        self.rest = f" HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {AGENT}\r\n".encode()
        self.sync_path = f"GET /s/{token}/sync?".encode()
        self.content = f"GET /s/{token}/content".encode() + self.rest + b"\r\n"
        self.live = f"GET /s/{token}/live".encode() + self.rest + b"\r\n"

    def sync(self, screen: Screen) -> bytes:
        return b"".join((self.sync_path, screen.query(), self.rest, screen.etag(), b"\r\n"))


class Screens(threading.Thread):
    """The simulated screens: one asyncio loop, one coroutine and connection per screen."""

    def __init__(self, port: int, tokens: list[str]):
        super().__init__(daemon=True, name="screens")
        self.port, self.tokens = port, tokens
        self.counts: Counter = Counter()
        #: (answered at, seconds taken) of every sync request
        self.syncs: list[tuple[float, float]] = []
        self.failure: str | None = None
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        #: seconds the screens spent paused (pause() to resume())
        self.paused_seconds = 0.0
        #: screens that have their first content (the part waits for all of them)
        self.ready: set[int] = set()
        # the blank trials: which state is awaited, and when each screen first got it
        self._lock = threading.Lock()
        self._awaited: bool | None = None
        self._seen: dict[int, float] = {}
        self._stopping = False
        # pause/resume: the loop, an event set while the screens may poll, the screens
        # with a request of the current poll still to send or answer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._polling: asyncio.Event | None = None
        self._busy = 0
        self._paused_at: float | None = None
        self._started = threading.Event()

    # -- read by the main thread
    def await_blank(self, blank: bool | None) -> None:
        with self._lock:
            self._awaited, self._seen = blank, {}

    def seen(self) -> dict[int, float]:
        with self._lock:
            return dict(self._seen)

    def pause(self) -> None:
        """Stop polling; returns once no screen has a request out. A paused screen sends
        nothing; its kept-alive connection may be closed by the server meanwhile (its
        next request opens another)."""
        self._started.wait(5)
        if self._loop is None or not self.is_alive():
            raise BenchBroken(f"display: the screens stopped: {self.failure}")
        future = asyncio.run_coroutine_threadsafe(self._pause(), self._loop)
        try:
            busy = future.result(timeout=3 * REQUEST_TIMEOUT + 5)
        except Exception as e:  # the loop ended meanwhile, or never answered
            raise BenchBroken(f"display: the screens could not be paused ({e!r}; {self.failure})") from e
        if busy:
            raise BenchBroken(
                f"display: {busy} screens still had a request out {3 * REQUEST_TIMEOUT} s after the pause"
            )
        self._paused_at = time.monotonic()

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def resume(self) -> None:
        """Poll again, each screen after a random phase of its own within its period (200
        screens resumed together would otherwise all poll in the same instant)."""
        if self._paused_at is not None:
            self.paused_seconds += time.monotonic() - self._paused_at
            self._paused_at = None
        if self._loop is not None and self._polling is not None:
            self._loop.call_soon_threadsafe(self._polling.set)

    def stop(self) -> None:
        self._stopping = True
        if self._loop is not None and self._polling is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._polling.set)  # wake paused screens
        self.join(timeout=REQUEST_TIMEOUT + 5)

    # -- the loop's thread
    def run(self) -> None:
        cpu, wall = time.thread_time(), time.monotonic()
        try:
            asyncio.run(self._main())
        except Exception as e:  # noqa: BLE001 - reported to the part, which stops the bench
            self.failure = f"{type(e).__name__}: {e}"
        self.cpu_seconds = time.thread_time() - cpu
        self.wall_seconds = time.monotonic() - wall

    async def _main(self) -> None:
        self._loop, self._polling = asyncio.get_running_loop(), asyncio.Event()
        self._polling.set()
        self._started.set()
        await asyncio.gather(*(self._screen(i, token) for i, token in enumerate(self.tokens)))

    async def _pause(self) -> int:
        """In the loop (so no screen can start a poll between the check and the clear):
        no new polls, then wait for those under way; returns how many are still out."""
        self._polling.clear()
        deadline = time.monotonic() + 3 * REQUEST_TIMEOUT
        while self._busy and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self._busy

    def _fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = message
        self._stopping = True

    async def _screen(self, index: int, token: str) -> None:
        conn = Connection(self.port, self.counts)
        requests = ScreenRequests(self.port, token)
        screen = Screen()
        await asyncio.sleep(random.uniform(0, SYNC_SECONDS))  # each screen its own phase
        next_at = time.monotonic()
        try:
            while not self._stopping:
                if not self._polling.is_set():
                    await self._polling.wait()
                    if not self._stopping:  # (stop() wakes paused screens too)
                        # a phase of its own again, in [0, its period)
                        await asyncio.sleep(random.random() * screen.period)
                    next_at = time.monotonic()
                    continue  # paused again meanwhile, or stopping: seen at the top
                self._busy += 1
                try:
                    if not await self._poll(index, token, conn, requests, screen):
                        return
                finally:
                    self._busy -= 1
                next_at = max(next_at + screen.period, time.monotonic())
                await asyncio.sleep(next_at - time.monotonic())
        finally:
            conn.close()

    async def _poll(self, index: int, token: str, conn: Connection, requests: ScreenRequests, screen: Screen) -> bool:
        """One poll of a screen: sync, its content when it changed, live figures when due.
        False when the screen has to stop (the part is told why)."""
        status, body = await self._request(conn, requests.sync(screen), "sync")
        answered = time.monotonic()
        if status == 200:
            state = json.loads(body)
            screen.follow(state)
            with self._lock:
                if self._awaited is screen.blank and index not in self._seen:
                    self._seen[index] = answered
            if state["cv"] != screen.cv:
                status, body = await self._request(conn, requests.content, "content")
                if status != 200:
                    self._fail(f"GET /s/<token>/content answered {status}: {body[:200]!r}")
                    return False
                screen.play(state["cv"], json.loads(body))
                self.ready.add(index)
        elif status in (404, 410):
            self._fail(f"GET /s/<token>/sync answered {status}: no screen route, or a dead link")
            return False
        if screen.wants_live():
            await self._request(conn, requests.live, "live")
        return True

    async def _request(self, conn: Connection, request: bytes, kind: str) -> tuple[int, bytes]:
        """One request of a screen, counted by its answer (0: none, the connection closed)."""
        sent = time.monotonic()
        try:
            status, body = await conn.get(request)
        except (
            OSError,
            EOFError,
            asyncio.IncompleteReadError,
            TimeoutError,
            ValueError,
            asyncio.LimitOverrunError,
        ) as e:
            self.counts[f"{kind}_error_{type(e).__name__}"] += 1
            conn.close()
            return 0, b""
        if kind == "sync":
            answered = time.monotonic()
            self.syncs.append((answered, answered - sent))
        self.counts[f"{kind}_{status}"] += 1
        return status, body


class Screen:
    """What one screen knows: the display state's version, its content and the scene it
    shows (rotating as the content says), as screen.js keeps them."""

    def __init__(self):
        self.version: int | None = None
        self.cv: int | None = None
        self.blank = False
        self.period, self.live_every = SYNC_SECONDS, 5.0
        self.scenes: list[dict] = []
        self.scene_at, self.scene_started, self.last_live = 0, time.monotonic(), 0.0
        # the sync's query and ETag header as sent, rebuilt only when what they say changes
        self._query_of: tuple | None = None
        self._query = b""
        self._etag = b""

    def scene(self) -> dict | None:
        now = time.monotonic()
        if self.scenes and now - self.scene_started >= self.scenes[self.scene_at]["seconds"]:
            self.scene_at, self.scene_started = (self.scene_at + 1) % len(self.scenes), now
        return self.scenes[self.scene_at] if self.scenes else None

    def query(self) -> bytes:
        scene = self.scene()
        shown = "blank" if self.blank else (scene["scene"] if scene else "")
        if self._query_of != (shown, self.cv):
            self._query_of = (shown, self.cv)
            sv = "" if self.cv is None else self.cv
            self._query = urllib.parse.urlencode({"shown": shown, "sv": sv}).encode()
        return self._query

    def etag(self) -> bytes:
        """The If-None-Match header line (none before the first answer)."""
        return self._etag

    def follow(self, state: dict) -> None:
        if state["v"] != self.version:
            self._etag = b"" if state["v"] is None else f'If-None-Match: "{state["v"]}"\r\n'.encode()
        self.version, self.blank = state["v"], bool(state["blank"])
        self.period = state.get("sync_ms", self.period * 1000) / 1000
        self.live_every = state.get("live_ms", self.live_every * 1000) / 1000

    def play(self, cv: int, content: dict) -> None:
        first = self.cv is None
        self.cv, self.scenes = cv, content["scenes"]
        self.scene_at, self.scene_started = 0, time.monotonic()
        if first and self.scenes:
            # screens switched on at different times are at different points of their
            # rotation, not all on the welcome together
            self.scene_at = random.randrange(len(self.scenes))
            self.scene_started -= random.uniform(0, self.scenes[self.scene_at]["seconds"])

    def wants_live(self) -> bool:
        """A live scene is up: its figures are fetched every live_ms."""
        scene = self.scene()
        if scene and scene.get("live") and not self.blank and time.monotonic() - self.last_live >= self.live_every:
            self.last_live = time.monotonic()
            return True
        return False


# -- The organiser's side ---------------------------------------------------------------------


class Organiser:
    """A logged-in organiser on a phone: cookies and one kept-alive connection."""

    def __init__(self, port: int, event_id: int):
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.event_id = event_id
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, form: dict | None = None) -> tuple[int, bytes]:
        headers = {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        # a new connection for each press: the server closes an idle one after its
        # keepalive (5 s), and a press is seconds apart, as on a phone
        self.conn.close()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except OSError as e:
            raise BenchBroken(f"display: the organiser's {method} {path} failed: {e}") from e
        for cookie in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return r.status, data

    def csrf(self, path: str) -> str:
        status, page = self.send("GET", path)
        found = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
            rb'name="csrf-token"[^>]*content="([^"]+)"', page
        )
        if status != 200 or found is None:
            raise BenchBroken(
                f"display: GET {path} answered {status} without a CSRF token: is the console route missing?"
            )
        return found.group(1).decode()

    def log_in(self, username: str, password: str) -> None:
        status, _ = self.send(
            "POST", "/login", {"username": username, "password": password, "csrf_token": self.csrf("/login")}
        )
        if status != 302:
            raise BenchBroken(f"display: the organiser could not log in ({status})")

    def command(self, name: str, token: str) -> float:
        """Press a console button; returns when its answer arrived (time.monotonic)."""
        status, body = self.send(
            "POST", f"/events/{self.event_id}/screens/command", {"name": name, "csrf_token": token}
        )
        answered = time.monotonic()
        if status not in (200, 302, 303):
            raise BenchBroken(
                f"display: POST /events/{self.event_id}/screens/command name={name} answered {status}: "
                f"{body[:120]!r} (is the console's command route missing?)"
            )
        return answered


# -- Measurements -------------------------------------------------------------------------------


def server_rss_kb(server) -> int:
    """VmRSS of every process of the server's group (master and workers), in KB."""
    total = 0
    for p in proc_table():
        if p.pgrp == server.proc.pid:
            with contextlib.suppress(OSError, ValueError), open(f"/proc/{p.pid}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return total


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def answered(screens: Screens) -> int:
    """The screens' requests answered so far (any status)."""
    return sum(n for k, n in list(screens.counts.items()) if k.split("_")[-1].isdigit() and not k.endswith("_0"))


def screens_alone(ctx, run, server, screens: Screens) -> dict:
    """What the polling screens alone cost the server, for --duration seconds with nothing
    else sent: its CPU (gunicorn's master and workers, in % of all the machine's cores)
    and the CPU time per screen request (sync, content, live)."""
    before, requests = run.CpuSnapshot.take(server), answered(screens)
    time.sleep(max(ctx.args.duration, 5))
    after, requests = run.CpuSnapshot.take(server), answered(screens) - requests
    cpu = after.server - before.server
    wall = after.wall - before.wall
    log(
        f"display: screens alone: {requests / wall:.1f} req/s, server CPU {cpu / wall * 100:.0f}% of one core, "
        f"{1000 * cpu / max(1, requests):.2f} ms a request, other work {before.other_percent(after)}%"
    )
    return {
        "display.server_cpu_pct_screens_only": (round(100 * cpu / wall / (os.cpu_count() or 1), 1), "%"),
        "display.server_cpu_ms_per_screen_request": (round(1000 * cpu / max(1, requests), 2), "ms"),
        "display.screens_only_cpu_other_pct": (before.other_percent(after), "%"),
    }


def blank_trials(screens: Screens, organiser: Organiser, token: str, count: int) -> tuple[list[float], int]:
    """``count`` blank/unblank presses, each at a random moment of the screens' polls:
    the latencies (ms) of every screen in every trial, and how many never saw the blank."""
    latencies: list[float] = []
    missed = 0
    for trial in range(count):
        time.sleep(random.uniform(0.5, 2.0))
        for blank in (True, False):
            screens.await_blank(blank)
            answered = organiser.command("blank" if blank else "unblank", token)
            deadline = answered + BLANK_WAIT_SECONDS
            while len(screens.seen()) < len(screens.tokens) and time.monotonic() < deadline:
                if screens.failure:
                    raise BenchBroken(f"display: the screens stopped: {screens.failure}")
                time.sleep(0.05)
            seen = screens.seen()
            took = [max(0.0, (at - answered) * 1000) for at in seen.values()]
            lost = len(screens.tokens) - len(seen)
            log(
                f"display trial {trial + 1} {'blank' if blank else 'unblank'}: "
                f"p50 {percentile(took, 50):.0f} ms  p95 {percentile(took, 95):.0f} ms  "
                f"max {max(took, default=0):.0f} ms  missed {lost}"
            )
            if blank:
                latencies += took + [BLANK_WAIT_SECONDS * 1000.0] * lost
                missed += lost
            screens.await_blank(None)
            time.sleep(random.uniform(0.2, 1.0))
    return latencies, missed


def part_display(ctx, run) -> dict:
    """Run by bench/run.py (``run`` is run.py's module: its database, server and wrk
    helpers)."""
    db = run.database(ctx, "sqlite")
    rounds = max(1, ctx.args.paired_rounds)
    duration = ctx.args.paired_duration
    pool = db.pools["api"]
    seeded, tokens = seed_for_part(ctx, run, db, ctx.args.warmup + (2 * rounds + 1) * duration)
    server = run.app_server(ctx, run.SQLITE)

    # the organiser first: a missing console fails the part before anything is measured
    organiser = Organiser(server.port, seeded["event_id"])
    organiser.log_in(seeded["username"], PASSWORD)
    csrf = organiser.csrf(f"/events/{organiser.event_id}/screens")
    organiser.command("unblank", csrf)  # the state is not blank: this only proves the route

    c = CHECKIN_CONNECTIONS
    without_prefix, with_prefix = "display.checkin_without_screens", "display.checkin_with_screens"
    #: (without, with) of every round: each run's figures, as run_ladder names them
    pairs: list[tuple[dict, dict]] = []
    checkin_errors = 0

    def checkin(prefix: str, warmup: bool = False) -> dict:
        nonlocal checkin_errors
        found, totals = run.run_ladder(
            ctx,
            prefix,
            server,
            "/api/v1/checkins",
            "checkin_api.lua",
            run.SQLITE,
            pool=pool,
            extra_args=lambda tag: [str(db.tokens_file), tag],
            levels=[c],
            warmup=warmup,
            duration=duration,
        )
        checkin_errors += totals["errors"]
        return {what: found[f"{prefix}.{what}_at_{c}"][0] for what in RUN_FIGURES}

    figures: dict = {"display.screens": (len(tokens), "count")}
    # before the screens ever start: the server warmed up, and its memory without them
    checkin(without_prefix, warmup=True)
    time.sleep(1)
    rss_without = server_rss_kb(server)

    screens = Screens(server.port, tokens)
    screens.start()
    try:
        wait_for_content(screens)
        measured_from = time.monotonic()
        figures.update(screens_alone(ctx, run, server, screens))
        rss_with = paired_rounds(
            screens,
            server,
            rounds,
            pairs,
            lambda with_screens: checkin(with_prefix if with_screens else without_prefix),
        )
        if screens.failure:
            raise BenchBroken(f"display: the screens stopped: {screens.failure}")
        latencies, missed = blank_trials(screens, organiser, csrf, TRIALS)
        measured_to = time.monotonic()
    finally:
        screens.stop()
    if screens.failure:
        raise BenchBroken(f"display: the screens stopped: {screens.failure}")

    syncs = [took for at, took in screens.syncs if measured_from <= at <= measured_to]
    polling_seconds = measured_to - measured_from - screens.paused_seconds
    ratio = "display.checkin_ratio_with_200_screens"
    ctx.ratio_runs[ratio] = ("display.paired_cpu_other_pct",)
    screen_errors = sum(v for k, v in screens.counts.items() if not k.endswith(("_200", "_304", "opened")))
    log(f"display: screens' answers {dict(screens.counts)}")
    if any(k.endswith(tuple(f"_{n}" for n in range(500, 600))) for k in screens.counts):
        for line in run.server_errors(server):
            log(f"display: app log: {line}")
    figures.update(rounds_figures(pairs, without_prefix, with_prefix, ratio))
    figures.update(
        {
            "display.blank_latency_ms_p50": (round(statistics.median(latencies)) if latencies else 0, "ms"),
            "display.blank_latency_ms_p95": (round(percentile(latencies, 95)), "ms"),
            "display.blank_latency_ms_max": (round(max(latencies, default=0)), "ms"),
            "display.blank_missed": (missed, "count"),
            "display.blank_trials": (TRIALS, "count"),
            "display.server_mb_per_screen": (round((rss_with - rss_without) / 1024 / len(tokens), 3), "MB"),
            "display.server_rss_mb_without_screens": (round(rss_without / 1024, 1), "MB"),
            "display.server_rss_mb_with_screens": (round(rss_with / 1024, 1), "MB"),
            "display.sync_rps": (round(len(syncs) / polling_seconds, 1) if polling_seconds > 0 else 0, "req/s"),
            "display.sync_p99_ms": (round(percentile(syncs, 99) * 1000, 1), "ms"),
            "display.screen_errors": (screen_errors, "count"),
            "display.simulator_cpu_pct": (
                round(100 * screens.cpu_seconds / (screens.wall_seconds - screens.paused_seconds), 1)
                if screens.wall_seconds > screens.paused_seconds
                else 0,
                "%",
            ),
            "display.checkin_errors": (checkin_errors, "count"),
        }
    )
    return figures


def paired_rounds(screens: Screens, server, rounds: int, pairs: list, checkin) -> int:
    """The rounds, all alike: the check-in flow with the screens paused, and with them
    polling; the order alternates, so a machine speeding up or slowing down through the
    rounds does not favour one side in all of them. Each round's (without, with) goes to
    ``pairs``; returns the server's RSS after the first run with the screens (KB). The
    screens are polling when it returns."""
    rss_with = 0
    for r in range(rounds):
        runs = {}
        for with_screens in (False, True) if r % 2 == 0 else (True, False):
            if screens.failure:
                raise BenchBroken(f"display: the screens stopped: {screens.failure}")
            if not with_screens and not screens.paused:
                screens.pause()
                time.sleep(1)  # the server done with the last polls (their heartbeat writes)
            elif with_screens and screens.paused:
                screens.resume()
                time.sleep(2)  # every screen past its phase (at most its period) and polling again
            runs[with_screens] = checkin(with_screens)
            if with_screens and not rss_with:
                time.sleep(1)
                rss_with = server_rss_kb(server)
        log(f"display: round {r + 1} of {rounds}: {runs[True]['rps']:.0f}:{runs[False]['rps']:.0f} req/s")
        pairs.append((runs[False], runs[True]))
    if screens.paused:
        screens.resume()
        time.sleep(2)
    return rss_with


def seed_for_part(ctx, run, db, load_seconds: int) -> tuple[dict, list[str]]:
    """The screens, seeded with the server stopped (``seed-screens`` in a fresh process);
    the seeding's answer and the screens' tokens. Every check-in of the rounds takes a
    fresh code from the API's pool: when fewer are left than ``load_seconds`` of runs may
    take, fresh guests are added to the event in the same process and their codes to the
    pool (a full bench has spent most of the pool on the check-in parts by now)."""
    run.stop_app(ctx)
    pool = db.pools["api"]
    extra_guests = max(0, CODES_PER_SECOND * load_seconds - pool.left)
    tokens_file, codes_file = ctx.tmp / "display-tokens.txt", ctx.tmp / "display-codes.txt"
    out = run.run(
        [run.tool("python"), str(Path(__file__)), "seed-screens", "--count", str(SCREENS), "--out", str(tokens_file)]
        + ["--guests", str(extra_guests), "--codes-out", str(codes_file)],
        env=db.env,
        cwd=ROOT,
        what="display: seed screens",
    )
    seeded = json.loads(out.strip().splitlines()[-1])
    tokens = tokens_file.read_text().split()
    pool.codes.extend(codes_file.read_text().split())
    codes_file.unlink()
    log(
        f"display: {len(tokens)} screens on event {seeded['event_id']}; {pool.left} API codes for "
        f"{load_seconds} s of check-ins ({extra_guests} fresh guests added for them)"
    )
    return seeded, tokens


def wait_for_content(screens: Screens) -> None:
    """Until every screen has its first content (30 s at most)."""
    deadline = time.monotonic() + 30
    while len(screens.ready) < len(screens.tokens) and time.monotonic() < deadline and not screens.failure:
        time.sleep(0.1)
    if screens.failure or len(screens.ready) < len(screens.tokens):
        raise BenchBroken(
            f"display: {len(screens.ready)} of {len(screens.tokens)} screens got their content "
            f"({screens.failure or 'timed out'}; answers {dict(screens.counts)})"
        )
    log(f"display: {len(screens.tokens)} screens polling (answers so far {dict(screens.counts)})")


def rounds_figures(pairs: list[tuple[dict, dict]], without_prefix: str, with_prefix: str, ratio: str) -> dict:
    """The rounds' figures: the ratio, the median of the rounds' (with ÷ without, each of
    its own round); each run's req/s, p99 and CPU per request, the median of the rounds'
    (one figure each, named as run_ladder names a run's); the most other work and the
    errors of all of them."""
    c = CHECKIN_CONNECTIONS
    figures: dict = {}
    for prefix, side in ((without_prefix, 0), (with_prefix, 1)):
        runs = [pair[side] for pair in pairs]
        figures[f"{prefix}.rps_at_{c}"] = (middle([r["rps"] for r in runs]), "req/s")
        figures[f"{prefix}.p99_ms_at_{c}"] = (middle([r["p99_ms"] for r in runs]), "ms")
        figures[f"{prefix}.cpu_ms_per_req_at_{c}"] = (middle([r["cpu_ms_per_req"] for r in runs]), "ms")
        figures[f"{prefix}.cpu_other_pct_at_{c}"] = (max(r["cpu_other_pct"] for r in runs), "%")
        figures[f"{prefix}.errors_at_{c}"] = (sum(r["errors"] for r in runs), "count")
    ratios = [w["rps"] / wo["rps"] if wo["rps"] else 0 for wo, w in pairs]
    figures[ratio] = (round(middle(ratios), 3), "ratio")
    figures["display.paired_rps"] = (
        " / ".join(f"{w['rps']:.0f}:{wo['rps']:.0f}" for wo, w in pairs),
        "with:without req/s",
    )
    figures["display.paired_cpu_other_pct"] = (max(r["cpu_other_pct"] for pair in pairs for r in pair), "%")
    return figures


def middle(values: list[float]) -> float:
    """The median of the rounds, as run.py's paired_ratios takes it (of an even count, the
    upper of the two middle values: always one round's own figure)."""
    return sorted(values)[len(values) // 2]


# -- In the app's context (a fresh process, the bench's database in its environment) ------------


def seed_screens(count: int, out: Path, guests: int = 0, codes_out: Path | None = None) -> dict:
    """``count`` screens of the seeded event, every scene on (the model's defaults), and
    the event's display state; their tokens written to ``out``, one a line. With
    ``guests``, that many fresh guests (not checked in) added to the event for the
    check-in runs, their codes written to ``codes_out`` (as bench/seed.py seeds them)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import sqlalchemy as sa

    from experience import create_app
    from experience.accounts.models import User
    from experience.core import clock
    from experience.core.tokens import new_code
    from experience.displays import control
    from experience.displays.models import Screen as ScreenRow
    from experience.events.models import Event, GuestCategory
    from experience.extensions import db
    from experience.guests.models import Guest

    app = create_app()
    with app.app_context():
        now = clock.utcnow()
        event = db.session.scalar(sa.select(Event).order_by(Event.id))
        user = db.session.scalar(sa.select(User).where(User.username == "bench-province"))
        control.ensure_state(event.id)
        screens = [
            ScreenRow(event_id=event.id, name=f"大屏{i:03d}", created_at=now, created_by_id=user.id)
            for i in range(count)
        ]
        db.session.add_all(screens)
        codes = [new_code() for _ in range(guests)]
        categories = list(GuestCategory)
        for start in range(0, guests, 20_000):
            db.session.execute(
                Guest.__table__.insert(),
                [
                    dict(
                        event_id=event.id,
                        name=f"大屏嘉宾{i:06d}",
                        category=categories[i % len(categories)],
                        code=codes[i],
                        created_at=now,
                    )
                    for i in range(start, min(start + 20_000, guests))
                ],
            )
        db.session.commit()
        out.write_text("\n".join(s.token for s in screens) + "\n")
        if codes_out is not None:
            codes_out.write_text("\n".join(codes) + "\n")
        return {"event_id": event.id, "screens": count, "username": user.username, "guests": guests}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the display bench's seeding (run by part_display)")
    parser.add_argument("what", choices=["seed-screens"])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--guests", type=int, default=0, help="fresh guests to add for the check-in runs")
    parser.add_argument("--codes-out", type=Path, default=None, help="where their codes go, one a line")
    args = parser.parse_args()
    print(json.dumps(seed_screens(args.count, args.out, args.guests, args.codes_out)))
