"""A session the agent reports ended badly reads so on its page: a refused or failed last turn
is "Failed" with the reason, never "Succeeded"."""

import re

import pytest
from django.urls import reverse

from tasks.models import Task, TaskState
from tests.kits.common import page_text
from tests.kits.sessions import SessionStream

pytestmark = pytest.mark.django_db


def words(client, task) -> str:
    html = page_text(client.get(reverse("task_detail", args=[task.id])))
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_session_ended_after_a_refused_turn_reads_failed_with_why(alice_client, task):
    stream = SessionStream(task.host_id)
    stream.turn(task.id, "waiting", stop_reason="refusal")
    stream.item(task.id, "notice:1", "notice", text="The agent refused this turn.", level="error")
    stream.finished(task.id, "failed", exit_code=None, error="the last turn was refused by the agent")
    task = Task.objects.get(id=task.id)
    assert (task.state, task.session_state) == (TaskState.FAILED, "ended")
    body = words(alice_client, task)
    assert "Failed" in body and "Succeeded" not in body
    assert "the last turn was refused by the agent" in body
    assert "The agent refused this turn." in body
