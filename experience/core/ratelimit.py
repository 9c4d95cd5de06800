"""A rate-limit store shared by every worker on one machine: a small SQLite file.

Flask-Limiter keeps its counters in a `limits` storage. The in-memory one is per worker,
so four gunicorn workers would each allow the limit; Redis or memcached are the answer
for several machines (set RATELIMIT_STORAGE_URI), but the embedded deployment has none.
This store keeps fixed-window counters in their own SQLite file (never the app's
database, so counting never waits on check-in writes).
URI: ``sqlitefile:///absolute/path/limits.db``.

Each worker counts locally first and writes its hits to the file in batches whose size
follows the headroom it knows of: a worker keeps at most 1/SHARE of what is left below
the limit to itself (never less than one hit). Far from the limit a scanner's token
(6,000 a minute) costs one write per few hundred scans; a guest's code (20 a minute) is
tapped once, so the phone's and the desk's check-ins cost no write here at all. Near the
limit the batch shrinks to one hit, and every write reads back every worker's written
hits. The price is bounded: hits a worker has not written yet are unseen by the others;
with W workers those are at most W/SHARE of the headroom while it is large, and one per
worker at the limit, so a window accepts at most about one hit per worker process beyond
the limit (four with `make run`'s four workers). tests/core/test_ratelimit.py checks it
with two real server processes.

Besides the limits per code and per token, a **failure budget** per address: lookups that
find nothing (an unknown invitation or walk-in code, an unknown scanner token) spend it,
and once it is spent that address's lookups answer 429 until its window ends.
"""

from __future__ import annotations

import functools
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import after_this_request, current_app, g, make_response, request
from flask_babel import ngettext
from flask_limiter.util import get_remote_address
from limits import parse as parse_limit
from limits.storage import Storage

from experience.core.errors import render_error
from experience.extensions import limiter


@dataclass
class _Local:
    """One key's window as this worker knows it."""

    #: this worker's hits not yet written to the file
    unwritten: int
    #: the file's count at this worker's last write (every worker's written hits)
    written: int
    expires: float


class SQLiteFileStorage(Storage):
    STORAGE_SCHEME = ["sqlitefile"]
    #: hits a worker keeps to itself per key and window before writing them, at least …
    KEEP_LOCAL = 1
    #: … or this fraction of the headroom below the limit, if more (see above)
    SHARE = 16
    #: every so many hits, forget the windows that are over (a code is one key)
    PRUNE_EVERY = 1000

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = uri.split("://", 1)[1]
        self._local = threading.local()
        self._windows: dict[str, _Local] = {}
        self._lock = threading.Lock()
        self._hits = 0
        self._conn().execute(
            "CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)"
        )

    @property
    def base_exceptions(self):
        return sqlite3.Error

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            # Workers starting together race to switch the file to WAL; the switch does not
            # wait on the busy timeout, so try again briefly (once set, it stays set).
            for attempt in range(50):
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    time.sleep(0.02 * (attempt + 1))
            conn.execute("PRAGMA synchronous=OFF")  # counters, not records: losing one on a crash is fine
            self._local.conn = conn
        return conn

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            self._prune(now)
            window = self._windows.get(key)
            if window is None or window.expires <= now:
                window = self._windows[key] = _Local(0, 0, now + expiry)
            window.unwritten += amount
            if window.unwritten <= self._batch(key, window.written + window.unwritten):
                return window.written + window.unwritten
            amount, window.unwritten = window.unwritten, 0
        count, expires = self._write(key, expiry, amount, now)
        with self._lock:
            window.written, window.expires = count, expires
            return count + window.unwritten

    def _batch(self, key: str, known: int) -> int:
        """How many hits this worker may keep unwritten: the limit is the key's third part
        from the end (limits' ``RateLimitItem.key_for``: …/amount/multiples/granularity)."""
        try:
            limit = int(key.rsplit("/", 3)[-3])
        except (ValueError, IndexError):
            return self.KEEP_LOCAL
        return max(self.KEEP_LOCAL, (limit - known) // self.SHARE)

    def _write(self, key: str, expiry: int, amount: int, now: float) -> tuple[int, float]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM hits WHERE key = ? AND expires <= ?", (key, now))
            count, expires = conn.execute(
                "INSERT INTO hits (key, count, expires) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET count = count + excluded.count RETURNING count, expires",
                (key, amount, now + expiry),
            ).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return count, expires

    def _prune(self, now: float) -> None:
        self._hits += 1
        if self._hits % self.PRUNE_EVERY == 0:
            self._windows = {k: w for k, w in self._windows.items() if w.expires > now}

    def get(self, key: str) -> int:
        now = time.time()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and window.expires > now:
                return window.written + window.unwritten
        row = self._conn().execute("SELECT count FROM hits WHERE key = ? AND expires > ?", (key, now)).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        with self._lock:
            window = self._windows.get(key)
            if window is not None and window.expires > time.time():
                return window.expires
        row = self._conn().execute("SELECT expires FROM hits WHERE key = ?", (key,)).fetchone()
        return row[0] if row else time.time()

    def check(self) -> bool:
        try:
            self._conn().execute("SELECT 1")
            return True
        except sqlite3.Error:
            return False

    def reset(self) -> int | None:
        with self._lock:
            self._windows.clear()
        return self._conn().execute("DELETE FROM hits").rowcount

    def clear(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)
        self._conn().execute("DELETE FROM hits WHERE key = ?", (key,))


def by_code() -> str:
    """Rate-limit key for a guest's code in the URL. Not the IP: hundreds of phones share
    the venue's one address, and the 128-bit codes make guessing pointless; what needs a
    brake is one code hammered (a stuck phone, a forwarded link)."""
    return "code:" + str((request.view_args or {}).get("code", ""))[:40]


#: Lookups that find nothing one address may make in a window. A venue's 300 phones share
#: one address and make a mistyped or truncated link or two; a guesser makes thousands
#: (400 unknown codes in 3.6 s before this budget). 30 is some fifteen times a venue's
#: slips in ten minutes, and holds a guesser to 4,320 tries a day against 2^128 codes.
FAILURE_BUDGET = "30 per 10 minutes"


def lookup_failed() -> None:
    """Spend one of this address's failure budget: the code or token looked up is unknown.
    (A withdrawn code or a revoked token is known: it spends nothing.)"""
    g.failed_lookup = True


def budget_spent(kind: str, address: str) -> bool:
    """Whether ``address`` has spent its failure budget of ``kind``: the check
    ``failure_budget`` makes before its view, for a caller outside Flask's request flow
    (displays.fastpath). True too when the limits store cannot be read: the caller then
    leaves the request to the view, which decides as everywhere else."""
    try:
        return not limiter.limiter.test(parse_limit(FAILURE_BUDGET), *_key_prefix(), address, "fail:" + kind)
    except limiter.storage.base_exceptions:
        return True


def failure_budget(kind: str, answer: Callable[[int], object] | None = None):
    """Decorator: the view's failed lookups of ``kind`` (``"code"``, ``"token"``) spend the
    client address's budget, shared by every view of that kind and by all workers (the
    limits storage). Once it is spent, the view is not run: it answers 429, for a known code
    too — a 429 for unknown codes beside a 200 for known ones would still tell a guesser
    which is which. ``answer(minutes)`` makes that answer (default: the error page).

    The address is ``request.remote_addr``, which ProxyFix has set from X-Forwarded-For
    when TRUSTED_PROXIES says a proxy is in front."""

    def breached(limit) -> object:
        minutes = max(1, math.ceil((limit.reset_at - time.time()) / 60))
        return make_response((answer or _too_many_failures)(minutes))

    return limiter.shared_limit(
        FAILURE_BUDGET,
        scope="fail:" + kind,
        key_func=get_remote_address,
        deduct_when=lambda response: g.get("failed_lookup", False),
        on_breach=breached,
    )


def guest_link_limits(per_code: str):
    """Decorator for the two pages a guest's phone posts to by the hundred at an opening
    (the tap on ``/c/<code>``, the rating on ``/c/<code>/rate``): what
    ``@limiter.limit(per_code, key_func=by_code, methods=["POST"])`` and
    ``@failure_budget("code")`` do, checked here against Flask-Limiter's storage in the very
    buckets it uses (same keys and scopes: every worker, and every other view spending the
    same budget, count alike), without Flask-Limiter's request handling, which cost a tap
    about a sixth of its CPU (``bench/profile_api.py --flow phone``). Flask-Limiter leaves
    the view alone (``_own_limits``). Its X-RateLimit-* headers, which no phone reads, are
    not sent; a 429 carries Retry-After as before."""
    limit = parse_limit(per_code)
    budget = parse_limit(FAILURE_BUDGET)

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not limiter.enabled:  # RATELIMIT_ENABLED = False, as for every other view
                return view(*args, **kwargs)
            prefix = _key_prefix()
            address = get_remote_address()
            spent = [*prefix, address, "fail:code"]
            if not limiter.limiter.test(budget, *spent):
                return _with_retry_after(make_response(_too_many_failures(_minutes_left(budget, spent))), budget, spent)
            if request.method == "POST":
                bucket = [*prefix, by_code(), request.endpoint or ""]
                if not limiter.limiter.hit(limit, *bucket):
                    return _with_retry_after(make_response(render_error(429)), limit, bucket)

            @after_this_request
            def spend(response):
                if g.get("failed_lookup", False):
                    limiter.limiter.hit(budget, *spent)
                return response

            return view(*args, **kwargs)

        wrapped.own_limits = True
        return wrapped

    return decorator


@limiter.request_filter
def _own_limits() -> bool:
    """Flask-Limiter skips the views that check their own limits (``guest_link_limits``)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "own_limits", False)


def _key_prefix() -> list[str]:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
    return [prefix] if prefix else []


def _minutes_left(limit, bucket: list[str]) -> int:
    reset, _ = limiter.limiter.get_window_stats(limit, *bucket)
    return max(1, math.ceil((reset - time.time()) / 60))


def _with_retry_after(response, limit, bucket: list[str]):
    reset, _ = limiter.limiter.get_window_stats(limit, *bucket)
    response.headers["Retry-After"] = str(max(0, int(reset + 1 - time.time())))
    return response


def _too_many_failures(minutes: int):
    return render_error(
        429,
        ngettext(
            "Too many links that match no invitation came from your network. "
            "Please try again in %(num)s minute, or ask the staff at the check-in desk.",
            "Too many links that match no invitation came from your network. "
            "Please try again in %(num)s minutes, or ask the staff at the check-in desk.",
            minutes,
        ),
    )
