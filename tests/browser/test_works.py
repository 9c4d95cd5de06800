"""Issue 15's walk: a unit creates a video work and uploads an iPhone-like HEVC MP4; the
worker checks it and makes an H.264 copy; the work's page plays the copy in Chromium,
from its poster, and the time runs. Screenshots on a desktop and on a phone."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from experience.extensions import db
from experience.works import jobs as work_jobs
from experience.works import services
from experience.works.models import CheckState, FileCheck, FileKind, Work, WorkFile
from tests.browser.conftest import shot
from tests.conftest import NOW, PASSWORD, wait_for
from tests.units.helpers import register_unit
from tests.works.conftest import CAPTION, stored, work_fields
from tests.works.media_files import MB, make_video, padded_to, random_jpeg

pytestmark = pytest.mark.browser


def log_in_as_unit(page, base: str, credit_code: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", credit_code)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(f"{base}/unit")


def test_a_unit_uploads_a_hevc_video_and_its_page_plays_the_copy(app, live_server, desktop, phone, campaign, tmp_path):
    app.config["FROZEN_NOW"] = NOW
    unit = register_unit(province_code="11", credit_code="914403001922038216")
    hevc = make_video(tmp_path / "IMG_0042.mp4", codec="libx265", seconds=3, size=(640, 360))
    code = unit.credit_code
    db.session.commit()

    d = desktop.new_page()
    log_in_as_unit(d, live_server, code)
    d.click("text=新建作品")
    d.fill("#title", "养老服务认证体验日纪实")
    d.check("input[name=category][value=video]")
    d.fill("#completed_on", "2024-07-01")
    d.fill("#summary", "用三分钟记录一家养老机构通过服务认证后的变化。")
    d.click("#submit")
    d.wait_for_selector("h1:has-text('养老服务认证体验日纪实')")

    d.set_input_files("#file", str(hevc))
    d.click("#upload_video")  # the checks and the copy run in this request (huey's immediate mode)
    d.wait_for_selector("video.work-video")

    work = db.session.scalar(sa.select(Work))
    copy = db.session.scalar(sa.select(WorkFile).where(WorkFile.kind == FileKind.PLAYABLE))
    assert work.check_state is CheckState.READY
    assert copy.check_state is FileCheck.PASSED
    source = d.get_attribute("video.work-video source", "src")
    assert source.startswith(f"/works/files/{copy.id}?v=")  # the copy, not the HEVC original
    assert d.get_attribute("video.work-video", "poster")

    d.eval_on_selector("video.work-video", "v => { v.muted = true; return v.play(); }")
    # polled from here: the CSP forbids the eval a page-side wait would need
    assert wait_for(lambda: d.eval_on_selector("video.work-video", "v => v.currentTime") > 1, timeout=15)
    assert d.eval_on_selector("video.work-video", "v => v.error") is None
    d.eval_on_selector("video.work-video", "v => v.pause()")
    shot(d, "works-video-desktop")

    p = phone.new_page()
    log_in_as_unit(p, live_server, code)
    p.goto(f"{live_server}/works/{work.id}")
    p.wait_for_selector("video.work-video")
    width = p.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways on a phone ({width}px)"
    shot(p, "works-video-phone")


def test_a_photo_work_reads_well_on_a_phone_and_a_desktop(app, live_server, desktop, phone, campaign):
    app.config["FROZEN_NOW"] = NOW
    unit = register_unit(province_code="11", credit_code="914403001922038216")
    work = services.create_work(unit, campaign, actor=unit.account, now=NOW, **work_fields())
    for n in (1, 2):
        data = padded_to(random_jpeg((1200, 800)), 5 * MB + n)
        services.attach_photo(work, stored(data, f"DSC_00{n}.jpg", "jpg"), CAPTION, actor=unit.account, now=NOW)
    services.attach_photo(
        work, stored(b"\x89PNG\r\n\x1a\n" + bytes(5 * MB), "截图.jpg", "jpg"), CAPTION, actor=unit.account, now=NOW
    )
    job = services.start_checks(work, actor=unit.account, now=NOW)
    db.session.commit()
    work_jobs.enqueue(job)
    work_id = work.id
    db.session.commit()

    for context, name in ((desktop, "desktop"), (phone, "phone")):
        page = context.new_page()
        log_in_as_unit(page, live_server, unit.credit_code)
        page.goto(f"{live_server}/works/{work_id}")
        assert page.locator("li.work-photo img").count() == 2
        assert "PNG" in page.inner_text("li.work-photo:nth-child(3) .errors")
        assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
        shot(page, f"works-photos-{name}")
        page.goto(f"{live_server}/works/{work_id}/declarations")
        assert "《认证让养老更安心》" in page.inner_text("main")
        shot(page, f"works-declarations-{name}")
