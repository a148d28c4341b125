"""Notifications a person can trust, in Chromium at a phone's size: enabling
says what it does and fails within 10 s with a clear error; the test reports
per device what really happened; each device shows its state; the inbox
keeps every notice with an unread badge in the tab bar; a request answered
elsewhere is taken down from the desktop. Screenshots at 390 px, checked for
sideways scrolling."""

import json
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from push_notifications.models import WebPushDevice

from accounts.models import Membership, Role, Team, User
from notifications.services import Notice, notice_push
from tests.e2e.conftest import PHONE, off_the_loop
from tests.kits.common import make_user
from tests.kits.desktop import asking_pia, push, signed_in_phone
from tests.kits.phone import shot, sign_in
from tests.kits.processes import hub_env, hub_with_worker
from tests.notifications.pushservice import PushService

pytestmark = pytest.mark.e2e

HANGS = "PushManager.prototype.subscribe = function () { return new Promise(() => {}); };"
REFUSES = """PushManager.prototype.subscribe = function () {
  return Promise.reject(new DOMException("Registration failed - push service error", "AbortError"));
};"""


@pytest.fixture
def push_hub(transactional_db, artifacts, tmp_path):
    """A hub that pushes to the local push service (and trusts its certificate)."""
    from notifications import vapid

    vapid.generate(tmp_path / "vapid.pem")
    with PushService() as service:
        env = hub_env(
            VAPID_PRIVATE_KEY_FILE=str(tmp_path / "vapid.pem"),
            WEBPUSH_ALLOWED_HOSTS=service.url.removeprefix("https://"),
            REQUESTS_CA_BUNDLE=service.ca_file,
            PUSH_RETRY_BASE="0.05",
        )
        with hub_with_worker(env, artifacts) as hub:  # with Redis, pushes go out from a worker
            yield hub, service


def phone(browser, hub_url: str, user, init_script: str = "") -> Page:
    context = browser.new_context(**PHONE)
    context.grant_permissions(["notifications"], origin=hub_url)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    sign_in(page, hub_url, user)
    return page


def stands_in_for_subscribe(subscription: dict) -> str:
    """The browser's subscribe() answers with the local push service's subscription."""
    return f"""PushManager.prototype.subscribe = async function () {{
  const value = {json.dumps(subscription)};
  return {{ endpoint: value.endpoint, toJSON: () => value }};
}};"""


def device(user, service, name: str) -> WebPushDevice:
    return service.device_for(user, name)


# Enabling -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script, error",
    [
        (HANGS, "Could not enable notifications. The browser's push service did not answer within 10 s."),
        (
            REFUSES,
            "Could not enable notifications. The browser's push service refused: "
            "Registration failed - push service error.",
        ),
    ],
    ids=["hangs", "refuses"],
)
def test_enabling_says_what_went_wrong_within_10_s(push_hub, browser, artifacts, script, error):
    hub, _ = push_hub
    page = phone(browser, hub.url, make_user("pia@example.com"), script)
    page.goto(f"{hub.url}/settings/notifications/")
    button = page.get_by_role("button", name="Enable notifications on this device")
    started = time.monotonic()
    button.click()
    status = page.locator("#push-status")
    if script == HANGS:  # it says what it waits for meanwhile
        expect(status).to_have_text("Subscribing with the browser's push service…", timeout=5_000)
    expect(status).to_have_text(error, timeout=12_000)
    assert time.monotonic() - started < 11
    expect(button).to_be_enabled()
    shot(page, artifacts, "enable-error")


def test_enabling_then_testing_reports_each_device(push_hub, browser, artifacts):
    hub, service = push_hub
    pia = make_user("pia@example.com")
    Membership.objects.create(team=Team.objects.create(name="Pia's"), user=pia, role=Role.OWNER)
    device(pia, service, "Old laptop")  # its browser unsubscribed long ago
    page = phone(browser, hub.url, pia, stands_in_for_subscribe(service.subscribe().as_json()))
    page.goto(f"{hub.url}/settings/notifications/")
    page.get_by_role("button", name="Enable notifications on this device").click()
    this_phone = page.locator(".device").filter(has_text="Chrome on")
    expect(this_phone).to_contain_text("Nothing sent yet.")

    service.respond_with(410, 201)  # ids in order: the old laptop, then this phone
    page.get_by_role("button", name="Send a test notification").click()
    results = page.locator("#test-results")
    expect(results).to_have_attribute("data-done", "1", timeout=15_000)
    laptop_result = results.locator(".test-result").filter(has_text="Old laptop")
    expect(laptop_result).to_contain_text("Failed")
    expect(laptop_result).to_contain_text("The push service no longer knows this device (410 Gone)")
    expect(results.locator(".test-result").filter(has_text="Chrome on")).to_contain_text("Delivered")
    expect(page.locator("#inbox-badge")).to_have_text("1")  # the test is in the inbox too
    shot(page, artifacts, "test-results")

    page.reload()
    laptop = page.locator(".device").filter(has_text="Old laptop")
    expect(laptop.locator(".device-state")).to_have_text("Off")
    expect(laptop).to_contain_text("Turned off by the hub: The push service no longer knows this device")
    expect(this_phone.locator(".device-state")).to_have_text("On")
    expect(this_phone).to_contain_text("Last delivered just now.")
    shot(page, artifacts, "device-states")

    # As the owner of a team, pia sets when its unanswered questions are reminded of.
    card = page.locator("section").filter(has_text="Unanswered questions in Pia's")
    card.get_by_label("Remind after (minutes, 0 for never)").fill("30")
    card.get_by_label("Then ask the team's owners and admins too").check()
    card.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Reminders saved for Pia's.")).to_be_visible()
    expect(card.get_by_label("Remind after (minutes, 0 for never)")).to_have_value("30")
    assert (
        service.accepted(urlsplit(WebPushDevice.objects.get(name__startswith="Chrome").registration_id).path)
        == 1
    )


def notice_push_for(user, notice: Notice, key: str) -> int:
    return notice_push(user=user, notice=notice, key=key)


# The inbox -------------------------------------------------------------------------------


def test_the_inbox_keeps_every_notice_and_counts_the_unread(push_hub, browser, artifacts):
    hub, _ = push_hub
    pia = make_user("pia@example.com")
    for n, title in enumerate(["Done · Turn the notes into a list", "studio went offline"], start=1):
        notice = Notice(title=title, body="notes on studio", url=f"/inbox/#n{n}", tag=f"t-{n}")
        off_the_loop(notice_push_for, pia, notice, f"e2e:{n}")  # no device: kept all the same
    page = phone(browser, hub.url, pia)
    badge = page.locator("#inbox-badge")
    expect(badge).to_have_text("2")
    expect(page.get_by_role("link", name="Inbox, 2 unread")).to_be_visible()
    page.get_by_role("link", name="Inbox, 2 unread").click()
    expect(page.locator(".inbox-entry.unread")).to_have_count(2)
    shot(page, artifacts, "inbox")

    page.get_by_role("button", name="studio went offline").click()
    expect(badge).to_have_text("1")
    expect(page.locator(".inbox-entry.unread")).to_have_count(1)
    page.get_by_role("button", name="Mark all read").click()
    expect(badge).to_be_hidden()
    expect(page.locator(".inbox-entry.unread")).to_have_count(0)
    shot(page, artifacts, "inbox-read")


# Answered elsewhere -----------------------------------------------------------------------


def test_a_request_answered_elsewhere_leaves_the_desktop(push_hub, daemon, desktop):  # noqa: F811
    from tasks.notify import permission_message

    hub, _ = push_hub
    page = signed_in_phone(desktop, hub.url)
    user = User.objects.get(email="pia@example.com")
    request = asking_pia(user)
    push(page, hub.url, json.loads(permission_message(request, user).payload()))
    notification_id, summary, _ = daemon.next_shown()
    assert summary == "Agent asks: Edit notes.md"
    clear = Notice(title="", body="", url="", tag=f"permission-{request.id}", clear=True)
    push(page, hub.url, json.loads(clear.payload()))
    assert daemon.next_closed() == notification_id  # what the desktop was asked, not getNotifications()
