"""A slow client must not hold up check-ins: gunicorn as configured in gunicorn.conf.py,
six uploads trickling in over "weak Wi-Fi", and a check-in that still gets its answer."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from experience.accounts.models import Role
from experience.checkin import services
from experience.core import clock
from experience.extensions import db
from tests.conftest import _free_port, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.environ.get("TEST_DB") == "postgresql", reason="the server, not the database, is under test")
def test_six_trickling_uploads_do_not_hold_up_a_check_in(app, database_url, make_user, make_guest, tmp_path):
    from experience.campaigns.services import default_campaign
    from experience.events.services import create_event
    from tests.conftest import event_data

    staff = make_user(Role.PROVINCE, "11")
    now = clock.utcnow()  # a real server, on the real clock: an event happening now
    campaign = default_campaign(clock.beijing_today(now).year)
    db.session.add(campaign)
    event = create_event(
        campaign,
        actor=staff,
        now=now,
        province_code="11",
        **event_data(starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=2)),
    )
    guest = make_guest(event)
    _, token = services.create_api_token(event, "闸机", actor=staff, now=now)
    code, walk_in = guest.code, event.walk_in_code
    db.session.commit()
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "x",
        "UPLOAD_DIR": str(tmp_path / "u"),
        "RATELIMIT_STORAGE_URI": f"sqlitefile://{tmp_path / 'limits.db'}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }  # and the threads gunicorn.conf.py gives each
    with open(tmp_path / "gunicorn.log", "w") as log:  # the server keeps its own copy open
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    slow = []
    try:
        assert wait_for(lambda: _up(port), 30)
        for _ in range(6):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(
                f"POST /w/{walk_in} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: 20000000\r\n\r\nname=".encode()
            )
            slow.append(s)
        time.sleep(1)
        for s in slow:  # still trickling
            s.sendall(b"a" * 100)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/checkins",
            method="POST",
            data=json.dumps({"code": code, "nonce": "slow-1"}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:  # would hang with one sync worker per upload
            assert r.status == 201 and json.load(r)["result"] == "ok"
    finally:
        for s in slow:
            s.close()
        stop_process(server)


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
