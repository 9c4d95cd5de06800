"""One upload's chunks on two gunicorn worker processes: nothing of an upload lives in a
process, so it completes whichever worker each chunk reaches.

gunicorn runs the app with 2 sync workers on a free port, on the test's database and
store; each chunk goes on a fresh connection, and gunicorn's access log names the
process that answered it (``%(p)s``), so the app needs no test-only code to tell.
Which sync worker accepts a connection is the kernel's choice (on a busy machine one
worker can take all 40), so the test steers them: a request left half-sent keeps one
worker reading it, and the chunk goes to the other.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import sqlalchemy as sa

from experience.config import ROOT
from experience.extensions import db
from experience.works.models import FileKind, WorkFile
from tests.conftest import PASSWORD, _free_port, server_env, stop_process, wait_for
from tests.transfers.conftest import metadata


class Client:
    """A browser's cookie and token, each request on a new connection."""

    def __init__(self, port: int):
        self.port, self.cookies = port, {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = dict(headers or {}, Connection="close")
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        for cookie in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return r, data

    def token(self, path: str) -> str:
        _, page = self.request("GET", path)
        return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


@pytest.fixture
def gunicorn(app, database_url, tmp_path):
    port = _free_port()
    log = tmp_path / "access.log"
    env = server_env(app, database_url, tmp_path)
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers=2",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        f"--access-logfile={log}",
        "--access-logformat=%(p)s %(m)s %(U)s %(s)s",
        "--config=/dev/null",  # not gunicorn.conf.py: two sync workers, whatever it says
        "wsgi:app",
    ]
    with open(tmp_path / "gunicorn.log", "w") as out:  # read it when this fails
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        assert wait_for(lambda: _up(port), 30), (tmp_path / "gunicorn.log").read_text()
        yield port, log
    finally:
        stop_process(proc)


class HeldWorker:
    """A GET whose headers are not yet finished: the sync worker that accepted it waits
    on it until ``release`` sends the rest, and cannot take another connection."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        time.sleep(0.05)  # the free worker accepts it before anything else is sent

    def release(self) -> None:
        self.sock.sendall(b"Connection: close\r\n\r\n")
        while self.sock.recv(4096):
            pass
        self.sock.close()


def _up(port: int) -> bool:
    try:
        return Client(port).request("GET", "/healthz")[0].status == 200
    except OSError:
        return False


def _pids(log: Path, method: str) -> list[str]:
    return [pid for pid, m, *_ in (line.split() for line in log.read_text().splitlines()) if m == method]


def _pid_of(log: Path, method: str, n: int) -> str:
    """The process that answered the ``n``-th such request (counted from 1): gunicorn logs
    it just after the answer, so wait for its line."""
    assert wait_for(lambda: len(_pids(log, method)) >= n, 10)
    return _pids(log, method)[n - 1]


def test_chunks_on_two_worker_processes_make_one_complete_file(
    app, open_on_the_real_clock, gunicorn, unit, video_work, h264_video
):
    port, log = gunicorn
    browser = Client(port)
    token = browser.token("/login")
    login = urllib.parse.urlencode({"username": unit.credit_code, "password": PASSWORD, "csrf_token": token})
    r, _ = browser.request("POST", "/login", login.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 302
    tus = {"Tus-Resumable": "1.0.0", "X-CSRFToken": browser.token(f"/works/{video_work.id}")}
    r, _ = browser.request(
        "POST",
        "/transfers/",
        headers=dict(
            tus,
            **{
                "Upload-Length": str(len(h264_video)),
                "Upload-Metadata": metadata(filename="clip.mp4", purpose="work-video", target=video_work.id),
            },
        ),
    )
    assert r.status == 201
    url = r.headers["Location"]
    chunk = len(h264_video) // 40 + 1
    pids = []
    held = HeldWorker(port)
    for at in range(0, len(h264_video), chunk):
        # hold the worker that just answered, free the other: chunks alternate
        held, previous = HeldWorker(port), held
        previous.release()
        headers = dict(tus, **{"Upload-Offset": str(at), "Content-Type": "application/offset+octet-stream"})
        r, body = browser.request("PATCH", url, h264_video[at : at + chunk], headers)
        assert r.status == 204, body
        pids.append(_pid_of(log, "PATCH", len(pids) + 1))
    held.release()
    assert len(set(pids)) == 2, pids
    r, _ = browser.request("HEAD", url, headers=tus)
    assert r.headers["Upload-Offset"] == str(len(h264_video))
    db.session.rollback()  # a fresh snapshot: the workers wrote after the test's last read
    original = db.session.scalar(
        sa.select(WorkFile).where(WorkFile.work_id == video_work.id, WorkFile.kind == FileKind.ORIGINAL)
    )
    assert original.sha256 == hashlib.sha256(h264_video).hexdigest()
