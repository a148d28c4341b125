"""A codex task's model and reasoning effort (issue 18): the phone offers what the host's Codex
lists in hello, the hub refuses anything else (400, no task), and the assignment carries them."""

import pytest
from django.urls import reverse

from tasks.messages import assignment
from tasks.models import Task
from tests.kits.common import make_host
from tests.kits.task_stream import BULLETS, offering, shared_project

pytestmark = pytest.mark.django_db

SOL = {"id": "gpt-6.2-sol", "label": "GPT-6.2-Sol", "efforts": ["low", "high"], "default_effort": "low"}
TINY = {"id": "tiny", "label": "", "efforts": [], "default_effort": None}
CODEX = {"name": "codex", "label": "Codex", "kind": "codex", "needs_file": False, "models": [SOL, TINY]}


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return shared_project(offering(host, CODEX, BULLETS))


def send(client, project, **fields):
    form = {"project": project.id, "executor": "codex", "prompt": "Tidy the notes", **fields}
    return client.post(reverse("task_new"), form)


def test_the_form_offers_the_models_and_efforts_codex_listed(alice_client, project):
    page = alice_client.get(reverse("task_new"), {"project": project.id}).content.decode()
    assert '<option value="gpt-6.2-sol" data-executor="codex" >GPT-6.2-Sol</option>' in page
    assert '<option value="tiny" data-executor="codex" >tiny</option>' in page
    assert '<option value="high" data-models="gpt-6.2-sol" >High</option>' in page


def test_a_task_on_a_chosen_model_and_effort(alice_client, project):
    response = send(alice_client, project, model="gpt-6.2-sol", effort="high")
    assert response.status_code == 302
    task = Task.objects.get()
    assert (task.model, task.effort) == ("gpt-6.2-sol", "high")
    sent = assignment(task)
    assert (sent["model"], sent["effort"]) == ("gpt-6.2-sol", "high")
    page = alice_client.get(reverse("task_detail", args=[task.id])).content.decode()
    assert "gpt-6.2-sol</code> · high effort" in page


def test_no_choice_sends_none(alice_client, project):
    send(alice_client, project, model="", effort="")
    sent = assignment(Task.objects.get())
    assert "model" not in sent and "effort" not in sent


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"model": "gpt-elsewhere"}, "Codex does not offer the model &#x27;gpt-elsewhere&#x27;"),
        ({"model": "tiny", "effort": "high"}, "effort &#x27;high&#x27; is not one this model offers"),
        ({"model": "gpt-6.2-sol", "effort": "--max"}, "The reasoning effort &#x27;--max&#x27; is not one"),
        ({"executor": "bullets", "model": "gpt-6.2-sol", "target": "README.md"}, "offers no choice of model"),
    ],
)
def test_a_model_or_effort_not_offered_is_refused(alice_client, project, fields, said):
    response = send(alice_client, project, **fields)
    assert response.status_code == 400
    assert said in response.content.decode()
    assert not Task.objects.exists()
