"""A host sends `hello` again on the same link when a live edit of its agent.toml changes its
executors (docs/protocol.md, "The executors a host offers"): the hub takes the latest, the
task form offers exactly it, and a task for an executor that is gone is refused."""

import pytest
from django.urls import reverse

from devices.models import Host
from devices.services import APPLIED
from projects.models import Project
from tasks.models import Task
from tests.kits.common import SequencedStream, make_host

pytestmark = pytest.mark.django_db

ECHO = {"name": "echo", "label": "Echo", "kind": "command"}
TIDY = {"name": "tidy", "label": "Tidy up", "kind": "command"}


class HostStream(SequencedStream):
    name = "host"

    def hello(self, *executors: dict, capabilities=("agent",)):
        payload = {"agent_version": "0.3.0", "capabilities": list(capabilities), "executors": list(executors)}
        return self.send("hello", payload)


@pytest.fixture
def host(team_a):
    return make_host(team_a, "Build box")[0]


def test_a_later_hello_on_the_same_link_replaces_the_executors(alice_client, host):
    project = Project.objects.create(host=host, name="docs")
    stream = HostStream(host.id)
    assert stream.hello(ECHO).outcome == APPLIED
    assert stream.hello(ECHO, TIDY, capabilities=("agent", "mirror")).outcome == APPLIED
    assert [e["name"] for e in Host.objects.get(id=host.id).executors] == ["echo", "tidy"]
    assert Host.objects.get(id=host.id).capabilities == ["agent", "mirror"]
    form = alice_client.get(reverse("task_new"), {"project": project.id}).content.decode()
    assert "Tidy up" in form and "Echo" in form

    assert stream.hello(TIDY).outcome == APPLIED  # echo removed from agent.toml
    form = alice_client.get(reverse("task_new"), {"project": project.id}).content.decode()
    assert "Tidy up" in form and "Echo" not in form
    response = alice_client.post(
        reverse("task_new"), {"project": project.id, "executor": "echo", "prompt": "hi"}
    )
    assert response.status_code == 400
    assert "Build box does not offer &#x27;echo&#x27;. It offers: tidy." in response.content.decode()
    assert not Task.objects.exists()
