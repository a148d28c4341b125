"""The code page as people use it: a typo costs no wait, a code used a moment
ago says so and when the next one comes, and "signed in" comes after the code."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.kits.common import PASSWORD, make_user, totp_for
from tests.kits.phone import shot

pytestmark = pytest.mark.e2e


def sign_in(page: Page, hub_url: str, email: str) -> None:
    page.goto(f"{hub_url}/accounts/login/")
    page.get_by_placeholder("Email address").fill(email)
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    expect(page.get_by_text("Successfully signed in")).to_have_count(0)


def test_a_typo_then_the_right_code_and_a_used_code_told_apart(live_hub, phones, artifacts):
    user = make_user("erin@example.com")
    page: Page = phones.new_page()
    sign_in(page, live_hub.url, user.email)
    code = totp_for(user).now()
    page.get_by_label("Code").fill(code[:5] + str((int(code[5]) + 1) % 10))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not correct")).to_be_visible()
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text(f"Successfully signed in as {user.email}.")).to_be_visible()
    shot(page, artifacts, "01-signed-in")

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_hub.url, user.email)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()
    used = re.compile(r"That code was just used, .* The next one appears in \d+ s\.")
    expect(page.get_by_text(used)).to_be_visible()
    expect(page.get_by_text("not correct")).to_have_count(0)
    shot(page, artifacts, "02-used-code")
    assert phones.errors == []
