"""Several app servers, one database: a blank pressed on the organiser's phone, served by
one gunicorn instance, reaches two screens polling another instance within 2 seconds.

Nothing of the display state lives in a process: the command is a row in the database,
and each screen's poll reads it wherever it lands. The two instances are separate
gunicorn masters (as on two machines), each with its own worker, on the test's SQLite
file; the browser is Debian's Chromium at 1920×1080 for the screens and 360×640 for the
phone.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from experience.accounts.models import Role
from experience.config import ROOT
from experience.core import clock
from experience.displays import screens
from experience.displays.models import DisplayState
from experience.extensions import db
from tests.browser.conftest import ARTIFACTS, login
from tests.conftest import _free_port, server_env, stop_process, wait_for

#: the issue's promise: a command is on every screen of the event within this
WITHIN_SECONDS = 2.0
#: the console notes when the organiser taps (before its own handlers run)
TAPS = "() => document.addEventListener('click', () => { window.tappedAt = Date.now(); }, true)"
#: a screen notes each change of its blank state, and when (a value set again is no change)
BLANK_CHANGES = """() => {
  window.blankChanges = [[document.body.dataset.blank, Date.now()]];
  new MutationObserver(() => {
    const now = document.body.dataset.blank;
    if (now !== window.blankChanges[window.blankChanges.length - 1][0]) window.blankChanges.push([now, Date.now()]);
  }).observe(document.body, { attributes: true, attributeFilter: ['data-blank'] });
}"""


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture
def two_servers(app, database_url, tmp_path):
    """Two gunicorn instances (one gthread worker each) on the test's database."""
    env = server_env(app, database_url, tmp_path)
    procs, bases = [], []
    for name in ("a", "b"):
        port = _free_port()
        cmd = [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers=1",
            "--worker-class=gthread",
            "--threads=8",
            f"--bind=127.0.0.1:{port}",
            "--config=/dev/null",  # not gunicorn.conf.py: one small worker per instance
            "wsgi:app",
        ]
        with open(tmp_path / f"gunicorn-{name}.log", "w") as out:
            procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out))
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for name, base in zip("ab", bases, strict=True):
            assert wait_for(lambda base=base: _up(base), 30), (tmp_path / f"gunicorn-{name}.log").read_text()
        yield bases
    finally:
        for proc in procs:
            stop_process(proc)


@pytest.fixture
def event_now(make_user, make_event):
    """An event happening now on the real clock (the servers run on it), with its staff."""
    staff = make_user(Role.PROVINCE, "11", username="bj-screens")
    event = make_event("11", actor=staff)
    now = clock.utcnow()
    event.starts_at, event.ends_at = now - timedelta(hours=1), now + timedelta(hours=2)
    db.session.commit()
    return event, staff


def test_a_blank_given_through_one_server_reaches_two_screens_on_another_within_2_seconds(
    browser, two_servers, event_now
):
    server_a, server_b = two_servers
    event, staff = event_now
    main = screens.create_screen(event, "主屏", actor=staff, now=clock.utcnow())
    side = screens.create_screen(event, "签到处", actor=staff, now=clock.utcnow())
    db.session.commit()

    walls = []
    for screen in (main, side):
        ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        page = ctx.new_page()
        page.goto(f"{server_b}/s/{screen.token}")
        # a function, not a string: the page's CSP forbids eval
        page.wait_for_function("() => document.body.dataset.scene === 'welcome'", timeout=10_000)
        walls.append(page)

    phone = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True, locale="zh-CN")
    console = phone.new_page()
    login(console, server_a, staff.username)
    console.goto(f"{server_a}/events/{event.id}/screens")
    button = console.get_by_role("button", name="所有大屏黑屏")

    # Timed by the pages themselves, on the machine's one clock: from the organiser's tap
    # to each screen drawing the change. Playwright's own round trips, slow on a loaded
    # machine, are not the screens' latency (its p95 is the bench's display figure).
    console.evaluate(TAPS)
    for page in walls:
        page.evaluate(BLANK_CHANGES)
    for attempt in range(3):  # three presses, each timed: blank, back, blank again
        want = "1" if attempt % 2 == 0 else "0"
        if want == "1":
            button.click()
        else:
            console.get_by_role("button", name="结束黑屏，显示内容").click()
        for page in walls:
            page.wait_for_function("(want) => document.body.dataset.blank === want", arg=want, timeout=10_000)
        tapped = console.evaluate("() => window.tappedAt")
        for page in walls:
            drawn = page.evaluate("(want) => window.blankChanges.filter((c) => c[0] === want).pop()[1]", want)
            assert (drawn - tapped) / 1000 < WITHIN_SECONDS, f"press {attempt + 1}: {(drawn - tapped) / 1000:.2f} s"
        db.session.rollback()
        assert db.session.get(DisplayState, event.id).blank is (want == "1")

    folder = ARTIFACTS / "displays"
    folder.mkdir(parents=True, exist_ok=True)
    walls[0].screenshot(path=str(folder / "two-servers-blank.png"))
    assert event.title in walls[0].inner_text("body")  # the safe slide: the event's title only
    for page in walls:
        page.context.close()
    phone.close()
