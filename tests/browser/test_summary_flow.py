"""Issue 5's walk through: the organiser writes the event summary, picks a highlight and a
photo, previews and downloads the PDF; the province submits its summary late, within an
extension; HQ returns it; the province sends it again; HQ's report shows it."""

from datetime import date, datetime

import pytest
from playwright.sync_api import expect

from experience.accounts.models import Role
from experience.checkin.services import check_in
from experience.core import clock
from experience.core.images import clean_photo
from experience.core.uploads import store_bytes
from experience.extensions import db
from experience.guests.models import CheckInVia
from experience.plans.services import grant_extension
from experience.ratings import services as ratings
from experience.ratings.models import Display
from tests.browser.conftest import login, shot
from tests.core.test_images import jpeg_with_exif

pytestmark = pytest.mark.browser


def test_event_summary_then_provincial_summary_round_trip(
    app, live_server, phone, desktop, browser, make_user, make_event, make_guest, campaign, tmp_path
):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    hq = make_user(Role.HQ, username="hqboss")
    event = make_event(actor=staff)
    guest = make_guest(event, name="钱学敏")
    check_in(guest.code, via=CheckInVia.PHONE, now=event.starts_at)
    db.session.refresh(guest)
    photo = clean_photo(jpeg_with_exif())
    rating, _ = ratings.submit_rating(
        guest,
        stars={d.id: 5 for d in ratings.dimensions(campaign.id)},
        comment="讲解认证标志很清楚",
        display=Display.NAME,
        now=event.ends_at,
        photo=(store_bytes(photo.original, "photo", "jpg"), store_bytes(photo.web, "photo", "jpg")),
        photo_consent=True,
    )
    ratings.set_approval(rating, "comment", True, actor=staff, now=event.ends_at)
    ratings.set_approval(rating, "photo", True, actor=staff, now=event.ends_at)
    grant_extension(
        campaign,
        "11",
        date(2024, 10, 25),
        "防汛抢险",
        actor=hq,
        now=clock.from_beijing(datetime(2024, 10, 17, 9)),
        kind="summary",
    )
    app.config["FROZEN_NOW"] = clock.from_beijing(datetime(2024, 10, 20, 9, 0))  # after Oct 18
    event_id = event.id
    db.session.commit()

    d = desktop.new_page()
    login(d, live_server, "bjstaff")
    d.goto(f"{live_server}/events/{event_id}/summary")
    d.fill("#results_text", "参与嘉宾 1 人，满意度 5 分。")
    d.fill("#practices_text", "现场讲解认证标志与证书查询。")
    d.fill("#problems_text", "场地偏小。")
    d.check("input[name=highlight]")
    d.check("input[name=photo_rating]")
    d.click("form.summary-form button[type=submit]")
    d.wait_for_selector(".flash.success")
    report = d.inner_text(".report")
    assert "讲解认证标志很清楚" in report and "钱学敏" in report and "现场讲解" in report
    shot(d, "event-summary-desktop")
    with d.expect_download() as download:
        d.click("a[href$='/summary.pdf']")
    pdf = download.value.path().read_bytes() if download.value else b""
    assert pdf.startswith(b"%PDF")

    # the province, on a phone, submits its summary within the extension
    p = phone.new_page()
    login(p, live_server, "bjstaff")
    p.goto(f"{live_server}/summary")
    # the draft starts from the event summary (issue 13): empty fields only, nothing replaced
    p.fill("#organisation_text", "局领导牵头")
    p.click("#sources-practices_text summary")  # the event summaries, shown to copy from
    assert "现场讲解认证标志与证书查询" in p.inner_text("#sources-practices_text")
    p.click("#draft")
    p.wait_for_selector("text=已按本省活动总结填入底稿")
    assert p.input_value("#organisation_text") == "局领导牵头"
    assert p.input_value("#results_text") == "【养老服务认证体验日】\n参与嘉宾 1 人，满意度 5 分。"
    assert p.input_value("#suggestions_text") == "【养老服务认证体验日】\n场地偏小。"
    shot(p, "province-summary-draft-phone")
    for field, text in (
        ("organisation_text", "局领导牵头"),
        ("publicity_text", "征集作品 12 件"),
        ("results_text", "成效"),
        ("practices_text", "做法"),
        ("suggestions_text", "建议"),
    ):
        p.fill(f"#{field}", text)
    shot(p, "province-summary-form-phone")
    p.click("#send")
    expect(p.locator("main")).to_contain_text("已提交")  # the draft's page had a success flash too
    shot(p, "province-summary-phone")

    # HQ returns it; the province sends it again; HQ's report shows it submitted and late
    h = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN").new_page()  # HQ's own browser
    login(h, live_server, "hqboss")
    h.goto(f"{live_server}/hq/summaries")
    h.fill("textarea[name=comment]", "请补充宣传数据。")
    h.click("ul.summaries button[type=submit]")
    h.wait_for_selector(".flash.success")
    p.goto(f"{live_server}/summary")
    assert "请补充宣传数据" in p.inner_text("main")
    p.fill("#publicity_text", "征集作品 12 件，媒体报道 5 篇")
    p.click("#send")
    p.wait_for_selector(".flash.success")
    h.goto(f"{live_server}/hq/summaries")
    row = h.locator("tr[data-province='11']").inner_text()
    assert "已提交" in row and "逾期" in row
    shot(h, "national-report-desktop")
