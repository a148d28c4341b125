"""The task pages a phone sees, and the task events on /ws/ui/ (SECURITY.md 30 for tasks)."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from accounts.groups import team_group
from codexhub.events import group_send
from tasks.models import TaskLog, TaskState
from tests.kits.common import login, make_host, page_text
from tests.kits.task_stream import TaskStream, make_task, offering, shared_project
from tests.kits.ui_socket import OUR_ORIGIN, headers_for, open_socket

DIFF = "--- a/README.md\n+++ b/README.md\n@@ -1,2 +1,2 @@\n # Notes\n-Apples\n+- Apples\n"


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return shared_project(offering(host), files=("README.md", "notes/plan.md"))


@pytest.mark.django_db
def test_the_task_page_shows_state_output_and_diff(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING, target="README.md")
    stream = TaskStream(project.host_id)
    stream.log(task.id, 1, "thinking <b>hard</b>\n")
    stream.finished(
        task.id, exit_code=0, duration=3.5, changes=[{"path": "README.md", "op": "modified", "diff": DIFF}]
    )
    response = alice_client.get(reverse("task_detail", args=[task.id]))
    body = page_text(response)
    assert "Succeeded" in body and "3.5 s" in body and "Exit code" in body
    assert "thinking <b>hard</b>" in body and "<b>hard</b>" not in response.content.decode()
    added = '<div class="dl add" data-n="2"><span class="sign">+</span><ins>- </ins>Apples</div>'
    assert added in response.content.decode()  # the new line, its new words marked
    assert "+1" in body and "−1" in body
    assert "Cancel" not in body and "Run again" in body


@pytest.mark.django_db
def test_the_log_endpoint_gives_pieces_after_a_number(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING)
    TaskLog.objects.bulk_create([TaskLog(task=task, seq=n, text=f"{n}\n") for n in range(1, 6)])
    data = alice_client.get(reverse("task_log", args=[task.id]), {"after": 3}).json()
    assert data == {
        "state": "running",
        "finished": False,
        "chunks": [{"seq": 4, "html": "4\n"}, {"seq": 5, "html": "5\n"}],
        "carry": "",
    }
    assert (
        alice_client.get(reverse("task_log", args=[task.id]), {"after": "x"}).json()["chunks"][0]["seq"] == 1
    )


@pytest.mark.django_db
def test_lists_filter_by_status_host_and_project(alice_client, alice, project, team_a):
    other_host, _ = make_host(team_a, "Laptop")
    other = shared_project(offering(other_host), name="site")
    make_task(project, alice, prompt="Alpha job", state=TaskState.SUCCEEDED)
    make_task(project, alice, prompt="Beta job", state=TaskState.FAILED)
    make_task(other, alice, prompt="Gamma job")
    everything = page_text(alice_client.get(reverse("task_list")))
    assert all(name in everything for name in ("Alpha job", "Beta job", "Gamma job"))
    failed = page_text(alice_client.get(reverse("task_list"), {"state": "failed"}))
    assert "Beta job" in failed and "Alpha job" not in failed
    on_laptop = page_text(alice_client.get(reverse("task_list"), {"host": other_host.id}))
    assert "Gamma job" in on_laptop and "Alpha job" not in on_laptop
    of_project = page_text(alice_client.get(reverse("task_list"), {"project": project.id}))
    assert "Alpha job" in of_project and "Gamma job" not in of_project
    nothing = page_text(alice_client.get(reverse("task_list"), {"state": "expired"}))
    assert "No tasks match" in nothing


@pytest.mark.django_db
def test_other_teams_tasks_are_not_listed(alice_client, charlie, team_b):
    foreign_host, _ = make_host(team_b, "Charlie's box")
    make_task(shared_project(offering(foreign_host)), charlie, prompt="Secret plan")
    assert "Secret plan" not in page_text(alice_client.get(reverse("task_list")))


@pytest.mark.django_db
def test_the_file_page_offers_a_task_on_that_file(alice_client, project):
    body = alice_client.get(reverse("file_detail", args=[project.id, "notes/plan.md"])).content.decode()
    assert 'name="target" value="notes/plan.md"' in body
    assert '<option value="bullets"' in body and "Bulletize (one file)" in body


@pytest.mark.django_db
def test_home_shows_running_tasks_and_latest_results(alice_client, alice, project):
    make_task(project, alice, prompt="Running one", state=TaskState.RUNNING)
    make_task(project, alice, prompt="Done one", state=TaskState.SUCCEEDED)
    body = page_text(alice_client.get(reverse("host_list")))
    assert "Running now" in body and "Running one" in body
    assert "Latest results" in body and "Done one" in body


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_page_subscribes_to_its_task_and_not_to_another_teams(alice, team_a, team_b, charlie):
    def setup():
        own_host, _ = make_host(team_a, "Studio")
        foreign_host, _ = make_host(team_b, "Other")
        own = make_task(shared_project(offering(own_host)), alice)
        foreign = make_task(shared_project(offering(foreign_host)), charlie)
        return own, foreign, login(Client(), alice)

    own, foreign, client = await database_sync_to_async(setup)()
    communicator, connected, _ = await open_socket(headers_for(client, OUR_ORIGIN))
    assert connected
    await communicator.receive_json_from(timeout=5)  # hello
    await communicator.send_json_to({"type": "subscribe", "task": foreign.id})
    assert await communicator.receive_json_from(timeout=5) == {"type": "error", "error": "no such task"}
    await communicator.send_json_to({"type": "subscribe", "task": "1"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
    await communicator.send_json_to({"type": "subscribe", "task": own.id})
    assert await communicator.receive_json_from(timeout=5) == {"type": "subscribed", "task": own.id}
    await database_sync_to_async(group_send)(
        f"task.{foreign.id}", {"type": "task.log", "task": foreign.id, "seq": 1}
    )
    await database_sync_to_async(group_send)(f"task.{own.id}", {"type": "task.log", "task": own.id, "seq": 1})
    assert await communicator.receive_json_from(timeout=5) == {"type": "task.log", "task": own.id, "seq": 1}
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await database_sync_to_async(group_send)(
        team_group(team_a.id), {"type": "task.changed", "task": own.id, "state": "running"}
    )
    assert (await communicator.receive_json_from(timeout=5))["type"] == "task.changed"
    await communicator.disconnect()
