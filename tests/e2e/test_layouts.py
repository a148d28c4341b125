"""The shell follows the screen and the system: a bottom tab bar on a phone,
a side bar on a desktop, and dark colours when the system asks for them."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE
from tests.e2e.test_onboarding import shot
from tests.kits.common import PASSWORD, fresh_totp_code, make_owner

pytestmark = pytest.mark.e2e


@pytest.fixture
def member(transactional_db):
    return make_owner("dora@example.com", "Dora's desk")[0]


def sign_in(page: Page, hub_url: str, user) -> None:
    page.goto(f"{hub_url}/accounts/login/")
    page.get_by_placeholder("Email address").fill(user.email)
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_label("Code").fill(fresh_totp_code(user))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/hosts/$"))


def test_a_phone_gets_a_bottom_tab_bar(live_hub, browser, member, artifacts):
    page = browser.new_context(**PHONE).new_page()
    sign_in(page, live_hub.url, member)
    box = page.locator("nav.tabbar").bounding_box()
    assert box["y"] + box["height"] == pytest.approx(844, abs=1)
    assert box["width"] == pytest.approx(390, abs=1)
    shot(page, artifacts, "phone-hosts")


def test_a_desktop_gets_a_side_bar(live_hub, browser, member, artifacts):
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(page, live_hub.url, member)
    box = page.locator("nav.tabbar").bounding_box()
    assert box["x"] == 0
    assert box["width"] < 300
    assert box["height"] > 400
    shot(page, artifacts, "desktop-hosts")


def test_dark_mode_follows_the_system(live_hub, browser, member, artifacts):
    context = browser.new_context(**PHONE, color_scheme="dark")
    page = context.new_page()
    sign_in(page, live_hub.url, member)
    page.goto(f"{live_hub.url}/settings/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 17, 21)"
    shot(page, artifacts, "dark-settings")
