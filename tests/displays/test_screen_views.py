"""The screen's routes (/s/<token>…): what a venue PC opens with its secret link, and
the protocol it polls. No login: the token is the only credential."""

from __future__ import annotations

import io
import re
import threading
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from werkzeug.test import Client

from experience.core import files, storage
from experience.core.errors import RuleError
from experience.core.fastpath import innermost
from experience.core.ratelimit import FAILURE_BUDGET
from experience.displays import control, feed, screens
from experience.displays.fastpath import ScreenPolls
from experience.displays.models import Screen
from experience.events.models import GuestCategory
from experience.events.services import cancel_event
from experience.extensions import db
from experience.ratings.models import Display
from experience.screening import publication
from experience.works.models import WorkCategory
from tests.displays.conftest import DURING
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

ROUTES = ["", "/sync", "/content", "/live", "/manifest"]


@pytest.fixture(autouse=True)
def during(app):
    """The pages' clock: an hour into the event."""
    app.config["FROZEN_NOW"] = DURING
    yield
    app.config["FROZEN_NOW"] = None


def at(app, moment):
    app.config["FROZEN_NOW"] = moment


def fetched(client, url) -> int:
    """The status of a file's answer, its stream closed (a file left open is a warning)."""
    with client.get(url) as answer:
        return answer.status_code


def seen(screen):
    db.session.expire_all()
    s = db.session.get(Screen, screen.id)
    return s.seen_at, s.shown


@pytest.fixture
def guest_photo(rate, app):
    """``guest_photo(event, approved=True)``: a rating with a stored photo, the guest's
    consent given, the photo approved (or not)."""

    def make(event, approved=True, **guest):
        rating = rate(event, "现场照片", display=Display.NAME, **guest)
        out = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
        key = f"rating-{rating.id}-web.jpg"
        storage.current().write_bytes(key, out.getvalue())
        rating.photo_key = rating.photo_web_key = key
        rating.photo_consent = True
        rating.photo_approved_at = DURING if approved else None
        db.session.commit()
        return rating

    return make


def test_sync_answers_304_until_a_command_raises_the_version(client, event, screen, staff):
    first = client.get(f"/s/{screen.token}/sync?shown=welcome&sv=1")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag == f'"{first.json["v"]}"' and first.json["blank"] is False
    assert first.headers["Cache-Control"] == "no-store"
    same = client.get(f"/s/{screen.token}/sync?shown=welcome&sv=1", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.data == b""
    control.command(event, "blank", actor=staff, now=DURING)
    db.session.commit()
    changed = client.get(f"/s/{screen.token}/sync?shown=welcome&sv=1", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json["blank"] is True and changed.headers["ETag"] != etag
    assert changed.json["v"] > first.json["v"]


def test_the_page_is_a_shell_without_cookie_cache_or_outside_assets(client, event, screen):
    page = client.get(f"/s/{screen.token}")
    assert page.status_code == 200
    assert "Set-Cookie" not in page.headers
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/") for a in assets)  # nothing from outside
    assert f"/s/{screen.token}/sync" in html
    assert event.title not in html  # the feed brings the event, the page holds none of it
    for route in ROUTES[1:]:
        assert "Set-Cookie" not in client.get(f"/s/{screen.token}{route}").headers


def _dead(kind, event, screen, staff, app):
    if kind == "unknown":
        return "AAAAAAAAAAAAAAAAAAAAAA"
    if kind == "revoked":
        screens.revoke_screen(screen, actor=staff, now=DURING)
    elif kind == "expired":
        at(app, event.ends_at + timedelta(hours=screens.LINK_HOURS_AFTER_END, seconds=1))
    elif kind == "cancelled":
        cancel_event(event, "天气原因", actor=staff, now=DURING)
    db.session.commit()
    return screen.token


@pytest.mark.parametrize("kind", ["unknown", "revoked", "expired", "cancelled"])
def test_a_dead_link_answers_gone_and_shows_nothing_of_the_event(client, app, event, screen, staff, kind):
    token = _dead(kind, event, screen, staff, app)
    page = client.get(f"/s/{token}")
    assert page.status_code == (404 if kind == "unknown" else 410)
    html = page.get_data(as_text=True)
    assert "此大屏链接已失效" in html
    for secret in (event.title, event.venue_name, event.certified_org, event.service_name, token):
        assert secret not in html
    assert "<script" not in html
    for route in ROUTES[1:]:
        answer = client.get(f"/s/{token}{route}")
        assert answer.status_code == 410 and answer.json == {"gone": True}


def test_the_heartbeat_is_written_now_and_then_unless_what_is_shown_changes(client, app, event, screen):
    client.get(f"/s/{screen.token}/sync?shown=welcome&sv=1")
    assert seen(screen) == (DURING, "welcome")
    later = DURING + timedelta(seconds=feed.HEARTBEAT_WRITE_SECONDS - 1)
    at(app, later)
    client.get(f"/s/{screen.token}/sync?shown=welcome&sv=1")
    assert seen(screen) == (DURING, "welcome")  # nothing new: no write
    client.get(f"/s/{screen.token}/sync?shown=works/work:3&sv=1")
    assert seen(screen) == (later, "works/work:3")  # what it shows changed: at once
    latest = later + timedelta(seconds=feed.HEARTBEAT_WRITE_SECONDS)
    at(app, latest)
    client.get(f"/s/{screen.token}/sync?shown=works/work:3&sv=1")
    assert seen(screen) == (latest, "works/work:3")
    db.session.expire_all()
    assert db.session.get(Screen, screen.id).shown_version == 1


def test_a_bad_shown_version_is_ignored_not_an_error(client, screen):
    answer = client.get(f"/s/{screen.token}/sync?shown=" + "x" * 500 + "&sv=-1")
    assert answer.status_code == 200
    assert seen(screen)[1] == "x" * feed.SHOWN_MAX


@pytest.fixture
def works(submitted_work, select, publish):  # noqa: F811
    text = submitted_work(category=WorkCategory.TEXT, title="社区食堂的认证之路")
    photo = submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心")
    video = submitted_work(category=WorkCategory.VIDEO, title="放心消费在身边")
    select([text, photo, video])
    publish()
    return text, photo, video


def test_content_lists_the_playlist_with_media_and_drops_a_withdrawn_work(
    client,
    event,
    screen,
    staff,
    works,
    secretariat,  # noqa: F811
):
    text, photo, video = works
    screens.add_items(screen, [f"work:{w.id}" for w in works], actor=staff, now=DURING)
    db.session.commit()
    content = client.get(f"/s/{screen.token}/content")
    assert content.status_code == 200 and content.headers["Cache-Control"] == "no-store"
    data = content.json
    assert data["event"]["title"] == event.title
    assert [s["scene"] for s in data["scenes"]] == ["welcome", "checkin", "works", "comments", "ratings"]
    kinds = {i["key"]: i for i in data["items"]}
    assert kinds[f"work:{text.id}"]["kind"] == "text" and "服务认证让生活更美好" in kinds[f"work:{text.id}"]["body"]
    picture = kinds[f"work:{photo.id}"]["photos"][0]
    assert picture["url"].startswith(f"/showcase/{photo.id}/")
    assert fetched(client, picture["url"]) == 200  # the public 公示 serves it, no login
    clip = kinds[f"work:{video.id}"]
    assert clip["kind"] == "video" and clip["url"].startswith(f"/showcase/{video.id}/")
    assert fetched(client, clip["url"]) == 200
    sync = client.get(f"/s/{screen.token}/sync").json
    publication.withdraw_selected(photo, "作品存在版权争议", actor=secretariat, now=DURING)
    db.session.commit()
    assert client.get(f"/s/{screen.token}/sync").json["cv"] > sync["cv"]  # the screen refetches …
    keys = [i["key"] for i in client.get(f"/s/{screen.token}/content").json["items"]]
    assert keys == [f"work:{text.id}", f"work:{video.id}"]  # … and the work is gone


def test_live_counts_by_category_and_only_approved_unhidden_comments(client, event, screen, staff, make_guest, rate):
    make_guest(event, category=GuestCategory.MEDIA).checked_in_at = DURING
    db.session.commit()
    rate(event, "非常专业", display=Display.NAME, name="李四", phone="13912345678")
    rate(event, "还没审核", approved=False)
    hidden = rate(event, "被隐藏")
    control.command(event, "hide", item=f"comment:{hidden.id}", actor=staff, now=DURING)
    db.session.commit()
    live = client.get(f"/s/{screen.token}/live")
    assert live.status_code == 200
    data = live.json
    assert data["checked_in"] == 4 and data["expected"] == 12
    assert {(c["label"], c["checked_in"], c["expected"]) for c in data["categories"]} == {
        ("消费者", 3, 10),
        ("新闻媒体", 1, 2),
    }
    assert [c["text"] for c in data["comments"]] == ["非常专业"]
    assert data["comments"][0]["name"] == "李四"
    body = live.get_data(as_text=True)
    assert "13912345678" not in body and "还没审核" not in body and "被隐藏" not in body


def test_a_guest_photo_is_served_only_for_the_screen_s_event_and_while_approved(
    client, event, screen, staff, guest_photo
):
    photo = guest_photo(event)
    waiting = guest_photo(event, approved=False)
    screens.add_items(screen, [f"photo:{photo.id}"], actor=staff, now=DURING)
    db.session.commit()
    item = client.get(f"/s/{screen.token}/content").json["items"][0]
    assert item["kind"] == "guest_photo"
    # ?v=: the same bytes for ever, so the screen's offline cache may keep it
    assert item["url"] == f"/s/{screen.token}/photos/{photo.id}?v={files.version(photo.photo_web_key)}"
    with client.get(item["url"]) as served:
        assert served.status_code == 200 and served.mimetype == "image/jpeg"
        # the screen's Cache Storage is its offline copy (deleted with the link); the
        # browser's HTTP cache must not keep a guest's photo for a year beside it
        assert served.headers["Cache-Control"] == "no-store"
    assert client.get(f"/s/{screen.token}/photos/{waiting.id}").status_code == 404  # never approved
    photo.photo_approved_at = None  # approval withdrawn
    db.session.commit()
    assert client.get(item["url"]).status_code == 404
    assert client.get(f"/s/{screen.token}/content").json["items"] == []


def test_a_guest_photo_taken_back_can_no_longer_be_pinned(event, screen, staff, guest_photo):
    photo, kept = guest_photo(event), guest_photo(event)
    screens.add_items(screen, [f"photo:{photo.id}", f"photo:{kept.id}"], actor=staff, now=DURING)
    db.session.commit()
    key = f"photo:{photo.id}"
    assert control.command(event, "pin", item=key, actor=staff, now=DURING).pinned == key
    control.command(event, "unpin", actor=staff, now=DURING)
    photo.photo_consent = False  # the guest changed their mind: the screens drop it
    db.session.commit()
    with pytest.raises(RuleError) as e:
        control.command(event, "pin", item=key, actor=staff, now=DURING)
    assert e.value.code == "no_longer_shown"
    assert control.command(event, "pin", item=f"photo:{kept.id}", actor=staff, now=DURING).pinned == f"photo:{kept.id}"


def test_a_screen_of_one_event_reaches_nothing_of_another(
    client, event, make_event, staff, make_screen, guest_photo, rate
):
    other = make_event("11", actor=staff, title="另一场体验活动", starts_at=event.starts_at, ends_at=event.ends_at)
    mine, theirs = make_screen(event), make_screen(other)
    their_photo = guest_photo(other)
    rate(other, "另一场的评价")
    screens.add_items(theirs, [f"photo:{their_photo.id}"], actor=staff, now=DURING)
    db.session.commit()
    assert fetched(client, f"/s/{theirs.token}/photos/{their_photo.id}") == 200  # theirs: yes
    # token × route: each of my routes answers, none carries the other event
    for route in ROUTES:
        answer = client.get(f"/s/{mine.token}{route}")
        assert answer.status_code == 200
        text = answer.get_data(as_text=True)
        assert "另一场体验活动" not in text and "另一场的评价" not in text
    assert client.get(f"/s/{mine.token}/photos/{their_photo.id}").status_code == 404


def test_unknown_tokens_spend_the_address_s_budget_and_known_ones_do_not(client, screen):
    budget = int(FAILURE_BUDGET.split()[0])
    for _ in range(budget * 2):  # a live screen polling costs nothing of the budget
        assert client.get(f"/s/{screen.token}/sync").status_code == 200
    for n in range(budget):
        assert client.get(f"/s/guess{n:018d}/sync").status_code == 410
    assert client.get("/s/guess-one-more-000000/sync").status_code == 429
    # spent: the guesser learns nothing more, not even from a real token
    assert client.get(f"/s/{screen.token}/sync").status_code == 429
    assert client.get(f"/s/{screen.token}").status_code == 429


def test_polls_that_write_their_heartbeat_beside_commands_never_fail(app, client, event, make_screen, staff):
    """Real connections at once: each poll changes what it shows (so it writes), while
    commands write too. On SQLite a poll's read cannot always become a write; the view
    begins again rather than answering 500."""
    tokens = [make_screen(event, name=f"屏{i}").token for i in range(6)]
    statuses: list[int] = []

    def screen_polls(token):
        own = app.test_client()
        for n in range(20):
            statuses.append(own.get(f"/s/{token}/sync?shown=works/work:{n}&sv=1").status_code)

    threads = [threading.Thread(target=screen_polls, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for _ in range(10):
        # the console's POST begins as a writer; the test's session begins as a reader
        # (SQLite), so it too begins again when a heartbeat committed first
        for _attempt in range(50):
            try:
                control.command(event, "next", actor=staff, now=DURING)
                db.session.commit()
                break
            except sa.exc.OperationalError:
                db.session.rollback()
    for t in threads:
        t.join(60)
    assert len(statuses) == 120
    assert set(statuses) == {200}
    assert all(seen(db.session.get(Screen, s.id))[1] == "works/work:19" for s in db.session.query(Screen).all())


def test_the_manifest_lists_this_screen_s_media_and_the_page_s_own_files(
    client, event, screen, staff, works, guest_photo, make_event, make_screen
):
    text, photo, video = works
    mine = guest_photo(event)
    other = make_event("11", actor=staff, title="另一场体验活动", starts_at=event.starts_at, ends_at=event.ends_at)
    theirs = make_screen(other)
    their_photo = guest_photo(other)
    screens.add_items(screen, [f"work:{w.id}" for w in works] + [f"photo:{mine.id}"], actor=staff, now=DURING)
    screens.add_items(theirs, [f"photo:{their_photo.id}"], actor=staff, now=DURING)
    db.session.commit()
    content = client.get(f"/s/{screen.token}/content").json
    answer = client.get(f"/s/{screen.token}/manifest")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    manifest = answer.json
    assert manifest["cv"] == content["cv"]
    # the link's end (12 hours after the event's), for the browser to drop the cache then
    # even if the screen's page never runs again
    ends = event.ends_at + timedelta(hours=screens.LINK_HOURS_AFTER_END)
    assert manifest["expires"] == int(ends.replace(tzinfo=UTC).timestamp() * 1000)
    items = {i["key"]: i for i in content["items"]}
    clip = items[f"work:{video.id}"]
    page = client.get(f"/s/{screen.token}").get_data(as_text=True)
    script, style = re.search(r'src="([^"]+)"', page)[1], re.search(r'href="([^"]+)"', page)[1]
    assert re.fullmatch(r"/static/displays/screen\.js\?v=\w{12}", script)
    assert re.fullmatch(r"/static/displays/screen\.css\?v=\w{12}", style)
    assert f'data-link-expires="{manifest["expires"]}"' in page
    assert manifest["urls"] == [
        f"/s/{screen.token}",
        script,  # what the page asks for, so that the cached page finds them offline
        style,
        *[p["url"] for p in items[f"work:{photo.id}"]["photos"]],
        clip["poster"],
        clip["url"],
        items[f"photo:{mine.id}"]["url"],
    ]  # the text work has no file to keep
    assert f"/photos/{their_photo.id}" not in str(manifest)  # nothing of the other event's screen
    for url in manifest["urls"][3:-1]:
        with client.get(url) as media:
            assert media.status_code == 200, url
            assert "immutable" in media.headers["Cache-Control"], url  # kept for ever, safely
    with client.get(manifest["urls"][-1]) as guests:
        assert guests.status_code == 200 and guests.headers["Cache-Control"] == "no-store"
    screens.remove_item(screen, screen.items[0].id, actor=staff, now=DURING)
    db.session.commit()
    assert client.get(f"/s/{screen.token}/manifest").json["cv"] > manifest["cv"]  # a new version to cache


def test_the_page_s_script_and_style_addresses_change_with_their_content_only(app, client, screen, tmp_path):
    shell = tmp_path / "displays"
    shell.mkdir()
    for name in ("screen.js", "screen.css"):
        (shell / name).write_bytes((Path(app.static_folder) / "displays" / name).read_bytes())
    served_from = app.static_folder
    app.static_folder = str(tmp_path)
    try:

        def addresses():
            page = client.get(f"/s/{screen.token}").get_data(as_text=True)
            return re.search(r'src="([^"]+)"', page)[1], re.search(r'href="([^"]+)"', page)[1]

        script, style = addresses()
        assert addresses() == (script, style)  # the same bytes, the same addresses
        with client.get(script) as answer:
            assert answer.status_code == 200 and b"service worker" in answer.data
        (shell / "screen.js").write_text((shell / "screen.js").read_text() + "\n// a new release\n")
        new_script, same_style = addresses()
        assert new_script != script and same_style == style
        assert new_script in client.get(f"/s/{screen.token}/manifest").json["urls"]
    finally:
        app.static_folder = served_from


def test_the_service_worker_is_served_under_s_and_never_kept_stale(client, screen):
    with client.get("/s/sw.js") as answer:
        assert answer.status_code == 200
        assert answer.mimetype == "text/javascript"
        assert answer.headers["Cache-Control"] == "no-cache"
        assert "Set-Cookie" not in answer.headers
        assert 'addEventListener("fetch"' in answer.get_data(as_text=True)
    page = client.get(f"/s/{screen.token}").get_data(as_text=True)
    assert 'data-worker-url="/s/sw.js"' in page and f'data-cache-prefix="screen-{screen.token}-"' in page


def reported(screen):
    db.session.expire_all()
    s = db.session.get(Screen, screen.id)
    return s.cache_state, s.bad_media


def test_sync_records_what_the_screen_says_of_its_cache_and_bad_media_on_both_paths(app, client, event, screen):
    # a live screen's poll: answered before Flask (displays.fastpath)
    assert client.get(f"/s/{screen.token}/sync?shown=welcome&sv=1&cache=3/7&bad=work:5").status_code == 200
    assert reported(screen) == ("3/7", "work:5")
    # the Flask view, which answers whatever the fast path leaves to it, says the same
    assert isinstance(app.wsgi_app, ScreenPolls)
    through_flask = Client(innermost(app.wsgi_app))
    answer = through_flask.get(f"/s/{screen.token}/sync?shown=welcome&sv=1&cache=none&bad=photo:2,work:5")
    assert answer.status_code == 200
    assert reported(screen) == ("none", "photo:2,work:5")


@pytest.mark.parametrize(
    "query, bad",
    [
        ("cache=99/7&bad=drop table", ""),
        ("cache=" + "9" * 5000, ""),
        ("bad=" + "work:1," * 3000, "work:1"),
        ("cache=&bad=", ""),
        ("cache=%00&bad=work:3%0a", ""),
    ],
)
def test_junk_in_the_report_is_ignored_never_an_error(client, screen, query, bad):
    client.get(f"/s/{screen.token}/sync?shown=welcome&sv=1&cache=2/7&bad=work:3")
    answer = client.get(f"/s/{screen.token}/sync?shown=welcome&sv=1&{query}")
    assert answer.status_code == 200
    assert reported(screen) == ("2/7", bad)  # the cache's last good word kept; junk is no item
