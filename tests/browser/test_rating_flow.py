"""Rating on a phone, reviewed by the organiser: issue 4's walk through."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from experience.accounts.models import Role
from experience.extensions import db
from tests.browser.conftest import login, shot
from tests.core.test_images import jpeg_with_exif

pytestmark = pytest.mark.browser


def test_guest_rates_changes_it_and_the_organiser_approves_then_withdraws(
    app, live_server, phone, desktop, make_user, make_event, make_guest, tmp_path
):
    make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event()
    guest = make_guest(event, name="刘消费者")
    app.config["FROZEN_NOW"] = event.starts_at + timedelta(minutes=5)
    code, event_id = guest.code, event.id
    db.session.commit()
    photo = tmp_path / "现场.jpg"
    photo.write_bytes(jpeg_with_exif())

    p = phone.new_page()
    p.goto(f"{live_server}/c/{code}")
    p.check("#consent")
    p.click("main button.huge")
    p.wait_for_selector("text=签到成功")
    p.click(f"a[href$='/c/{code}/rate']")
    stars = p.locator("fieldset.stars")
    expect(stars).to_have_count(5)  # waits for the rating page: the click only starts it
    for i in range(5):
        stars.nth(i).locator("label.star").nth(3).click()  # 4 stars everywhere
    p.fill("#comment", "工作人员讲解认证标志很清楚，以后会选认证的养老机构👍")
    p.click("details.photo summary")  # the photo is one tap away
    p.set_input_files("#photo", str(photo))
    p.check("input[name=photo_consent]")
    shot(p, "rate-form-phone")
    assert p.evaluate("document.documentElement.scrollWidth") <= 360
    p.click("main button.huge")
    p.wait_for_selector(".result-ok")
    assert "感谢" in p.inner_text(".result-ok")
    shot(p, "rate-thanks-phone")

    # change of mind: 5 stars for the first question
    p.click(f"a[href$='/c/{code}/rate']")
    p.locator("fieldset.stars").nth(0).locator("label.star").nth(4).click()
    p.click("main button.huge")
    p.wait_for_selector(".result-ok")

    h = desktop.new_page()
    login(h, live_server, "bjstaff")
    h.goto(f"{live_server}/events/{event_id}/ratings")
    first = h.locator(".dimension").nth(0)
    assert "5.00" in first.inner_text() and "4.00" in h.locator(".dimension").nth(1).inner_text()
    assert "认证标志" in h.inner_text(".comments")
    h.click(".comments form:has(input[name=what][value=comment]):has(input[name=approved][value='1']) button")
    h.wait_for_selector(".candidates li[id^=candidate-]")
    assert "认证标志" in h.inner_text(".candidates")
    shot(h, "ratings-live-desktop")
    h.click(".comments form:has(input[name=what][value=comment]):has(input[name=approved][value='0']) button")
    h.wait_for_selector(".candidates li.muted")
    assert "认证标志" not in h.inner_text(".candidates")

    # the login ends (a logout in another tab): the figures stay, never the login form
    # fetched in their place by the 10-second refresh
    other = desktop.new_page()
    other.goto(f"{live_server}/events")
    other.get_by_role("button", name="退出登录").click()
    other.wait_for_url("**/login**")
    # the page marks a refresh whose answer it refused (the redirect to the login form)
    h.wait_for_function("() => document.getElementById('ratings-live').dataset.refresh === 'kept'", timeout=15000)
    assert "5.00" in h.inner_text("#ratings-live") and h.locator("#ratings-live #username").count() == 0
