"""A person's first minutes, in Chromium at 390x844: sign up, turn on TOTP,
sign out, sign in with the code (a wrong one refused), create a team and
invite a second person, who signs up from the link and joins."""

import re

import pyotp
import pytest
from playwright.sync_api import Page, expect

from accounts.models import Membership, Role, User
from tests.kits.common import fresh_totp_code
from tests.kits.phone import shot
from tests.kits.processes import wait_until

pytestmark = pytest.mark.e2e

PASSWORD = "a long and fresh passphrase"


def sign_up(page: Page, email: str) -> None:
    page.get_by_placeholder("Email address").fill(email)
    page.get_by_placeholder("Password", exact=True).fill(PASSWORD)
    page.get_by_placeholder("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()


def test_sign_up_two_factor_team_and_invitation(live_hub, phones, artifacts, mail_dir):
    page = phones.new_page()
    page.goto(live_hub.url)
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    shot(page, artifacts, "01-sign-in")

    page.get_by_role("link", name="sign up").click()
    shot(page, artifacts, "02-sign-up")
    sign_up(page, "ana@example.com")

    # Straight to two-factor setup: scan, or type the key shown as text.
    expect(page.get_by_role("heading", name="Set up two-factor")).to_be_visible()
    shot(page, artifacts, "03-two-factor-setup")
    key = page.locator("#totp-key").inner_text().replace(" ", "")
    totp = pyotp.TOTP(key)
    page.get_by_label("Code").fill(totp.now())
    page.get_by_role("button", name="Turn on two-factor").click()
    expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
    assert page.locator("#backup-codes li").count() == 10
    shot(page, artifacts, "04-backup-codes")
    page.get_by_role("link", name="I saved them").click()

    # Sign out from Settings.
    page.get_by_role("link", name="Settings").click()
    shot(page, artifacts, "05-settings")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    # Sign in: the password, then the code; a wrong code is refused.
    page.get_by_placeholder("Email address").fill("ana@example.com")
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not correct")).to_be_visible()
    shot(page, artifacts, "06-wrong-code")
    # A wrong code costs no wait (three are free): the right one goes straight in.
    page.get_by_label("Code").fill(fresh_totp_code(User.objects.get(email="ana@example.com")))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hosts")).to_be_visible()
    shot(page, artifacts, "07-hosts-no-team")

    # Create a team and invite Ben.
    page.get_by_role("link", name="Create a team").click()
    page.get_by_label("Name").fill("Ana's machines")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="Ana's machines")).to_be_visible()
    page.get_by_label("Email").fill("ben@example.com")
    page.get_by_role("button", name="Send invitation").click()
    link = page.locator("#invitation-link").inner_text().strip()
    assert link.startswith(f"{live_hub.url}/invite/")
    shot(page, artifacts, "08-team-invited")

    # The email went out through the job queue (a real worker under Redis).
    # The sign-up confirmation is in the folder already; wait for the invitation.
    wait_until(
        lambda: link in "".join(p.read_text() for p in mail_dir.iterdir()),
        timeout=20,
        what="the invitation mail",
    )

    # Ben opens the link on his own phone, signs up, and joins.
    ben = phones.new_page()
    ben.goto(link)
    expect(ben.get_by_role("heading", name="Join Ana's machines")).to_be_visible()
    shot(ben, artifacts, "09-invitation-visitor")
    ben.get_by_role("link", name="Create an account").click()
    sign_up(ben, "ben@example.com")
    # Every page needs a second factor: setup first, then back to the invitation.
    expect(ben.get_by_role("heading", name="Set up two-factor")).to_be_visible()
    ben_totp = pyotp.TOTP(ben.locator("#totp-key").inner_text().replace(" ", ""))
    ben.get_by_label("Code").fill(ben_totp.now())
    ben.get_by_role("button", name="Turn on two-factor").click()
    expect(ben.get_by_role("heading", name="Your backup codes")).to_be_visible()
    ben.get_by_role("link", name="I saved them").click()
    expect(ben.get_by_role("heading", name="Join Ana's machines")).to_be_visible()
    ben.get_by_role("button", name="Join Ana's machines").click()
    expect(ben.get_by_text("You joined “Ana's machines”.")).to_be_visible()
    shot(ben, artifacts, "10-team-joined")
    assert Membership.objects.get(user__email="ben@example.com").role == Role.MEMBER

    # The link worked once.
    ben.goto(link)
    expect(ben.locator("#invitation-error")).to_have_text("This invitation has already been used.")

    # Ana sees Ben in the team.
    page.reload()
    expect(page.get_by_text("ben@example.com")).to_be_visible()
    shot(page, artifacts, "11-team-members")
    assert phones.errors == [], phones.errors
