"""The admin from a phone: reached through the hub's own sign-in and second
factor (no code field of its own), and its front page fits 390 px."""

import re

import pytest
from playwright.sync_api import Page, expect

from codexhub.admin import ADMIN_NOT_STAFF
from tests.kits.common import PASSWORD, fresh_totp_code, make_user
from tests.kits.phone import shot

pytestmark = pytest.mark.e2e

# Each word on the page whose letters a narrow column split over lines.
BROKEN_WORDS = """() => {
  const broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.data.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (lines.size > 1) broken.push(match[0]);
    }
  }
  return broken;
}"""


@pytest.fixture
def staff(transactional_db):
    user = make_user("root@example.com")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def test_staff_reach_the_admin_through_the_hubs_sign_in_and_code(live_hub, phones, staff, artifacts):
    page: Page = phones.new_page()
    page.goto(f"{live_hub.url}/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/admin/$"))
    expect(page.get_by_placeholder("Email address")).to_be_visible()
    expect(page.get_by_text(re.compile("OTP", re.I))).to_have_count(0)
    shot(page, artifacts, "01-sign-in")
    page.get_by_placeholder("Email address").fill(staff.email)
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    expect(page.get_by_text("Successfully signed in")).to_have_count(0)
    page.get_by_label("Code").fill(fresh_totp_code(staff))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{live_hub.url}/admin/")
    expect(page.get_by_text(f"Successfully signed in as {staff.email}.")).to_be_visible()

    # The front page at 390 px: no sideways scroll, no word split over lines.
    expect(page.get_by_role("heading", name="Push notifications")).to_be_visible()
    shot(page, artifacts, "02-admin-index")
    assert page.evaluate("[window.innerWidth, document.documentElement.scrollWidth]") == [390, 390]
    assert page.evaluate(BROKEN_WORDS) == []
    expect(page.get_by_role("link", name="Entries", exact=True)).to_be_visible()
    expect(page.get_by_text("Entrys")).to_have_count(0)
    assert phones.errors == []


def test_an_account_that_is_not_staff_is_told_it_has_no_access(live_hub, phones, artifacts):
    member = make_user("dora@example.com")
    page: Page = phones.new_page()
    page.goto(f"{live_hub.url}/admin/")
    page.get_by_placeholder("Email address").fill(member.email)
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_label("Code").fill(fresh_totp_code(member))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text(ADMIN_NOT_STAFF)).to_be_visible()
    shot(page, artifacts, "no-access")
    assert page.evaluate(BROKEN_WORDS) == []
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/admin/$"))
