"""Issue 19's walk on the public platform: a visitor on a 360×640 phone, not logged in,
browses the selected works during the 公示, searches, opens a photo work and a video work
and plays the video (it plays and seeks). Full-page screenshots in
test-artifacts/platform/.

The works are submitted and selected through the fixtures (tests/platform/conftest.py):
the browser does what the visitor does, nothing more."""

from __future__ import annotations

import pytest

from experience.works import services as works_services
from experience.works.models import WorkCategory
from tests.browser.conftest import ARTIFACTS
from tests.conftest import NOW, wait_for
from tests.platform.conftest import (  # noqa: F401 (fixtures)
    DURING,
    after_the_deadline,
    make_expert,
    make_unit,
    photo_bytes,
    publish,
    screening_round,
    secretariat,
    select,
    submitted_work,
    unit,
)
from tests.works.conftest import stored
from tests.works.media_files import make_video

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "platform"
VIDEO = "养老服务认证三分钟"
PHOTO = "认证让养老更安心"
TEXT = "社区食堂的认证之路"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways on a phone ({width}px)"


def test_a_visitor_browses_the_works_on_a_phone_and_plays_a_video(
    app,
    live_server,
    phone,
    tmp_path,
    submitted_work,  # noqa: F811
    select,  # noqa: F811
    publish,  # noqa: F811
):
    clip = make_video(tmp_path / "clip.mp4", seconds=6, size=(640, 360)).read_bytes()

    def with_clip(work):
        works_services.attach_video(work, stored(clip, "养老服务.mp4", "mp4"), actor=work.unit.account, now=NOW)

    works = [
        submitted_work(category=WorkCategory.TEXT, title=TEXT, summary="一家社区食堂通过服务认证后的变化。"),
        submitted_work(category=WorkCategory.PHOTO, title=PHOTO),
        submitted_work(category=WorkCategory.VIDEO, title=VIDEO, prepare=with_clip),
    ]
    select(works)
    publish()
    app.config["FROZEN_NOW"] = DURING
    app.config["PUBLIC_BASE_URL"] = live_server

    m = phone.new_page()
    m.goto(f"{live_server}/showcase")
    assert m.title().startswith("2024年服务认证作品")
    for title in (VIDEO, PHOTO, TEXT):
        assert m.is_visible(f"text={title}")
    no_sideways_scroll(m)
    shot(m, "01-list-phone")

    m.fill("#q", "食堂")
    m.click(".showcase-search button")
    m.wait_for_url("**/showcase?q=*")
    assert m.is_visible(f"text={TEXT}")
    assert not m.is_visible(f"text={VIDEO}")
    shot(m, "02-search-phone")

    m.goto(f"{live_server}/showcase")
    m.click(".showcase-tabs a:has-text('平面类')")
    m.wait_for_url("**category=photo*")
    m.click(f"text={PHOTO}")
    m.wait_for_selector(".showcase-photo img")
    assert m.eval_on_selector(".showcase-photo img", "img => img.complete && img.naturalWidth > 0")
    assert "护理员为老人讲解服务认证标志" in m.inner_text(".showcase-photo figcaption")
    no_sideways_scroll(m)
    shot(m, "03-photo-work-phone")

    m.goto(f"{live_server}/showcase?category=video")
    m.click(f"text={VIDEO}")
    m.wait_for_selector("video.work-video")
    assert m.get_attribute("video.work-video", "poster")
    assert "对本作品提出异议" in m.inner_text("article")  # the 公示 is on
    m.eval_on_selector("video.work-video", "v => { v.muted = true; return v.play(); }")
    assert wait_for(lambda: m.eval_on_selector("video.work-video", "v => v.currentTime") > 1.5, timeout=15)
    m.eval_on_selector("video.work-video", "v => { v.pause(); v.currentTime = 4.5; }")  # it seeks (Range)
    assert wait_for(lambda: m.eval_on_selector("video.work-video", "v => !v.seeking && v.error === null"))
    assert m.eval_on_selector("video.work-video", "v => v.currentTime") >= 4.4
    no_sideways_scroll(m)
    shot(m, "04-video-work-phone")

    m.goto(f"{live_server}/showcase?category=text")
    m.click(f"text={TEXT}")
    m.wait_for_selector(".showcase-text")
    no_sideways_scroll(m)
    shot(m, "05-text-work-phone")
