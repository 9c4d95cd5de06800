"""The header on a desktop (1366×768) and a phone (360×640): however many links a role
has, the account's links and the language stay together, on one row at the right."""

import pytest

from experience.accounts.models import Role
from experience.extensions import db
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.browser

ACCOUNT_ROW = """() => {
  const items = [...document.querySelectorAll('header.top .account > *')].map(e => e.getBoundingClientRect());
  const header = document.querySelector('header.top').getBoundingClientRect();
  return {
    centres: items.map(r => (r.top + r.bottom) / 2),
    right: Math.round(Math.max(...items.map(r => r.right))),
    header_height: Math.round(header.height),
    page_width: document.documentElement.scrollWidth,
  };
}"""


@pytest.mark.parametrize("role", [Role.HQ, Role.PROVINCE, Role.SECRETARIAT])
def test_the_account_links_stay_together_on_a_desktop(live_server, desktop, make_user, role):
    user = make_user(role)
    page = desktop.new_page()
    login(page, live_server, user.username)
    seen = page.evaluate(ACCOUNT_ROW)
    assert max(seen["centres"]) - min(seen["centres"]) < 8, seen  # 退出登录 and English never on a row of their own
    assert seen["right"] >= 1366 - (1366 - 1200) // 2 - 40, seen  # at the bar's right edge
    assert seen["header_height"] <= 110, seen  # the links wrap inside the menu, at most two rows
    assert "退出登录" in page.inner_text("header.top .account") and "English" in page.inner_text("header.top .account")
    shot(page, f"header-{role.value}-desktop")


def test_the_header_fits_a_phone(live_server, phone, make_user):
    user = make_user(Role.HQ)
    page = phone.new_page()
    login(page, live_server, user.username)
    seen = page.evaluate(ACCOUNT_ROW)
    assert seen["page_width"] <= 360, seen
    shot(page, "header-hq-phone")


def test_a_guests_language_link_stays_at_the_right_of_the_phone(live_server, phone, make_event, make_guest):
    guest = make_guest(make_event(), name="刘消费者")
    db.session.commit()
    page = phone.new_page()
    page.goto(f"{live_server}/c/{guest.code}")
    link = page.locator("header nav.lang a").bounding_box()
    assert link["x"] + link["width"] >= 360 - 20, link  # where a thumb looks for it, at the edge
