"""The event screen in Chromium at 1920×1080, as a venue PC shows it: every scene drawn
(screenshots under test-artifacts/displays/), commands followed within seconds, and the
fail-safe: a stale link drops comments and counts, a revoked one shows nothing."""

from __future__ import annotations

import io
import time
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from PIL import Image
from playwright.sync_api import expect

from experience.core import storage
from experience.displays import control, feed, screens
from experience.displays.models import DisplayState, Screen
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.ratings.models import Display, Score
from experience.ratings.services import dimensions
from experience.works.models import WorkCategory
from tests.browser.conftest import ARTIFACTS, login
from tests.conftest import wait_for
from tests.displays.conftest import DURING, event, make_screen, rate, staff  # noqa: F401 (fixtures)
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

pytestmark = pytest.mark.browser

LIVE = ("checkin", "comments", "ratings")
NO_SCROLLBARS = (
    "document.documentElement.scrollWidth <= innerWidth && document.documentElement.scrollHeight <= innerHeight"
)
#: changes when the slide does (the item, or the page of the same item)
WHAT_IS_SHOWN = "(document.body.dataset.item + '|' + document.querySelector('#stage').innerText.length)"
VIDEO_READY = (
    "(() => { const v = document.querySelector('video');"
    " return v.muted && v.autoplay && v.hasAttribute('playsinline') && !!v.poster })()"
)


def shot(page, name: str) -> None:
    folder = ARTIFACTS / "displays"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


@pytest.fixture
def screen_context(browser):
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    yield ctx
    ctx.close()


@pytest.fixture
def venue(app, event, staff, make_screen, make_guest, rate, submitted_work, select, publish):  # noqa: F811
    """An event an hour in: guests checked in, rated and commented, works selected and in
    the 公示, a guest's approved photo; one screen with all of it on its playlist, paused
    so that each scene stays while it is looked at."""
    text = submitted_work(category=WorkCategory.TEXT, title="社区食堂的认证之路")
    photo = submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心")
    video = submitted_work(category=WorkCategory.VIDEO, title="放心消费在身边")
    select([text, photo, video])
    publish()
    app.config["FROZEN_NOW"] = DURING
    for category in (GuestCategory.CONSUMER, GuestCategory.CONSUMER, GuestCategory.MEDIA):
        make_guest(event, category=category).checked_in_at = DURING
    db.session.commit()
    comments = [
        rate(event, "讲解员把认证标志讲得很清楚，以后会优先选择认证的养老机构。", display=Display.NAME, name="王阿姨"),
        rate(event, "第一次知道服务也能认证，体验很好！", category=GuestCategory.MEDIA),
        rate(event, "食堂干净，价格公道，点赞。详见 https://example.com/" + "menu" * 60),  # a URL: wraps
    ]
    asked = dimensions(event.campaign_id)
    for i, rating in enumerate(comments):
        for d in asked:
            rating.scores.append(Score(dimension_id=d.id, stars=5 - (i + d.id) % 2))
    picture = comments[0]
    out = io.BytesIO()
    Image.new("RGB", (1600, 900), (40, 120, 200)).save(out, "JPEG")
    key = f"rating-{picture.id}-web.jpg"
    storage.current().write_bytes(key, out.getvalue())
    picture.photo_key = picture.photo_web_key = key
    picture.photo_consent = True
    picture.photo_approved_at = DURING
    db.session.commit()
    screen = make_screen(event)
    keys = [f"work:{w.id}" for w in (text, photo, video)] + [f"photo:{picture.id}"]
    screens.add_items(screen, keys, actor=staff, now=DURING)
    control.command(event, "pause", actor=staff, now=DURING)
    db.session.commit()
    return {"event": event, "screen": screen, "token": screen.token, "comments": comments, "keys": keys}


def write(change) -> None:
    """Run ``change()`` and commit, as the console's request would, beside the screen's
    polls: the test's session reads in a deferred transaction (SQLite), which cannot turn
    into a write once a heartbeat committed after it began, so begin again then."""
    for _ in range(20):
        db.session.rollback()
        try:
            change()
            db.session.commit()
            return
        except sa.exc.OperationalError:
            db.session.rollback()
            time.sleep(0.05)
    raise AssertionError("the database stayed locked")


def command(venue, staff, name, **kw):  # noqa: F811
    write(lambda: control.command(venue["event"], name, actor=staff, now=DURING, **kw))


def shown_of(venue) -> str:
    db.session.rollback()  # a fresh read: the server's heartbeat, not the test's snapshot
    return db.session.get(Screen, venue["screen"].id).shown


def wait_scene(page, scene: str, item: str | None = None, timeout: int = 4000) -> None:
    condition = f"document.body.dataset.scene === {scene!r}"
    if item is not None:
        condition += f" && document.body.dataset.item === {item!r}"
    page.wait_for_function(f"() => {condition}", timeout=timeout)


def test_every_scene_is_drawn_and_commands_reach_the_screen(app, live_server, screen_context, browser, venue, staff):  # noqa: F811
    title = venue["event"].title
    page = screen_context.new_page()
    page.goto(f"{live_server}/s/{venue['token']}")
    wait_scene(page, "welcome")
    page.wait_for_function("() => document.body.dataset.fresh === '1'")
    assert title in page.inner_text("#stage") and "康乐养老有限公司" in page.inner_text("#stage")
    # no scrollbars, no cursor, the stage fills the window
    assert page.evaluate(NO_SCROLLBARS)
    assert page.evaluate("getComputedStyle(document.body).cursor") == "none"
    box = page.locator("#stage").bounding_box()
    assert round(box["width"]) == 1920 and round(box["height"]) == 1080
    shot(page, "01-welcome")

    command(venue, staff, "goto", scene="checkin")
    wait_scene(page, "checkin")
    page.wait_for_function("() => document.querySelector('.total-count')?.textContent === '6'")
    assert "新闻媒体" in page.inner_text("#stage") and "应到 12 人" in page.inner_text("#stage")
    shot(page, "02-checkin")

    text, photo, video, guest_photo = venue["keys"]
    command(venue, staff, "goto", scene="works")
    wait_scene(page, "works", text)
    assert "服务认证让生活更美好" in page.inner_text(".text-page")
    shot(page, "03-works-text")
    # what it shows reaches the console through the next poll's heartbeat
    assert wait_for(lambda: shown_of(venue) == f"works/{text}", timeout=4)
    for key, name in ((photo, "04-works-photo"), (video, "05-works-video"), (guest_photo, "06-guest-photo")):
        # "next" once: the text's remaining pages first, then the next item
        for _ in range(4):
            if page.evaluate("document.body.dataset.item") == key:
                break
            seq = page.evaluate(WHAT_IS_SHOWN)
            command(venue, staff, "next")
            page.wait_for_function(
                f"(seq) => {WHAT_IS_SHOWN} !== seq",
                arg=seq,
                timeout=4000,
            )
        wait_scene(page, "works", key)
        if key == video:
            assert page.evaluate(VIDEO_READY)
        else:
            page.wait_for_function("() => document.querySelector('img.media')?.naturalWidth > 0")
        shot(page, name)
    assert "王阿姨" in page.inner_text("#stage")  # the guest photo, named as the guest chose

    command(venue, staff, "goto", scene="comments")
    wait_scene(page, "comments")
    page.wait_for_selector("[data-key^='comment:']")
    wall = page.inner_text("#stage")
    assert "讲解员把认证标志讲得很清楚" in wall and "王阿姨" in wall
    # a long URL wraps inside its card (then the clamp's "…"), never cut off at the side
    assert page.evaluate("[...document.querySelectorAll('.comment-text')].every(e => e.scrollWidth <= e.clientWidth)")
    shot(page, "07-comments")

    command(venue, staff, "goto", scene="ratings")
    wait_scene(page, "ratings")
    page.wait_for_selector(".ratings .bar-row")
    assert page.locator(".ratings .bar-row").count() == len(dimensions(venue["event"].campaign_id))
    shot(page, "08-ratings")

    # a pinned comment stays up, big, until unpinned; then the rotation goes on
    pinned = f"comment:{venue['comments'][0].id}"
    command(venue, staff, "pin", item=pinned)
    wait_scene(page, "comments", pinned)
    assert page.locator(".pinned [data-key]").count() == 1
    shot(page, "08b-pinned-comment")
    command(venue, staff, "pin", item=photo)
    wait_scene(page, "works", photo)
    command(venue, staff, "unpin")
    page.wait_for_function("(key) => document.body.dataset.item !== key", arg=photo, timeout=4000)

    command(venue, staff, "blank")
    page.wait_for_function("() => document.body.dataset.blank === '1'", timeout=2500)
    assert page.inner_text("#stage").strip() == title  # the event's title, nothing else
    shot(page, "09-blank")
    command(venue, staff, "unblank")
    page.wait_for_function("() => document.body.dataset.blank === '0'", timeout=2500)

    # the same layout at 1280×720: the stage scaled, nothing moved
    small = browser.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN")
    try:
        p = small.new_page()
        p.goto(f"{live_server}/s/{venue['token']}")
        p.wait_for_function("() => document.body.dataset.scene !== '' && document.body.dataset.fresh === '1'")
        box = p.locator("#stage").bounding_box()
        assert round(box["width"]) == 1280 and round(box["height"]) == 720
        assert p.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shot(p, "10-1280x720")
    finally:
        small.close()


#: a guest's comment as long as the form takes (500 characters), in sentences
LONG_COMMENT = (
    "今天带着母亲来体验养老机构的认证服务，工作人员从进门就耐心讲解认证标志的含义，"
    "告诉我们在哪里可以查到证书、怎样核对服务项目和收费标准。"
) * 10


PINNED_TEXT = """() => {
  const text = document.querySelector('.pinned .comment-text');
  if (!text) return null;
  const card = text.closest('.comment').getBoundingClientRect();
  const stage = document.getElementById('stage').getBoundingClientRect();
  return {
    hidden_px: text.scrollHeight - text.clientHeight,
    font_px: parseFloat(getComputedStyle(text).fontSize),
    inside_stage: card.bottom <= stage.bottom + 0.5,
    name: text.closest('.comment').querySelector('.comment-name')?.textContent || '',
  };
}"""


@pytest.mark.parametrize("length", [110, 150, 260, 300, 500])
def test_a_pinned_comment_is_shown_whole_however_long(live_server, screen_context, venue, staff, rate, length):  # noqa: F811
    """The wall keeps two lines a card; a comment pinned is the one the room should read,
    so it shows whole, in smaller type the longer it is, inside the stage."""
    comment = rate(venue["event"], LONG_COMMENT[:length], display=Display.NAME, name="李女士")
    page = screen_context.new_page()
    page.goto(f"{live_server}/s/{venue['token']}")
    wait_scene(page, "welcome")
    key = f"comment:{comment.id}"
    command(venue, staff, "pin", item=key)
    wait_scene(page, "comments", key)
    # measured in one go: the slide may be redrawn between two reads (a poll's figures)
    seen = page.wait_for_function(PINNED_TEXT, timeout=4000).json_value()
    # clamped, the text would hide a line or more; glyphs may overhang a few pixels
    assert seen["hidden_px"] < seen["font_px"] / 2, seen
    assert seen["inside_stage"] and "李女士" in seen["name"], seen
    assert seen["font_px"] >= 40  # read from across the room
    shot(page, f"08c-pinned-comment-{length}")


def test_a_hidden_comment_leaves_the_wall_within_two_seconds(live_server, screen_context, venue, staff):  # noqa: F811
    page = screen_context.new_page()
    page.goto(f"{live_server}/s/{venue['token']}")
    page.wait_for_function("() => document.body.dataset.fresh === '1' && document.body.dataset.scene === 'welcome'")
    command(venue, staff, "goto", scene="comments")
    wait_scene(page, "comments")
    target = f"comment:{venue['comments'][1].id}"
    page.wait_for_selector(f"[data-key='{target}']")
    started = time.monotonic()
    command(venue, staff, "hide", item=target)
    page.wait_for_selector(f"[data-key='{target}']", state="detached", timeout=2000)
    assert time.monotonic() - started < 2.0
    assert "第一次知道服务也能认证" not in page.inner_text("#stage")
    assert page.locator("[data-key^='comment:']").count() == 2


def test_a_stale_link_drops_comments_and_counts_for_safe_content(live_server, screen_context, venue, staff):  # noqa: F811
    page = screen_context.new_page()
    page.goto(f"{live_server}/s/{venue['token']}")
    page.wait_for_function("() => document.body.dataset.fresh === '1' && document.body.dataset.scene === 'welcome'")
    command(venue, staff, "goto", scene="comments")
    wait_scene(page, "comments")
    page.wait_for_selector("[data-key^='comment:']")
    page.route("**/sync*", lambda route: route.abort())  # the network to the server drops
    started = time.monotonic()
    page.wait_for_function(
        "() => document.body.dataset.fresh === '0' && !['checkin', 'comments', 'ratings']"
        ".includes(document.body.dataset.scene)",
        timeout=feed.STALE_SECONDS * 1000 + 1000,
    )
    assert time.monotonic() - started < feed.STALE_SECONDS + 1
    assert page.locator("[data-key^='comment:']").count() == 0
    assert page.locator(".total-count").count() == 0
    assert page.evaluate("document.body.dataset.scene") in ("welcome", "works")
    shot(page, "11-stale-safe")
    # a goto to a live scene is not followed while stale (it cannot even be heard)
    page.wait_for_timeout(1500)
    assert page.evaluate("document.body.dataset.scene") not in LIVE


def test_a_revoked_link_shows_nothing_of_the_event(live_server, screen_context, venue, staff):  # noqa: F811
    page = screen_context.new_page()
    page.goto(f"{live_server}/s/{venue['token']}")
    page.wait_for_function("() => document.body.dataset.fresh === '1' && document.body.dataset.scene === 'welcome'")
    title = venue["event"].title
    assert title in page.content()
    write(lambda: screens.revoke_screen(venue["screen"], actor=staff, now=DURING))
    wait_scene(page, "gone", timeout=4000)
    html = page.content()
    for secret in (title, "康乐养老有限公司", "居家养老服务认证"):
        assert secret not in html
    assert page.locator("img, video").count() == 0
    assert "此大屏链接已失效" in page.inner_text("body")
    shot(page, "12-revoked")
    # opened again: the neutral page, nothing of the event
    answer = page.goto(f"{live_server}/s/{venue['token']}")
    assert answer.status == 410
    assert title not in page.content() and "此大屏链接已失效" in page.inner_text("body")


#: records what the stage shows at every change and every 50 ms into window.seen:
#: [data-blank, data-scene, the class of the slide, the comment keys on it]
RECORDER = """() => {
  window.seen = [];
  const stage = document.querySelector('#stage');
  const note = () => window.seen.push([
    document.body.dataset.blank,
    document.body.dataset.scene,
    stage.firstElementChild ? stage.firstElementChild.className : '',
    Array.from(stage.querySelectorAll('[data-key]')).map((n) => n.dataset.key).join(' '),
  ]);
  new MutationObserver(note).observe(stage, { childList: true, subtree: true });
  new MutationObserver(note).observe(document.body, { attributes: true });
  setInterval(note, 50);
  note();
}"""


def content_version(venue) -> int:
    db.session.rollback()
    return db.session.get(DisplayState, venue["event"].id).content_version


def test_blank_holds_through_new_content_and_a_reload(live_server, screen_context, venue, staff):  # noqa: F811
    title = venue["event"].title
    running = screen_context.new_page()
    running.goto(f"{live_server}/s/{venue['token']}")
    running.wait_for_function("() => document.body.dataset.fresh === '1' && document.body.dataset.scene === 'welcome'")
    command(venue, staff, "blank")
    running.wait_for_function("() => document.body.dataset.blank === '1'", timeout=2500)
    running.evaluate(RECORDER)
    # a screen (re)opened while blank: its first content must not reach the stage either
    opened = screen_context.new_page()
    opened.add_init_script(f"document.addEventListener('DOMContentLoaded', {RECORDER})")
    opened.goto(f"{live_server}/s/{venue['token']}")
    opened.wait_for_function("() => document.body.dataset.blank === '1'", timeout=4000)

    # the organiser reorders the playlist and turns a scene off: a new content version
    before = content_version(venue)
    first_item = venue["screen"].items[0].id
    write(lambda: screens.move_item(venue["screen"], first_item, +1, actor=staff, now=DURING))
    scenes = {name: dict(conf) for name, conf in venue["screen"].scenes.items()}
    scenes["ratings"]["on"] = False
    write(lambda: screens.set_scenes(venue["screen"], scenes, actor=staff, now=DURING))
    after = content_version(venue)
    assert after > before
    # sampled for 2 s, and until each screen has loaded the new content (its next poll
    # reports that version)
    running.wait_for_timeout(2000)
    for page in (running, opened):
        page.wait_for_event("request", lambda r: r.url.endswith(f"sv={after}"), timeout=5000)
    running.wait_for_timeout(300)
    for page in (running, opened):
        seen = page.evaluate("window.seen")
        assert len(seen) >= 40
        drawn = [s for s in seen if s[2] not in ("", "slide loading")]
        assert drawn and all(s[0] == "1" and s[1] == "blank" and s[2] == "slide blank" for s in drawn), {
            tuple(s) for s in drawn
        }
        assert page.inner_text("#stage").strip() == title

    # the heartbeat says "blank", and the console words it as the safe slide
    assert wait_for(lambda: shown_of(venue) == "blank", timeout=4)
    console = screen_context.new_page()
    login(console, live_server, staff.username)
    console.goto(f"{live_server}/events/{venue['event'].id}/screens")
    expect(console.locator("#screens li").first.locator(".js-shown")).to_have_text("安全画面（黑屏）", timeout=5000)


def test_figures_that_stop_coming_leave_the_screen(live_server, screen_context, venue, staff):  # noqa: F811
    page = screen_context.new_page()
    page.goto(f"{live_server}/s/{venue['token']}")
    page.wait_for_function("() => document.body.dataset.fresh === '1' && document.body.dataset.scene === 'welcome'")
    command(venue, staff, "goto", scene="comments")
    wait_scene(page, "comments")
    page.wait_for_selector("[data-key^='comment:']")
    # /live breaks (a proxy, a failing view) while /sync keeps answering
    failing = lambda url: urlparse(url).path.endswith("/live")  # noqa: E731
    page.route(failing, lambda route: route.fulfill(status=503, body="busy"))
    started = time.monotonic()
    limit = 3 * feed.LIVE_SECONDS + 1
    page.wait_for_function(
        "() => !['checkin', 'comments', 'ratings'].includes(document.body.dataset.scene)",
        timeout=limit * 1000,
    )
    assert time.monotonic() - started < limit
    assert page.evaluate("document.body.dataset.fresh") == "1"  # the link itself is fine
    assert page.locator("[data-key^='comment:']").count() == 0
    assert page.locator(".total-count").count() == 0
    # a goto to counts is not followed while there are no current figures to show
    command(venue, staff, "goto", scene="checkin")
    page.wait_for_timeout(feed.SYNC_SECONDS * 1000 + 1500)
    assert page.evaluate("document.body.dataset.scene") not in LIVE
    assert page.locator(".total-count").count() == 0
    # figures come again: the next goto is followed, with them
    page.unroute(failing)
    command(venue, staff, "goto", scene="checkin")
    wait_scene(page, "checkin", timeout=5000)
    page.wait_for_function("() => document.querySelector('.total-count')?.textContent === '6'")


def test_a_stale_wall_is_left_at_once_not_paged_through(live_server, screen_context, venue, staff, rate):  # noqa: F811
    for n in range(5):  # eight comments: two pages of the wall
        rate(venue["event"], f"第{n + 1}位嘉宾：认证让人放心。")
    page = screen_context.new_page()
    page.goto(f"{live_server}/s/{venue['token']}")
    page.wait_for_function("() => document.body.dataset.fresh === '1' && document.body.dataset.scene === 'welcome'")
    command(venue, staff, "goto", scene="comments")
    wait_scene(page, "comments")
    # the first page of the wall: six of the eight (figures cached a moment ago may have three)
    page.wait_for_function("() => document.querySelectorAll('[data-key^=\"comment:\"]').length === 6", timeout=8000)
    first_page = set(page.evaluate("Array.from(document.querySelectorAll('[data-key]')).map((n) => n.dataset.key)"))
    assert len(first_page) == 6
    page.evaluate(RECORDER)
    page.route("**/sync*", lambda route: route.abort())
    page.wait_for_function(
        "() => !['checkin', 'comments', 'ratings'].includes(document.body.dataset.scene)",
        timeout=feed.STALE_SECONDS * 1000 + 1000,
    )
    page.wait_for_timeout(300)
    shown = {key for s in page.evaluate("window.seen") for key in s[3].split() if key.startswith("comment:")}
    assert shown <= first_page  # the second page was never drawn


def test_a_stale_screen_drops_a_pinned_guest_photo(live_server, screen_context, venue, staff):  # noqa: F811
    guest_photo = venue["keys"][3]
    page = screen_context.new_page()
    page.goto(f"{live_server}/s/{venue['token']}")
    page.wait_for_function("() => document.body.dataset.fresh === '1' && document.body.dataset.scene === 'welcome'")
    command(venue, staff, "pin", item=guest_photo)
    wait_scene(page, "works", guest_photo)
    assert page.locator(".guest-photo").count() == 1
    page.route("**/sync*", lambda route: route.abort())
    started = time.monotonic()
    page.wait_for_function(
        "(key) => document.body.dataset.fresh === '0' && document.body.dataset.item !== key",
        arg=guest_photo,
        timeout=feed.STALE_SECONDS * 1000 + 1000,
    )
    assert time.monotonic() - started < feed.STALE_SECONDS + 1
    assert page.evaluate("document.body.dataset.scene") in ("welcome", "works")
    # nor does the rotation bring it back while stale
    page.evaluate(RECORDER)
    page.wait_for_timeout(1500)
    assert not any("guest-photo" in s[2] for s in page.evaluate("window.seen"))


def test_a_pinned_video_stays_past_its_end(live_server, screen_context, venue, staff):  # noqa: F811
    video = venue["keys"][2]
    page = screen_context.new_page()
    page.goto(f"{live_server}/s/{venue['token']}")
    page.wait_for_function("() => document.body.dataset.fresh === '1' && document.body.dataset.scene === 'welcome'")
    command(venue, staff, "resume")
    command(venue, staff, "pin", item=video)
    wait_scene(page, "works", video)
    page.evaluate("document.querySelector('video').dataset.first = '1'")
    page.wait_for_function("() => Number.isFinite(document.querySelector('video').duration)", timeout=4000)
    duration = page.evaluate("document.querySelector('video').duration")
    # past the video's end and its cap (duration + 10 s): the same element, looping
    page.wait_for_timeout((duration + 12) * 1000)
    assert page.evaluate("document.body.dataset.item") == video
    assert page.evaluate("document.querySelector('video')?.dataset.first") == "1"
    assert page.evaluate("document.querySelector('video').loop") is True
