"""The inbox page: every notice the person was sent, read or unread, and the
count of unread ones on the tab bar; nothing lost when a push fails."""

import re

import pytest
from django.urls import reverse

from notifications.models import InboxEntry
from notifications.services import Notice, notice_push

pytestmark = pytest.mark.django_db


def notice(n: int, url: str = "") -> Notice:
    title = f"Done · Task {n}"
    return Notice(title=title, body="notes on studio", url=url or f"/tasks/{n}/", tag=f"task-{n}")


def badge(page: str) -> tuple[bool, str]:
    """(shown, the count) of the tab bar's badge."""
    tag, count = re.search(r'(<span class="inbox-badge"[^>]*>)(\d+)</span>', page).groups()
    return " hidden" not in tag, count


def test_a_notice_no_device_received_is_in_the_inbox_with_a_badge(alice_client, alice):
    assert notice_push(user=alice, notice=notice(1), key="task:1") == 0  # no device at all
    notice_push(user=alice, notice=notice(2), key="task:2")
    page = alice_client.get(reverse("inbox")).content.decode()
    assert page.index("Done · Task 2") < page.index("Done · Task 1")  # newest first
    assert page.count('class="inbox-entry unread"') == 2
    assert badge(page) == (True, "2")
    assert 'aria-label="Inbox, 2 unread"' in page


def test_opening_an_entry_marks_it_read_and_goes_where_it_says(alice_client, alice):
    notice_push(user=alice, notice=notice(1), key="task:1")
    entry = InboxEntry.objects.get()
    response = alice_client.post(reverse("inbox_open", args=[entry.id]))
    assert response.status_code == 302 and response["Location"] == "/tasks/1/"
    page = alice_client.get(reverse("inbox")).content.decode()
    assert 'class="inbox-entry unread"' not in page and badge(page) == (False, "0")


def test_mark_all_read_empties_the_badge(alice_client, alice):
    for n in range(3):
        notice_push(user=alice, notice=notice(n), key=f"task:{n}")
    alice_client.post(reverse("inbox_read_all"))
    assert InboxEntry.objects.filter(read_at__isnull=True).count() == 0
    page = alice_client.get(reverse("host_list")).content.decode()
    assert badge(page) == (False, "0")


def test_another_persons_entry_is_404_and_stays_unread(alice, client, charlie):
    from tests.kits.common import login

    notice_push(user=alice, notice=notice(1), key="task:1")
    entry = InboxEntry.objects.get()
    response = login(client, charlie).post(reverse("inbox_open", args=[entry.id]))
    assert response.status_code == 404
    entry.refresh_from_db()
    assert entry.read_at is None


@pytest.mark.parametrize(
    "url", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:x"]
)
def test_an_entry_leading_off_the_hub_opens_the_inbox(alice_client, alice, url):
    notice_push(user=alice, notice=notice(1, url=url), key="task:1")
    response = alice_client.post(reverse("inbox_open", args=[InboxEntry.objects.get().id]))
    assert response["Location"] == "/inbox/"


def test_opening_needs_a_post(alice_client, alice):
    notice_push(user=alice, notice=notice(1), key="task:1")
    response = alice_client.get(reverse("inbox_open", args=[InboxEntry.objects.get().id]))
    assert response.status_code == 405
    assert InboxEntry.objects.get().read_at is None
