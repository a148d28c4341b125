"""The service worker in Chromium: a push message becomes a notification, and a
click on that notification brings up the task it names.

The push is real: DevTools' ServiceWorker.deliverPushMessage hands the
payload to the worker's `push` handler, as the push service would.

There is no web API to click a notification, and a synthetic
`NotificationEvent` dispatched inside the worker does not count:
`clients.openWindow()` and `WindowClient.focus()` refuse with
"InvalidAccessError: Not allowed to open a window" outside a click the
browser itself delivered. So the click tests stand in for the desktop
instead: Chromium on Linux shows notifications through the freedesktop
notification daemon on the session D-Bus, and a click there comes back as
its `ActionInvoked(id, "default")` signal. `NotificationDaemon` (tests/kits/desktop.py) is that
daemon on a private bus, the browser is launched on that bus, and the click
goes through Chromium's own click path: the worker gets a trusted
`notificationclick`, may open or focus a window, and closes the notification.
Chromium routes such a click to a person's profile, never to an incognito one,
so the click tests use a persistent context, not `browser.new_context()`.
"""

import json
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from accounts.models import User
from notifications import vapid
from tasks.models import PermissionRequest
from tasks.notify import permission_message
from tests.kits.desktop import NotificationDaemon, asking_pia, push, signed_in_phone
from tests.kits.phone import shot
from tests.kits.processes import wait_until

pytestmark = pytest.mark.e2e

TASK_PUSH = {
    "title": "Done · Turn this into a list",
    "body": "notes on studio",
    "url": "/tasks/42/",
    "tag": "task-42",
}


@pytest.fixture
def vapid_key(tmp_path, monkeypatch):
    """A VAPID key for the hub about to start, so that it offers Web Push."""
    vapid.generate(tmp_path / "vapid.pem")
    monkeypatch.setenv("VAPID_PRIVATE_KEY_FILE", str(tmp_path / "vapid.pem"))


def test_a_push_shows_a_notification_for_the_task(vapid_key, live_hub, daemon, desktop, artifacts):
    page = signed_in_phone(desktop, live_hub.url)
    push(page, live_hub.url, TASK_PUSH)
    shown_on_the_desktop(daemon)  # what the desktop was asked to show: title and text
    page.goto(f"{live_hub.url}/settings/notifications/")
    expect(page.get_by_role("button", name="Enable notifications on this device")).to_be_enabled()
    shot(page, artifacts, "notification-settings")


@pytest.mark.parametrize(
    "url",
    ["https://evil.example/tasks/42/", "//evil.example/tasks/42/", "/\\evil.example/", "javascript:alert(1)"],
    ids=["other-site", "scheme-relative", "backslash", "javascript"],
)
def test_a_push_for_another_site_links_home(live_hub, daemon, desktop, url):
    page = signed_in_phone(desktop, live_hub.url)
    push(page, live_hub.url, {**TASK_PUSH, "url": url})
    notification_id = shown_on_the_desktop(daemon)
    with desktop.expect_page(timeout=10_000) as opened:
        daemon.click(notification_id)
    home = opened.value
    home.wait_for_load_state()
    where = urlparse(home.url)
    assert where.netloc == urlparse(live_hub.url).netloc and where.path in ("/", "/hosts/")


# The click ---------------------------------------------------------------------


def shown_on_the_desktop(daemon: NotificationDaemon) -> int:
    notification_id, summary, text = daemon.next_shown()
    assert summary == TASK_PUSH["title"]
    assert TASK_PUSH["body"] in text  # Chromium puts the site's name above it
    return notification_id


def test_a_click_opens_the_task(live_hub, daemon, desktop):
    page = signed_in_phone(desktop, live_hub.url)
    push(page, live_hub.url, TASK_PUSH)
    notification_id = shown_on_the_desktop(daemon)

    with desktop.expect_page(timeout=10_000) as opened:
        daemon.click(notification_id)
    task_page = opened.value
    task_page.wait_for_load_state()
    assert urlparse(task_page.url).path == "/tasks/42/"  # a 404 for pia: no such task, which is fine
    assert daemon.next_closed() == notification_id  # the worker closed it


WATCH_FOCUS_JS = """() => {
  const focus = WindowClient.prototype.focus;
  self.focusedPath = new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("no window was focused within 10 s")), 10_000);
    WindowClient.prototype.focus = function () {
      const focusing = focus.call(this);
      focusing.then((client) => resolve(new URL(client.url).pathname), reject);
      return focusing;
    };
  });
}"""


def test_a_click_focuses_the_task_already_open(live_hub, daemon, desktop):
    page = signed_in_phone(desktop, live_hub.url)
    task_page = desktop.new_page()
    task_page.goto(f"{live_hub.url}/tasks/42/")
    page.bring_to_front()
    push(page, live_hub.url, TASK_PUSH)
    notification_id = shown_on_the_desktop(daemon)

    # Headless windows are all visible and Playwright tells every page it has
    # the focus, so the pages cannot tell which one came forward. The worker's
    # WindowClient.focus() can: it is watched (and still called) as it resolves;
    # it would refuse outside a click Chromium delivered.
    [worker] = desktop.service_workers
    worker.evaluate(WATCH_FOCUS_JS)
    opened = []
    desktop.on("page", lambda new: opened.append(new))
    daemon.click(notification_id)
    assert worker.evaluate("self.focusedPath") == "/tasks/42/"
    assert daemon.next_closed() == notification_id
    assert opened == []  # focused, not opened a second time
    assert [urlparse(p.url).path for p in desktop.pages] == ["/hosts/", "/tasks/42/"]


# A permission request's buttons ------------------------------------------------


def test_allow_on_the_notification_answers_the_agent(live_hub, daemon, desktop):
    page = signed_in_phone(desktop, live_hub.url)
    user = User.objects.get(email="pia@example.com")
    request = asking_pia(user)
    push(page, live_hub.url, json.loads(permission_message(request, user).payload()))
    notification_id, summary, _ = daemon.next_shown()
    assert summary == "Agent asks: Edit notes.md"
    assert {"Allow once", "Reject"} <= set(daemon.buttons[notification_id])  # beside Chromium's own

    opened = []
    desktop.on("page", lambda new: opened.append(new))
    daemon.click(notification_id, "Allow once")
    assert daemon.next_closed() == notification_id
    wait_until(
        lambda: PermissionRequest.objects.get(id=request.id).state == "answered",
        timeout=10,
        what="the answer to reach the hub",
    )
    request.refresh_from_db()
    assert (request.option_id, request.answered_by) == ("allow", user)
    assert opened == []  # answered in the background: nothing to open


def test_a_button_that_cannot_answer_opens_the_request(live_hub, daemon, desktop):
    page = signed_in_phone(desktop, live_hub.url)
    user = User.objects.get(email="pia@example.com")
    request = asking_pia(user)
    push(page, live_hub.url, json.loads(permission_message(request, user).payload()))
    notification_id, _, _ = daemon.next_shown()
    PermissionRequest.objects.filter(id=request.id).update(state="answered", option_id="allow")

    with desktop.expect_page(timeout=10_000) as opened:
        daemon.click(notification_id, "Reject")  # answered meanwhile on another screen: 409
    task_page = opened.value
    task_page.wait_for_load_state()
    assert urlparse(task_page.url).path == f"/tasks/{request.task_id}/"
    assert urlparse(task_page.url).fragment == f"permission-{request.id}"
    assert PermissionRequest.objects.get(id=request.id).option_id == "allow"
