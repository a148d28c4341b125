"""The task form as the hub renders it: a file page offers what can change a
file (a coding agent, not the browser), and a browser executor chosen with a
prompt but no steps says what it needs instead of "not valid JSON"."""

import re

import pytest
from django.urls import reverse

from devices.models import Host
from tasks.models import Task
from tasks.services import STEPS_NEEDED
from tests.kits.common import make_host, page_text
from tests.kits.task_stream import CLAUDE, offering, shared_project

pytestmark = pytest.mark.django_db

BROWSER = {"name": "browser", "label": "Chromium", "kind": "browser", "needs_file": False}


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    offering(host, BROWSER, CLAUDE)  # the browser first, as agent.toml's order may put it
    return shared_project(host, files=("plan.md",))


def options(body: str) -> list[str]:
    return re.findall(r'<option value="([^"]+)"', body)


def test_the_file_page_offers_only_what_changes_a_file(alice_client, project):
    body = page_text(alice_client.get(reverse("file_detail", args=[project.id, "plan.md"])))
    assert options(body) == ["claude"]
    assert "Browser actions" not in body
    assert 'name="target" value="plan.md"' in body


def test_the_project_page_offers_every_executor_with_the_steps(alice_client, project):
    body = page_text(alice_client.get(reverse("project_detail", args=[project.id])))
    assert options(body) == ["browser", "claude"]
    assert "Browser actions: open (url)" in body  # the steps field (titled by the script)


def test_a_host_with_only_a_browser_says_so_on_a_file_page(alice_client, project):
    Host.objects.filter(id=project.host_id).update(executors=[BROWSER])
    body = page_text(alice_client.get(reverse("file_detail", args=[project.id, "plan.md"])))
    assert "Studio offers no way to change a file yet" in body
    assert "<option" not in body


def test_a_prompt_for_the_browser_without_steps_says_what_it_needs(alice_client, project):
    data = {"project": project.id, "executor": "browser", "prompt": "Tidy this", "steps": "", "target": ""}
    response = alice_client.post(reverse("task_new"), data)
    assert response.status_code == 400
    body = page_text(response)
    assert STEPS_NEEDED.format(label="Chromium") in body
    assert "not valid JSON" not in body
    assert not Task.objects.exists()
