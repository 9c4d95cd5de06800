"""A venue's screen when the network or the server does not play along, in Chromium at
1920×1080 against a real gunicorn server that the test stops (its port closed: not
``context.set_offline``, which does not cut a service worker's own fetches) and starts
again on the same port; in between, a stand-in answers 502 to everything on that port,
as nginx does while the app behind it restarts.

- cached, the works keep playing with the server down, a cached video too (its ranges
  answered from the cache, never from the browser's HTTP cache), a reload plays them
  again, also while every answer is a 502; a file the cache lacks is skipped without
  being reported and played again once the server is back; a blank given meanwhile
  applies once it is back;
- a screen whose link has ended while no page of it ran loses its caches when another
  screen's page loads, and a fill that never completes keeps two playlist versions only;
- a damaged video is skipped and reported on the console; an emptied playlist shows the
  welcome; a revoked link clears the screen's caches;
- a browser without service workers still plays, and the console says 无离线缓存.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.config import ROOT
from experience.core import clock
from experience.displays import control, screens
from experience.displays.models import Screen
from experience.extensions import db
from experience.platform.services import works_for_events
from experience.works import services
from experience.works.models import WorkCategory
from tests.browser.conftest import ARTIFACTS, login
from tests.conftest import _free_port, server_env, stop_process, wait_for
from tests.platform.conftest import (  # noqa: F401 (fixtures)
    after_the_deadline,
    h264_video,
    make_expert,
    make_unit,
    other_unit,
    photo_bytes,
    publish,
    screening_round,
    secretariat,
    select,
    submitted_work,
    unit,
)
from tests.screening.conftest import NOW
from tests.works.conftest import stored

pytestmark = pytest.mark.browser

FIXTURES = Path("/work/shared/fixtures/works")
#: the shortest a scene may stay up: the rotation moves on within the test's patience
SECONDS = 5
ITEM_IMAGE_LOADED = (
    "(key) => document.body.dataset.item === key && document.querySelector('#stage img.media')?.naturalWidth > 0"
)
SCREEN_CACHES = "(prefix) => caches.keys().then(names => names.filter(n => n.startsWith(prefix)).sort())"
#: take one address out of every cache of a screen: a file its cache never got
UNCACHE = """([prefix, url]) => caches.keys().then(names => Promise.all(names.filter(n => n.startsWith(prefix))
    .map(n => caches.open(n).then(c => c.delete(url)))))"""


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class Server:
    """One gunicorn instance on the test's database, on a port it keeps across restarts."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log = env, log
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> None:
        cmd = [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers=1",
            "--worker-class=gthread",
            "--threads=8",
            "--graceful-timeout=2",
            f"--bind=127.0.0.1:{self.port}",
            "--config=/dev/null",
            "wsgi:app",
        ]
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=out, stderr=out)
        assert wait_for(lambda: _up(self.base), 30), self.log.read_text()

    def stop(self) -> None:
        stop_process(self.proc, grace=10)
        self.proc = None
        assert not _up(self.base)  # the port is closed: nothing answers
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{self.base}/healthz", timeout=2)


class _BadGateway(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class BadGateway:
    """nginx while the app behind it restarts: 502 to everything, on the app's port."""

    def __init__(self, port: int):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _BadGateway)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def fetch_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


@pytest.fixture
def server(app, database_url, tmp_path):
    env = server_env(app, database_url, tmp_path)
    running = Server(env, tmp_path / "gunicorn.log")
    running.start()
    yield running
    if running.proc is not None:
        stop_process(running.proc, grace=10)


@pytest.fixture
def screen_page(browser):
    """``screen_page(service_workers=True)``: a 1920×1080 page of a fresh browser profile."""
    contexts = []

    def make(service_workers: bool = True):
        ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        if not service_workers:
            # an old TV browser: no service worker API at all
            ctx.add_init_script("delete Navigator.prototype.serviceWorker;")
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def venue(app, make_user, make_event, submitted_work, select, publish, photo_bytes):  # noqa: F811
    """An event happening now on the real clock (the server runs on it), two photo works
    and the fixture video (2 min 50 s) selected and in their 公示, and a screen that shows
    the works only, SECONDS each."""
    staff = make_user(Role.PROVINCE, "11", username="bj-offline")
    event = make_event("11", actor=staff)
    now = clock.utcnow()
    event.starts_at, event.ends_at = now - timedelta(hours=1), now + timedelta(hours=2)
    db.session.commit()

    def long_video(work):
        data = (FIXTURES / "video_2m50s.mp4").read_bytes()
        services.attach_video(work, stored(data, "clip.mp4", "mp4"), actor=work.unit.account, now=NOW)

    first = submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心")
    second = submitted_work(category=WorkCategory.PHOTO, title="社区食堂的放心味道")
    video = submitted_work(category=WorkCategory.VIDEO, title="放心消费在身边", prepare=long_video)
    select([first, second, video])
    publish()
    screen = screens.create_screen(event, "主屏", actor=staff, now=now)
    db.session.commit()
    scenes = {"welcome": {"on": False, "seconds": SECONDS}, "works": {"on": True, "seconds": SECONDS}}
    screens.set_scenes(screen, scenes, actor=staff, now=now)
    keys = [f"work:{w.id}" for w in (first, second, video)]
    screens.add_items(screen, keys, actor=staff, now=now)
    db.session.commit()
    return {"event": event, "staff": staff, "screen": screen, "token": screen.token, "keys": keys}


def write(change) -> None:
    """``change()`` committed beside the server's writes (SQLite: begin again when locked)."""
    for _ in range(40):
        db.session.rollback()
        try:
            change()
            db.session.commit()
            return
        except sa.exc.OperationalError:
            db.session.rollback()
            time.sleep(0.05)
    raise AssertionError("the database stayed locked")


def row(venue) -> Screen:
    db.session.rollback()  # the server's heartbeat, not the test's snapshot
    return db.session.get(Screen, venue["screen"].id)


def shot(page, name: str) -> None:
    folder = ARTIFACTS / "displays"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def fully_cached(page, timeout: int = 20_000) -> str:
    """Wait until the screen says its whole playlist is cached; returns what it says."""
    page.wait_for_function(
        "() => /^(\\d+)\\/\\1$/.test(document.body.dataset.cache || '')",
        timeout=timeout,
    )
    return page.evaluate("document.body.dataset.cache")


def no_error_shown(page) -> None:
    text = page.inner_text("body")
    for word in ("错误", "失败", "无法", "断开", "Error", "error", "Bad Gateway", "nginx"):
        assert word not in text


def test_the_works_play_on_with_the_server_down_and_a_blank_given_meanwhile_applies_on_its_return(
    server, screen_page, venue
):
    first, second, video = venue["keys"]
    event, staff = venue["event"], venue["staff"]
    page = screen_page()
    page.goto(f"{server.base}/s/{venue['token']}")
    page.wait_for_function("() => document.body.dataset.scene === 'works'", timeout=10_000)
    said = fully_cached(page)
    # the page, its script and style, two photos, the video and its poster
    assert said == "7/7"
    assert wait_for(lambda: row(venue).cache_state == "7/7", timeout=5)  # the heartbeat says so too
    assert page.evaluate(SCREEN_CACHES, f"screen-{venue['token']}-")

    plays = {i["key"]: i for i in fetch_json(f"{server.base}/s/{venue['token']}/content")["items"]}
    media = {plays[second]["photos"][0]["url"], plays[video]["url"], plays[video]["poster"]}

    # from the first work, so that the next two come within seconds
    write(lambda: control.command(event, "goto", scene="works", actor=staff, now=clock.utcnow()))
    page.wait_for_function(ITEM_IMAGE_LOADED, arg=first, timeout=5000)
    # the browser's own HTTP cache holds what it fetched so far (a year for ?v= media), and
    # the page's memory cache what it showed: neither must be what plays on
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.clearBrowserCache")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    answered = []
    page.on("response", lambda r: answered.append(r))
    server.stop()

    # the rotation goes on from the cache: the next photo loads, then the video plays
    page.wait_for_function(ITEM_IMAGE_LOADED, arg=second, timeout=SECONDS * 1000 + 4000)
    page.wait_for_function("() => document.body.dataset.fresh === '0'", timeout=15_000)
    shot(page, "20-offline-playing")
    no_error_shown(page)
    page.wait_for_function(
        "(key) => document.body.dataset.item === key && document.querySelector('#stage video')?.currentTime > 1.5",
        arg=video,
        timeout=SECONDS * 1000 + 8000,
    )
    assert page.evaluate("document.querySelector('#stage video').error") is None
    no_error_shown(page)
    # every file it played came from the service worker's cache, the video as ranges
    played = [r for r in answered if r.url.removeprefix(server.base) in media]
    assert {r.url.removeprefix(server.base) for r in played} >= {plays[second]["photos"][0]["url"], plays[video]["url"]}
    assert all(r.from_service_worker for r in played)
    assert any(r.status == 206 and r.url.endswith(plays[video]["url"]) for r in played)

    # the venue's PC reloads the page while the server is still down: the page, its
    # script and its last content come from the cache, and the works play again
    page.reload()
    page.wait_for_function(ITEM_IMAGE_LOADED, arg=first, timeout=10_000)
    assert page.evaluate("document.body.dataset.fresh") == "0"
    no_error_shown(page)

    # nginx answers 502 while the app restarts: the same, from the cache; and a file the
    # cache lacks (the second work's photo, taken out) is skipped for now, not reported
    page.evaluate(UNCACHE, [f"screen-{venue['token']}-", plays[second]["photos"][0]["url"]])
    with BadGateway(server.port):
        page.reload()
        page.wait_for_function(ITEM_IMAGE_LOADED, arg=first, timeout=10_000)
        no_error_shown(page)
        page.wait_for_function("(key) => document.body.dataset.item === key", arg=video, timeout=SECONDS * 1000 + 6000)
        assert page.evaluate("document.body.dataset.bad") == ""
        no_error_shown(page)
        shot(page, "24-502-playing-from-cache")

        # the organiser blanks the screens while this one is cut off
        write(lambda: control.command(event, "blank", actor=staff, now=clock.utcnow()))
        time.sleep(1)
        assert page.evaluate("document.body.dataset.blank") == "0"  # it cannot know yet
    server.start()
    started = time.monotonic()
    page.wait_for_function("() => document.body.dataset.blank === '1'", timeout=10_000)
    assert time.monotonic() - started < 8  # backoff at most 6 s, then the first answer
    assert event.title in page.inner_text("#stage")
    assert page.evaluate("document.querySelector('#stage video')") is None

    # back on the network, the photo skipped meanwhile plays again; nothing was reported
    write(lambda: control.command(event, "unblank", actor=staff, now=clock.utcnow()))
    write(lambda: control.command(event, "pin", item=second, actor=staff, now=clock.utcnow()))
    page.wait_for_function(ITEM_IMAGE_LOADED, arg=second, timeout=5000)
    assert row(venue).bad_media == ""


def test_a_damaged_video_is_skipped_and_reported_and_an_emptied_playlist_shows_the_welcome(
    app, server, screen_page, browser, venue
):
    first, second, video = venue["keys"]
    event, staff, screen = venue["event"], venue["staff"], venue["screen"]
    # the video's stored bytes damaged after publication (a disk, a botched copy): its
    # start only, as video_truncated.mp4, under the same address
    shown = {w.id: w for w in works_for_events(event.campaign, clock.utcnow())}
    work_id = int(video.split(":")[1])
    sent = dict((file_id, key) for file_id, key, _type in shown[work_id].sent)
    key = sent[shown[work_id].video.file.id]
    damaged = Path(app.config["UPLOAD_DIR"]) / key  # the store is write-once: damage the disk's copy
    assert damaged.is_file()
    damaged.write_bytes((FIXTURES / "video_truncated.mp4").read_bytes())
    write(lambda: control.command(event, "pin", item=video, actor=staff, now=clock.utcnow()))

    page = screen_page()
    page.goto(f"{server.base}/s/{venue['token']}")
    # pinned, yet it cannot play: skipped to a work that can, within seconds
    page.wait_for_function(
        "(bad) => document.body.dataset.scene === 'works' && document.body.dataset.item"
        " && document.body.dataset.item !== bad && document.body.dataset.bad === bad",
        arg=video,
        timeout=12_000,
    )
    assert page.evaluate("document.querySelector('#stage video')") is None
    assert wait_for(lambda: row(venue).bad_media == video, timeout=5)
    assert row(venue).bad_media_at is not None

    # the console (a phone) names it
    phone = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True, locale="zh-CN")
    console = phone.new_page()
    login(console, server.base, staff.username)
    console.goto(f"{server.base}/events/{event.id}/screens")
    marks = console.locator(f"li[data-screen-id='{screen.id}'] .js-bad")
    assert marks.inner_text() == "无法播放：放心消费在身边"
    assert console.locator(f"li[data-screen-id='{screen.id}'] .js-cache").inner_text().startswith("离线缓存 ")
    marks.scroll_into_view_if_needed()
    shot(console, "21-console-marks-360")

    # the playlist emptied: the welcome, never a black stage
    def empty():
        for item in list(db.session.get(Screen, screen.id).items):
            screens.remove_item(db.session.get(Screen, screen.id), item.id, actor=staff, now=clock.utcnow())

    write(empty)
    page.wait_for_function("() => document.body.dataset.scene === 'welcome'", timeout=3000)
    assert event.title in page.inner_text("#stage .welcome-title")
    shot(page, "22-emptied-playlist-welcome")
    # a new playlist version: the report is about the old one, and the console drops it
    assert wait_for(lambda: row(venue).bad_media == "", timeout=5)
    console.wait_for_function(
        "(id) => document.querySelector(`li[data-screen-id='${id}'] .js-bad`).hidden", arg=screen.id, timeout=8000
    )
    phone.close()

    # the link revoked: the screen clears every cache of its own
    prefix = f"screen-{venue['token']}-"
    assert page.evaluate(SCREEN_CACHES, prefix)
    write(lambda: screens.revoke_screen(db.session.get(Screen, screen.id), actor=staff, now=clock.utcnow()))
    page.wait_for_function("() => document.body.dataset.scene === 'gone'", timeout=5000)
    assert wait_for(lambda: page.evaluate(SCREEN_CACHES, prefix) == [], timeout=5)
    assert event.title not in page.inner_text("body")
    # reloaded, the page says the same, from the server (nothing cached answers for it)
    page.reload()
    assert page.evaluate("document.body.dataset.scene") == "gone"
    assert event.title not in page.content()


def test_a_browser_without_service_workers_still_plays_and_the_console_says_so(server, screen_page, browser, venue):
    first, second, video = venue["keys"]
    event, staff, screen = venue["event"], venue["staff"], venue["screen"]
    page = screen_page(service_workers=False)
    page.goto(f"{server.base}/s/{venue['token']}")
    assert page.evaluate("'serviceWorker' in navigator") is False
    page.wait_for_function(ITEM_IMAGE_LOADED, arg=first, timeout=10_000)
    page.wait_for_function(ITEM_IMAGE_LOADED, arg=second, timeout=SECONDS * 1000 + 4000)  # it rotates
    assert page.evaluate("document.body.dataset.cache") == "none"
    assert wait_for(lambda: row(venue).cache_state == "none", timeout=5)

    phone = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True, locale="zh-CN")
    console = phone.new_page()
    login(console, server.base, staff.username)
    console.goto(f"{server.base}/events/{event.id}/screens")
    mark = console.locator(f"li[data-screen-id='{screen.id}'] .js-cache")
    assert mark.inner_text() == "无离线缓存"
    assert "console-mark" in (mark.get_attribute("class") or "")
    mark.scroll_into_view_if_needed()
    shot(console, "23-console-no-offline-cache-360")
    phone.close()


def test_an_ended_screen_s_caches_go_when_another_screen_loads_and_an_unfinished_fill_keeps_two_versions(
    app, server, screen_page, venue
):
    first, second, video = venue["keys"]
    event, staff = venue["event"], venue["staff"]
    side = screens.create_screen(event, "副屏", actor=staff, now=clock.utcnow())
    db.session.commit()
    main_prefix, side_prefix = f"screen-{venue['token']}-", f"screen-{side.token}-"

    # the side screen (nothing on its playlist: the page and its files) was put up once
    page = screen_page()
    page.goto(f"{server.base}/s/{side.token}")
    assert fully_cached(page) == "3/3"
    assert page.evaluate(SCREEN_CACHES, side_prefix)
    expires = page.evaluate(
        "(url) => caches.open('screens-index').then(c => c.match(url)).then(r => r && r.text())",
        f"/s/{side.token}/expires",
    )
    assert int(expires) == int(screens.link_expires_at(event).replace(tzinfo=clock.UTC).timestamp() * 1000)
    # ... then the PC was switched off until past its link's end (12 h after the event's)
    page.evaluate(
        "(url) => caches.open('screens-index').then(c => c.put(url, new Response(String(Date.now() - 1000))))",
        f"/s/{side.token}/expires",
    )

    # the main screen left two older playlist versions behind, and one of its photos is
    # gone from the store, so that its fill never completes
    cv = fetch_json(f"{server.base}/s/{venue['token']}/manifest")["cv"]
    assert cv >= 3
    page.evaluate(
        "(names) => Promise.all(names.map(n => caches.open(n).then(c => c.put('/old', new Response('old')))))",
        [f"{main_prefix}{cv - 2}", f"{main_prefix}{cv - 1}"],
    )
    shown = {w.id: w for w in works_for_events(event.campaign, clock.utcnow())}
    photo = shown[int(second.split(":")[1])]
    key = dict((file_id, key) for file_id, key, _type in photo.sent)[photo.photos[0].screen.id]
    (Path(app.config["UPLOAD_DIR"]) / key).unlink()

    # the main screen's page loads on the same PC: the side screen's caches go
    page.goto(f"{server.base}/s/{venue['token']}")
    assert wait_for(lambda: page.evaluate(SCREEN_CACHES, side_prefix) == [], timeout=5)
    # the page notes its own link's end without waiting for the cache: look until it is there
    index = "caches.open('screens-index').then(c => c.keys()).then(k => k.map(r => r.url))"
    assert wait_for(lambda: page.evaluate(index) == [f"{server.base}/s/{venue['token']}/expires"], timeout=5)
    page.wait_for_function(ITEM_IMAGE_LOADED, arg=first, timeout=10_000)
    # all but the missing photo cached; of the older versions only the newest is kept
    page.wait_for_function("() => document.body.dataset.cache === '6/7'", timeout=20_000)
    assert page.evaluate(SCREEN_CACHES, main_prefix) == sorted(
        [f"{main_prefix}{cv - 1}", f"{main_prefix}{cv}", f"{main_prefix}last"]
    )
