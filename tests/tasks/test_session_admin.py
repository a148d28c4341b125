"""The fleet admin shows an agent session's records read-only and lets staff
set who may answer for a host."""

import re

import pytest
from django.urls import reverse

from tests.kits.common import make_host
from tests.kits.sessions import EXECUTORS, SessionStream, ask, make_session
from tests.kits.task_stream import offering, shared_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(team_a, alice):
    host, _ = make_host(team_a, "Studio")
    task = make_session(shared_project(offering(host, *EXECUTORS)), alice)
    SessionStream(host.id).item(task.id, "agent:1", "agent", text="Tidying <b>now</b>")
    ask(task, title="Edit notes.md")
    task.messages.create(text="Also the index", created_by=alice)
    return task


def test_the_task_admin_shows_requests_and_follow_ups(staff_client, task):
    body = staff_client.get(reverse("admin:tasks_task_change", args=[task.id])).content.decode()
    assert "Edit notes.md" in body and "Also the index" in body


def test_timeline_entries_and_requests_have_read_only_lists(staff_client, task):
    items = staff_client.get(reverse("admin:tasks_taskitem_changelist")).content.decode()
    assert "agent:1" in items
    requests = staff_client.get(reverse("admin:tasks_permissionrequest_changelist")).content.decode()
    assert "Edit notes.md" in requests
    item = task.items.get()
    page = staff_client.get(reverse("admin:tasks_taskitem_change", args=[item.id])).content.decode()
    assert "&lt;b&gt;now&lt;/b&gt;" in page and 'name="_save"' not in page


def test_staff_set_who_may_answer_for_a_host(staff_client, task):
    host = task.host
    url = reverse("admin:devices_host_change", args=[host.id])
    page = staff_client.get(url).content.decode()
    assert 'name="approve_role"' in page
    # What the browser sends along: the management form of the page's inlines.
    field = r'name="([\w-]+-(?:TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS)"[^>]*value="(\d*)"'
    management = dict(re.findall(field, page))
    response = staff_client.post(
        url, {"name": host.name, "approve_role": "admin", "git_role": "member", **management}
    )
    assert response.status_code == 302
    host.refresh_from_db()
    assert host.approve_role == "admin"
