"""A phone in the e2e tests: signing in (with the second factor) and screenshots that fail
when the page scrolls sideways."""

import re
from concurrent.futures import ThreadPoolExecutor

from django.db import connections
from playwright.sync_api import Page, expect

from tests.kits.common import PASSWORD, fresh_totp_code

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def shot(page: Page, folder, name: str) -> None:
    """Screenshot the page and check that a phone never scrolls sideways."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    overflow = sideways(page)
    assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"


def sideways(page: Page) -> int:
    """How many CSS pixels the page is wider than the phone's screen. Not against innerWidth: a
    phone zooms out to fit a page wider than its screen, and innerWidth widens with it."""
    viewport = page.viewport_size
    assert viewport is not None
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width - viewport["width"]


def sign_in(page: Page, hub_url: str, user) -> None:
    page.goto(f"{hub_url}/accounts/login/")
    page.get_by_placeholder("Email address").fill(user.email)
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_label("Code").fill(fresh_totp_code(user))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/hosts/$"))


def off_the_loop(work, *args):
    """work(*args) on a thread of its own: the mirror's apply rings the channel
    layer through async_to_sync, which refuses Playwright's thread. The thread's
    database connection is closed after it, not left for the garbage collector
    while the test database is being dropped."""

    def run():
        try:
            return work(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()
