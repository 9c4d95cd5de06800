"""Issue 16's walk: a unit uploads a video of some 25 MB in 8 MB chunks; the connection
is cut after the first chunk and the upload stalls, with the progress bar and the advice
on screen; the unit reloads the page, chooses the same file again, and the upload goes
on from the server's offset, not from zero. The stored file is the original, byte for
byte (its SHA-256, computed by the server, is the original's)."""

from __future__ import annotations

import hashlib
from fractions import Fraction

import av
import pytest
import sqlalchemy as sa
from PIL import Image

from experience.core import storage
from experience.extensions import db
from experience.works import services
from experience.works.models import FileKind, WorkCategory, WorkFile
from tests.browser.conftest import shot
from tests.browser.test_works import log_in_as_unit
from tests.conftest import NOW
from tests.units.helpers import register_unit
from tests.works.conftest import work_fields

pytestmark = pytest.mark.browser

CHUNK = 8 * 1024 * 1024  # static/js/upload.js


def noisy_video(path, seconds: int = 2, size=(640, 480), fps: int = 25):
    """A real MP4 of random pictures, losslessly coded: it barely compresses, so it is big
    (about 0.45 MB a frame) and spans several chunks."""
    import os

    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.options = {"qp": "0", "preset": "ultrafast"}
        for n in range(seconds * fps):
            image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
            frame = av.VideoFrame.from_image(image).reformat(format="yuv420p")
            frame.pts, frame.time_base = n, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def until(page, predicate, timeout: float) -> bool:
    """Poll ``predicate`` while Playwright runs the page's events (its route handlers among
    them, which a plain sleep would hold up)."""
    for _ in range(int(timeout * 10)):
        if predicate():
            return True
        page.wait_for_timeout(100)
    return predicate()


def test_a_video_cut_off_half_way_resumes_after_a_reload_from_the_servers_offset(
    app, live_server, desktop, campaign, tmp_path
):
    app.config["FROZEN_NOW"] = NOW
    unit = register_unit(province_code="11", credit_code="914403001922038216")
    work = services.create_work(unit, campaign, actor=unit.account, now=NOW, **work_fields(category=WorkCategory.VIDEO))
    db.session.commit()
    film = noisy_video(tmp_path / "体验日纪实.mp4")
    data = film.read_bytes()
    assert len(data) > 2 * CHUNK + 1, len(data)  # three chunks at least

    page = desktop.new_page()
    log_in_as_unit(page, live_server, unit.credit_code)
    page.goto(f"{live_server}/works/{work.id}")

    # the network goes down after the first chunk: every later chunk is cut off
    patches: list[int] = []

    def cut_after_first_chunk(route):
        if route.request.method == "PATCH":
            patches.append(int(route.request.headers["upload-offset"]))
            if len(patches) > 1:
                route.abort("connectionreset")
                return
        route.continue_()

    page.route("**/transfers/**", cut_after_first_chunk)
    page.set_input_files("#file", str(film))
    page.click("#upload_video")
    assert until(page, lambda: len(patches) >= 3, timeout=30), patches  # it retried, and went on failing
    assert patches[0] == 0 and set(patches[1:]) == {CHUNK}
    message = page.locator(".tus-message")
    assert until(page, lambda: "保持此页面打开" in message.inner_text(), timeout=10)
    assert int(page.get_attribute(".tus progress", "value")) == 1000 * CHUNK // len(data)  # the first chunk's share
    figures = page.inner_text(".tus-figures")
    assert f"{100 * CHUNK // len(data)}%" in figures
    assert "每秒 –" in figures  # no speed claimed while nothing moves
    shot(page, "transfers-stalled")

    # the unit reloads (the connection is back) and chooses the same file again
    page.unroute("**/transfers/**")
    resumed: list[tuple[str, str | None]] = []
    page.on(
        "request",
        lambda r: resumed.append((r.method, r.headers.get("upload-offset"))) if "/transfers/" in r.url else None,
    )
    page.reload()
    page.set_input_files("#file", str(film))
    page.click("#upload_video")
    page.wait_for_selector("video.work-video", timeout=60_000)  # checked by the worker, the page reloaded
    assert page.url == f"{live_server}/works/{work.id}#video"

    methods = [m for m, _ in resumed]
    assert "POST" not in methods  # no new upload: the old one went on
    assert methods[0] == "HEAD"  # it asked the server where it stood
    first_patch = next(offset for m, offset in resumed if m == "PATCH")
    assert int(first_patch) == CHUNK  # the server's offset, not zero

    db.session.rollback()
    original = db.session.scalar(
        sa.select(WorkFile).where(WorkFile.work_id == work.id, WorkFile.kind == FileKind.ORIGINAL)
    )
    assert original.filename == "体验日纪实.mp4"
    assert original.sha256 == hashlib.sha256(data).hexdigest()
    assert storage.current().sha256(original.storage_key) == hashlib.sha256(data).hexdigest()
    shot(page, "transfers-done")
