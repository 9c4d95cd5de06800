"""Check-in as guests and staff do it: a printed invitation's QR on a phone, the walk-in
poster, and the staff scanner reading a QR through the camera."""

import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from experience.accounts.models import Role
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import Guest
from tests.browser.conftest import ARGS, CHROMIUM, login, shot
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def qr_urls_in_pdf(pdf: bytes, tmp_path, name: str) -> list[str]:
    """Print the PDF to images as a person would see it, and read the QR codes back."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "120", "-png", str(path), str(tmp_path / name)], check=True)
    urls = []
    for page in sorted(tmp_path.glob(f"{name}-*.png")):
        urls += [b.text for b in zxingcpp.read_barcodes(Image.open(page))]
    return urls


@pytest.fixture
def open_event(app, live_server, make_user, make_event):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    app.config["FROZEN_NOW"] = event.starts_at - timedelta(minutes=20)
    app.config["PUBLIC_BASE_URL"] = live_server
    return staff, event


def test_invited_guest_checks_in_from_the_printed_card_and_a_walk_in_from_the_poster(
    app, live_server, phone, open_event, make_guest, tmp_path
):
    staff, event = open_event
    make_guest(event, name="王小明", category=GuestCategory.NPC_DEPUTY)
    make_guest(event, name="堃喆犇")
    staff_client = app.test_client()
    staff_client.post("/login", data={"username": "bjstaff", "password": PASSWORD})
    with staff_client.get(f"/events/{event.id}/invitations.pdf") as r:
        urls = qr_urls_in_pdf(r.data, tmp_path, "cards")
    codes = dict(db.session.execute(sa.select(Guest.code, Guest.name)).all())
    assert len(urls) == 2 and all(u.startswith(live_server + "/c/") for u in urls)
    url = next(u for u in urls if codes[u.rsplit("/", 1)[1]] == "王小明")
    db.session.commit()

    p = phone.new_page()
    p.goto(url)
    assert "养老服务认证体验日" in p.inner_text("main") and "个人信息告知" in p.inner_text("main")
    shot(p, "guest-consent-phone")
    assert p.evaluate("document.documentElement.scrollWidth") <= 360
    p.click("main button.huge")  # without agreeing
    assert "同意" in p.inner_text(".flash.error")  # said at the top, where the eye is
    p.check("#consent")
    p.click("main button.huge")
    p.wait_for_selector("text=签到成功")
    shot(p, "guest-checked-in-phone")
    first = p.inner_text(".result")
    p.goto(url)  # the same QR again, later: it says when, and offers no second check-in
    assert p.inner_text("main p.big.ok") == "您已于 08:40 签到，欢迎您！"
    assert p.locator("main button.huge").count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest).where(Guest.checked_in_at.is_not(None))) == 1
    assert "签到成功" in first

    # a guest who was not invited scans the poster
    with staff_client.get(f"/events/{event.id}/poster.pdf") as r:
        (poster_url,) = qr_urls_in_pdf(r.data, tmp_path, "poster")
    db.session.commit()
    w = phone.new_page()
    w.goto(poster_url)
    w.fill("#name", "路人甲")
    w.select_option("#category", "consumer")
    w.fill("#phone", "139 0000 8888")
    w.check("#consent")
    shot(w, "walk-in-form-phone")
    w.click("main button.huge")
    w.wait_for_selector("text=签到成功")
    own_link = w.inner_text(".link-box")
    shot(w, "walk-in-done-phone")
    walk_in = db.session.scalar(sa.select(Guest).where(Guest.walk_in.is_(True)))
    assert walk_in.name == "路人甲" and own_link.endswith(walk_in.code)
    w.goto(own_link)  # come back later with one's own code
    assert "签到" in w.inner_text("main")


def _y4m(png: Image.Image, path, frames: int = 10) -> None:
    """A short YUV4MPEG2 video of one still image: what Chromium's fake camera plays."""
    canvas = Image.new("RGB", (640, 480), "white")
    png = png.convert("RGB").resize((360, 360))
    canvas.paste(png, ((640 - 360) // 2, (480 - 360) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    planes = y.tobytes() + cb.resize((320, 240)).tobytes() + cr.resize((320, 240)).tobytes()
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            f.write(b"FRAME\n" + planes)


def test_staff_scanner_reads_a_guest_qr_through_the_camera(
    app, live_server, open_event, make_guest, tmp_path, playwright
):
    import io

    from experience.core.qr import qr_png

    staff, event = open_event
    guest = make_guest(event, name="扫码嘉宾")
    code, guest_id = guest.code, guest.id
    db.session.commit()
    video = tmp_path / "qr.y4m"
    _y4m(Image.open(io.BytesIO(qr_png(f"{live_server}/c/{code}"))), video)
    # a browser of its own: the fake camera is a launch flag
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=ARGS
        + [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", permissions=["camera"])
        page = ctx.new_page()
        login(page, live_server, "bjstaff")
        page.goto(f"{live_server}/events/{event.id}/scanner")
        page.wait_for_selector("#result.ok", timeout=20000)  # (the CSP forbids wait_for_function's eval)
        assert "扫码嘉宾" in page.inner_text("#result")
        shot(page, "scanner-ok-desktop")
        # the camera still shows the same code: after the 3-second pause it is read again
        page.wait_for_selector("#result.already_checked_in", timeout=20000)
        assert "已于" in page.inner_text("#result")
        shot(page, "scanner-again-desktop")
    finally:
        browser.close()
    db.session.commit()
    assert db.session.get(Guest, guest_id).checked_in_at is not None
