"""What the hub sends a host, read back by the protocol's models: assignments
(with browser steps), cancels, and a session's answers, follow-ups and ends."""

import pytest

from protocol.mirror import MirrorResync
from protocol.sessions import FollowUp, TaskAnswer, TaskEnd, TaskInterrupt
from protocol.tasks import TaskAssign, TaskCancel
from tasks.messages import answer_message, assignment, followup_message
from tasks.models import TaskMessage
from tests.kits.common import make_host
from tests.kits.protocol_checks import wire
from tests.kits.sessions import ask
from tests.kits.task_stream import make_task, offering, shared_project

pytestmark = pytest.mark.django_db

STEPS = [
    {"action": "open", "url": "https://shop.example.com/order"},
    {"action": "fill", "selector": "#qty", "value": "3"},
    {"action": "screenshot", "full_page": True},
]


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return shared_project(offering(host), files=("README.md", "notes/plan.md"))


def test_an_assignment(project, alice):
    task = make_task(project, alice, target="notes/plan.md", prompt="Tidy\nit")
    message = {"type": "task.assign", "task": assignment(task)}
    assert TaskAssign.model_validate(wire(message)).model_dump(exclude_none=True) == message


def test_a_browser_assignment(project, alice):
    task = make_task(project, alice, executor="browser", steps=STEPS)
    message = {"type": "task.assign", "task": assignment(task)}
    assert TaskAssign.model_validate(wire(message)).task.steps == STEPS


def test_a_cancel_and_a_sessions_messages(project, alice):
    task = make_task(project, alice, executor="codex", session_state="working")
    request = ask(task)
    request.option_id = "allow"
    followup = TaskMessage.objects.create(task=task, text="And the index", created_by=alice)
    TaskCancel.model_validate({"type": "task.cancel", "task_id": task.id})
    assert TaskAnswer.model_validate(wire(answer_message(request))).option_id == "allow"
    assert FollowUp.model_validate(wire(followup_message(followup))).text == "And the index"
    TaskInterrupt.model_validate({"type": "task.interrupt", "task_id": task.id})
    TaskEnd.model_validate({"type": "task.end", "task_id": task.id})
    MirrorResync.model_validate({"type": "mirror.resync", "project": project.name})
