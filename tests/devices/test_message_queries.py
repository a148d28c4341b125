"""What each host message type costs the database, pinned so that it can't
creep back: the queries of one message applied alone, and of ten of the same
type applied together (group commit: rows loaded once, rows written at once)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devices import link as host_link
from devices import services
from devices.services import Incoming
from projects.models import Project
from tasks.models import TaskState
from tests.kits.host_messages import STREAMS, payloads
from tests.kits.sessions import ask, make_session, session_project
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.django_db


# (queries for one message alone, for ten together). Each batch also costs four
# queries of its own, in these figures: it locks and moves its stream positions,
# and its transaction is a savepoint here (the test runs in a transaction).
COST = {
    "hello": (5, 14),
    "mirror.projects": (10, 64),  # once per link: a find-or-create per project
    "mirror.batch": (6, 27),
    "task.received": (6, 15),
    "task.started": (7, 21),
    "task.log": (6, 6),
    "task.finished": (7, 21),
    "task.step": (6, 15),
    "task.item": (8, 31),
    "task.turn": (6, 15),
    "task.permission": (8, 31),
    "task.permission_closed": (7, 23),
    "git.result": (5, 14),  # a request the hub does not know: looked up (one query each), ignored
    "host.manage_result": (5, 14),  # likewise
}


@pytest.fixture
def fleet(team_a, alice):
    project = session_project(team_a)
    now = timezone.now()
    assigned = {"state": TaskState.ASSIGNED, "received_at": now, "assigned_at": now}
    plain = [make_task(project, alice, steps=[{"action": "screenshot"}], **assigned)  # steps: for task.step
             for _ in range(10)]  # fmt: skip
    sessions = [make_session(project, alice) for _ in range(10)]
    for session in sessions:
        ask(session)
    return project, plain, sessions


def cost(kind: str, project: Project, tasks: list, count: int) -> int:
    stream = STREAMS.get(kind, "tasks")
    after = host_link.stream_positions(host_id=project.host_id).get(stream, 0)
    messages = [
        Incoming(host_id=project.host_id, stream=stream, seq=after + 1 + n, kind=kind,
                 payload=payloads(kind, project, tasks, n))
        for n in range(count)
    ]  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        results = services.host_messages_apply(messages=messages)
    assert {r.outcome for r in results} == {services.APPLIED}, results
    return len(queries)


@pytest.mark.parametrize("kind", sorted(COST))
def test_each_message_type_costs_a_pinned_number_of_queries(fleet, kind):
    project, plain, sessions = fleet
    tasks = sessions if kind.startswith(("task.item", "task.turn", "task.permission")) else plain
    cost(kind, project, tasks[1:], 1)  # the stream's first message also creates its position
    alone = cost(kind, project, tasks, 1)
    together = cost(kind, project, tasks, 10)
    assert (alone, together) == COST[kind]
