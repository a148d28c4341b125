"""The inbox: one entry per notice shown to a user, written with the toast and
the pushes, once per notice even when its job runs again; the newest kept."""

from unittest import mock

import pytest
from django.urls import reverse

from accounts.groups import user_group
from notifications import services
from notifications.models import InboxEntry
from notifications.services import Notice, notice_push

pytestmark = pytest.mark.django_db

NOTICE = Notice(title="Done · Tidy", body="notes on studio", url="/tasks/7/", tag="task-7")


def test_it_writes_one_entry_and_one_toast_per_notice(alice):
    with mock.patch("notifications.services.group_send") as toast:
        notice_push(user=alice, notice=NOTICE, key="task:7")
        notice_push(user=alice, notice=NOTICE, key="task:7")  # the job again, after a worker died
    entry = InboxEntry.objects.get()
    assert (entry.user, entry.key, entry.title, entry.body, entry.url, entry.tag) == (
        alice, "task:7", "Done · Tidy", "notes on studio", "/tasks/7/", "task-7"
    )  # fmt: skip
    badge, call = toast.call_args_list  # the tab bar's count, then the toast
    assert badge.args == (user_group(alice.id), {"type": "inbox", "unread": 1})
    assert call.args == (user_group(alice.id), {"type": "notify", **NOTICE.toast()})


def test_it_writes_an_entry_per_person_and_per_notice(alice, bob):
    notice_push(user=alice, notice=NOTICE, key="permission:3")
    notice_push(user=bob, notice=NOTICE, key="permission:3")
    notice_push(user=alice, notice=NOTICE, key="turn:7:2")
    assert sorted(InboxEntry.objects.values_list("user__email", "key")) == [
        ("alice@example.com", "permission:3"),
        ("alice@example.com", "turn:7:2"),
        ("bob@example.com", "permission:3"),
    ]


def test_it_keeps_the_newest_entries_of_each_person(alice, bob, monkeypatch):
    monkeypatch.setattr(services, "INBOX_KEEP", 3)
    notice_push(user=bob, notice=NOTICE, key="task:1")
    for n in range(5):
        notice_push(user=alice, notice=NOTICE, key=f"task:{n}")
    assert list(alice.inbox.order_by("id").values_list("key", flat=True)) == ["task:2", "task:3", "task:4"]
    assert bob.inbox.count() == 1


def test_it_cuts_long_text_to_the_columns(alice):
    notice_push(user=alice, notice=Notice(title="t" * 500, body="b" * 900, url="/", tag="x"), key="k" * 200)
    entry = InboxEntry.objects.get()
    assert (len(entry.title), len(entry.body), len(entry.key)) == (200, 500, 120)


def test_staff_read_the_inbox_in_the_admin(staff_client, alice):
    notice_push(user=alice, notice=NOTICE, key="task:7")
    response = staff_client.get(reverse("admin:notifications_inboxentry_changelist"))
    assert response.status_code == 200 and "Done · Tidy" in response.content.decode()
    assert staff_client.get(reverse("admin:notifications_inboxentry_add")).status_code == 403
