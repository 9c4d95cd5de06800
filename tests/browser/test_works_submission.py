"""Issue 17's walk: a unit fills a video work, prints its registration form (whose QR code
the test reads back), uploads a "sealed scan" (the form rendered to a JPG with a seal
drawn on it), asks its province for a recommendation and gets it, submits; changing the
submitted work asks for a new form; the secretariat finds the work on its desk, plays it
and returns it with a reopen day; the unit changes it and submits again. Screenshots on a
desktop and on a phone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from experience.accounts.models import Role
from experience.extensions import db
from experience.works import submission
from experience.works.models import RecommendationState, Work, WorkState
from tests.browser.conftest import login, shot
from tests.browser.test_works import log_in_as_unit
from tests.conftest import NOW, wait_for
from tests.units.helpers import register_unit
from tests.works.media_files import make_video

pytestmark = pytest.mark.browser


def _work() -> Work:
    db.session.rollback()  # a new transaction: it sees what the server committed meanwhile
    return db.session.scalar(sa.select(Work))


def print_and_seal(page, base: str, tmp_path: Path, name: str) -> str:
    """Fetch the form the page links to (as the browser would), read its QR code back, and
    turn it into the unit's "sealed scan": the page as a JPG with a red seal on it."""
    href = page.get_attribute("#regform a[href$='form.pdf']", "href")
    response = page.context.request.get(base + href)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    pdf = tmp_path / f"{name}.pdf"
    pdf.write_bytes(response.body())
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(tmp_path / name)], check=True)
    picture = Image.open(tmp_path / f"{name}.png").convert("RGB")
    codes = [c.text for c in zxingcpp.read_barcodes(picture)]
    draw = ImageDraw.Draw(picture)
    w, h = picture.size
    draw.ellipse((w * 0.55, h * 0.62, w * 0.8, h * 0.62 + w * 0.25), outline=(200, 20, 20), width=8)
    scan = tmp_path / f"{name}.jpg"
    picture.save(scan, quality=85)
    assert codes, "the printed form has no readable QR code"
    page.set_input_files("#regform-scan", str(scan))
    page.click("#regform button[type=submit]")
    page.wait_for_selector("#regform .regform-current")
    return codes[0]


def _desktop(browser):
    """Another person at another computer: their own cookies."""
    return browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")


def test_a_unit_submits_a_sealed_work_and_the_secretariat_returns_it(
    app, live_server, browser, desktop, phone, campaign, make_user, tmp_path
):
    app.config["FROZEN_NOW"] = NOW  # Aug 13, 2024: before the works deadline
    unit = register_unit(province_code="11", credit_code="914403001922038216")
    staff = make_user(Role.PROVINCE, "11")
    secretary = make_user(Role.SECRETARIAT, province=None)
    clip = make_video(tmp_path / "养老服务.mp4", seconds=3, size=(640, 360))
    db.session.commit()

    # -- the unit fills its work -----------------------------------------------------------
    d = desktop.new_page()
    log_in_as_unit(d, live_server, unit.credit_code)
    d.click("text=新建作品")
    d.fill("#title", "认证让养老更安心")
    d.check("input[name=category][value=video]")
    d.fill("#completed_on", "2024-07-01")
    d.fill("#summary", "用三分钟记录一家养老机构通过服务认证后的变化。")
    d.click("#submit")
    d.wait_for_selector("h1:has-text('认证让养老更安心')")
    expect(d.locator("#regform")).to_contain_text("首次打印登记表时生成")
    d.set_input_files("#file", str(clip))
    d.click("#upload_video")  # the checks run in this request (huey's immediate mode)
    d.wait_for_selector("video.work-video")
    d.click("text=阅读并确认")
    d.check("#commitment")
    d.check("#licence")
    d.click("#accept")
    d.wait_for_selector("#submission .work-status-awaiting_form")

    # -- the registration form, printed, sealed, scanned ------------------------------------
    code = print_and_seal(d, live_server, tmp_path, "form-1")
    work = _work()
    assert work.number == "2024-ZP-00001"
    assert code == submission.qr_text(work)  # the number and this version's hash
    assert d.is_visible("#submission .work-status-ready")

    # -- the recommendation, asked and given --------------------------------------------------
    d.click("#recommendation button:has-text('申请推荐')")
    d.wait_for_selector("#recommendation:has-text('已申请')")
    province_desk = _desktop(browser)
    p = province_desk.new_page()
    login(p, live_server, staff.username)
    p.goto(f"{live_server}/works/recommendations")
    p.click("text=认证让养老更安心")
    p.click("#recommendation button:has-text('推荐该作品')")
    p.click("form.confirm button[type=submit]")
    p.wait_for_selector("#recommendation:has-text('该作品符合服务认证作品征集要求')")
    assert _work().recommendation.state is RecommendationState.RECOMMENDED

    # -- submitted -------------------------------------------------------------------------------
    d.reload()
    assert "该作品符合服务认证作品征集要求" in d.inner_text("#recommendation")
    d.click("#submission button:has-text('提交作品')")
    d.wait_for_selector("#submission .work-status-submitted")
    assert _work().state is WorkState.SUBMITTED
    shot(d, "works-submitted-desktop")

    # -- changing it after submission asks first, then needs a new sealed form -----------------
    d.click("#submission button:has-text('修改作品')")
    assert "加盖公章" in d.inner_text("form.confirm")
    d.click("form.confirm button[type=submit]")
    d.wait_for_selector("#submission .work-status-ready")
    d.click("text=修改登记信息")
    d.fill("#summary", "用三分钟记录一家养老机构通过服务认证后的变化，以及老人们的评价。")
    d.click("#submit")
    d.wait_for_selector("#submission .work-status-awaiting_form")
    expect(d.locator("#regform .regform-outdated")).to_be_visible()
    expect(d.locator("#submission button:has-text('提交作品')")).to_be_hidden()
    print_and_seal(d, live_server, tmp_path, "form-2")
    d.click("#submission button:has-text('提交作品')")
    d.wait_for_selector("#submission .work-status-submitted")

    # -- the secretariat finds it, plays it, returns it -------------------------------------------
    secretariat_desk = _desktop(browser)
    s = secretariat_desk.new_page()
    login(s, live_server, secretary.username)
    s.goto(f"{live_server}/works/desk")
    s.fill("#q", "2024-ZP-00001")
    s.press("#q", "Enter")
    s.wait_for_url("**q=2024-ZP-00001*")  # the whole desk lists it too: wait for the search's answer
    s.wait_for_selector("table >> text=认证让养老更安心")
    shot(s, "works-desk-desktop")
    s.click("table >> text=认证让养老更安心")
    s.wait_for_selector("video.work-video")
    s.eval_on_selector("video.work-video", "v => { v.muted = true; return v.play(); }")
    assert wait_for(lambda: s.eval_on_selector("video.work-video", "v => v.currentTime") > 1, timeout=15)
    s.eval_on_selector("video.work-video", "v => { v.currentTime = 0.5; }")  # it seeks (Range)
    assert wait_for(lambda: s.eval_on_selector("video.work-video", "v => !v.seeking && v.error === null"))
    s.click("#submission summary:has-text('退回作品修改')")
    s.fill("#comment", "请在简介中写明拍摄机构的名称。")
    s.fill("#reopen_until", "2024-08-20")
    s.click("#send_back")
    s.wait_for_selector("#submission .work-status-returned")
    shot(s, "works-returned-secretariat-desktop")

    # -- the unit sees the return on its phone, changes the work, sends it again ----------------
    m = phone.new_page()
    log_in_as_unit(m, live_server, unit.credit_code)
    m.goto(f"{live_server}/works/{work.id}")
    assert "请在简介中写明拍摄机构的名称" in m.inner_text("#submission")
    width = m.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the work's page scrolls sideways on a phone ({width}px)"
    shot(m, "works-returned-phone")
    m.click("text=修改登记信息")
    m.fill("#summary", "康乐养老中心通过养老服务认证后的三分钟纪实，以及老人们的评价。")
    m.click("#submit")
    m.wait_for_selector("#regform .regform-outdated")
    print_and_seal(m, live_server, tmp_path, "form-3")
    m.click("#submission button:has-text('提交作品')")
    m.wait_for_selector("#submission .work-status-submitted")
    shot(m, "works-resubmitted-phone")
    work = _work()
    assert work.state is WorkState.SUBMITTED and work.returned_at is not None and not work.late
    province_desk.close()
    secretariat_desk.close()
