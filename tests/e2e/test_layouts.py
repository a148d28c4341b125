"""The shell follows the screen and the system: a bottom tab bar on a phone,
a side bar on a desktop, and dark colours when the system asks for them."""

import pytest

from tests.e2e.conftest import PHONE
from tests.kits.common import make_owner
from tests.kits.phone import shot, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def member(transactional_db):
    return make_owner("dora@example.com", "Dora's desk")[0]


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
