"""Rate limits hold across worker processes and across app instances.

Each worker counts locally and writes to the shared store only on a key's second hit
(core/ratelimit.py), so a window may accept one hit per worker beyond the limit; the
issue's bound is the limit + 5. With Redis (several machines) every hit is counted
there. Two real server processes, requests alternating between them, as gunicorn's
workers or two machines behind a balancer would see them.
"""

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
from limits import parse as parse_limit

from experience.config import ROOT
from experience.core.ratelimit import SQLiteFileStorage
from experience.extensions import db, limiter
from tests.conftest import _free_port, stop_process, wait_for

SERVE = """
import sys
from werkzeug.serving import make_server
from experience import create_app
from experience.config import Config
make_server("127.0.0.1", int(sys.argv[1]), create_app(Config), threaded=True).serve_forever()
"""

PER_CODE = 20  # checkin.views: a guest's link, 20 check-in attempts a minute


@contextmanager
def two_instances(tmp_path, database_url, storage_uri):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "x" * 40,
        "UPLOAD_DIR": str(tmp_path / "u"),
        "RATELIMIT_STORAGE_URI": storage_uri,
        "JOBS_DB": str(tmp_path / "jobs.db"),
    }
    ports = [_free_port(), _free_port()]
    procs = []
    for p in ports:
        with open(tmp_path / f"instance-{p}.log", "w") as log:  # read it when this fails
            procs.append(
                subprocess.Popen([sys.executable, "-c", SERVE, str(p)], env=env, cwd=ROOT, stdout=log, stderr=log)
            )
    try:
        assert all(wait_for(lambda p=p: _status(p, "GET", "/healthz") == 200, 30) for p in ports)
        yield ports
    finally:
        for proc in procs:
            stop_process(proc)


def _status(port, method, path, data=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def _accepted_of_alternating_taps(ports, code, taps=40):
    statuses = [_status(ports[i % 2], "POST", f"/c/{code}", b"consent=y") for i in range(taps)]
    assert None not in statuses and not [s for s in statuses if s >= 500], statuses
    return sum(s != 429 for s in statuses), statuses


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing: `make test` installs Debian's redis-server package")
    port = _free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        assert wait_for(lambda: _pings(client), 10)
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _pings(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


def test_two_workers_sharing_the_file_accept_the_limit_and_no_more_than_one_each_beyond(
    app, make_event, make_guest, tmp_path, database_url
):
    code = make_guest(make_event()).code
    db.session.commit()
    with two_instances(tmp_path, database_url, f"sqlitefile://{tmp_path / 'limits.db'}") as ports:
        accepted, statuses = _accepted_of_alternating_taps(ports, code)
    # each worker alone would accept all 40; together they hold the limit, give or take
    # the one unwritten hit each may have (within the limit + 5 the issue allows)
    assert PER_CODE <= accepted <= PER_CODE + 2, statuses
    assert statuses[-1] == 429 and statuses[-2] == 429


def test_two_app_instances_sharing_redis_hold_the_limit(app, make_event, make_guest, tmp_path, database_url, redis_url):
    code = make_guest(make_event()).code
    db.session.commit()
    with two_instances(tmp_path, database_url, redis_url) as ports:
        accepted, statuses = _accepted_of_alternating_taps(ports, code)
    assert accepted == PER_CODE, statuses


def test_a_code_tapped_once_costs_the_shared_file_no_write(tmp_path):
    """The phone's and the desk's common case: one hit per code and window."""
    storage = SQLiteFileStorage(f"sqlitefile://{tmp_path / 'l.db'}")
    assert [storage.incr(f"code:{i}", 60) for i in range(100)] == [1] * 100
    assert storage._conn().execute("SELECT count(*) FROM hits").fetchone()[0] == 0
    assert storage.incr("code:7", 60) == 2  # the second hit writes both
    assert storage._conn().execute("SELECT count FROM hits WHERE key = 'code:7'").fetchone()[0] == 2
    assert storage.get("code:7") == 2 and storage.get("code:8") == 1


def test_a_second_worker_sees_the_first_ones_written_hits(tmp_path):
    uri = f"sqlitefile://{tmp_path / 'l.db'}"
    one, two = SQLiteFileStorage(uri), SQLiteFileStorage(uri)
    counts = [(one if i % 2 == 0 else two).incr("token:x", 60) for i in range(30)]
    # the true count after i+1 hits is i+1; neither worker is ever more than one behind each
    assert all(i + 1 - 2 <= c <= i + 1 for i, c in enumerate(counts)), counts
    assert counts[-1] >= 29


def test_a_busy_scanner_token_is_written_in_batches_and_still_holds_its_limit(tmp_path):
    """Far from its limit a token's hits are written a batch at a time; near it, one by
    one: two workers alternating accept the limit and at most one hit each beyond."""
    writes = []

    class Counting(SQLiteFileStorage):
        def _write(self, *args):
            writes.append(args[0])
            return super()._write(*args)

    uri = f"sqlitefile://{tmp_path / 'l.db'}"
    one, two = Counting(uri), Counting(uri)
    key = "LIMITER/token:abc/checkin.api_check_in/600/1/minute"  # limits' key for "600 per minute"
    accepted = sum((one if i % 2 == 0 else two).incr(key, 60) <= 600 for i in range(900))
    assert 600 <= accepted <= 602
    assert len(writes) < 900 / 4, len(writes)  # one write per hit before
    assert two.get(key) >= 890  # every hit is counted in the end, written or not


def test_a_guests_link_holds_its_limit_in_flask_limiters_own_bucket(app, client, make_event, make_guest):
    """The tap and the rating check their limits themselves (ratelimit.guest_link_limits),
    in the bucket Flask-Limiter would use, so that every worker counts them alike."""
    event = make_event()
    app.config["FROZEN_NOW"] = event.starts_at
    guest = make_guest(event)
    db.session.commit()
    taps = [client.post(f"/c/{guest.code}", data={"consent": "y"}) for _ in range(PER_CODE + 1)]
    assert [t.status_code for t in taps] == [200] * PER_CODE + [429]
    assert "签到成功" in taps[0].get_data(as_text=True) and "已于" in taps[1].get_data(as_text=True)
    refused = taps[-1]
    assert "请稍后再试" in refused.get_data(as_text=True) and 0 < int(refused.headers["Retry-After"]) <= 60
    assert client.get(f"/c/{guest.code}").status_code == 200  # looking is not limited
    per_code = parse_limit(f"{PER_CODE} per minute")
    with app.test_request_context():
        assert limiter.limiter.get_window_stats(per_code, f"code:{guest.code}", "checkin.guest").remaining == 0
        # the rating page has a bucket of its own, untouched by the taps
        assert limiter.limiter.get_window_stats(per_code, f"code:{guest.code}", "ratings.rate").remaining == PER_CODE
