"""Poison messages (issue: the host message path): every message type a host
sends, turned hostile in any field (any Unicode, lone surrogates, NUL, wrong
types, unknown or missing keys, numbers out of range, deep nesting), through
the real consumer. Each one is consumed: its seq is taken (acked), a message
that can't be applied is answered with an error and counted on the host with
its reason (the fleet admin shows it), and the link stays up."""

import asyncio
import json
import re
import secrets

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codexhub.asgi import application
from devices import handlers, services
from devices import link as host_link
from devices.models import Host, RefusedMessage
from tasks.models import TaskState
from tests.kits.host_messages import STREAMS, payloads
from tests.kits.sessions import ask, make_session, session_project
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = sorted(kind for _, kind in handlers.HANDLERS)
DEEP = "\x1edeep\x1e"  # stands for nesting too deep to build as a Python value

hostile_text = st.sampled_from(
    ["", "\x00", "a\x00b", "\ud800", "x\udfffy", "\u202e\u2066evil", "../../etc/passwd", "/etc/hosts",
     "C:\\Windows", "\\\\server\\share", "a/./b", "ü" * 70_000, "𝕏" * 300, " ", "\n", "0" * 65]
) | st.text(max_size=40)  # fmt: skip
hostile_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 2**31, 2**62, 2**63, 2**64, 1e308, -0.0, 0.5, float("inf"), float("nan")])
    | st.floats()
    | hostile_text
    | st.just(DEEP)
)
hostile_value = st.recursive(
    hostile_scalar,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3),
    max_leaves=8,
)


def paths(value, prefix=()):
    """Every place in a payload that holds a value: (keys and indexes to it)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*prefix, index)
            yield from paths(inner, (*prefix, index))


@st.composite
def hostile_message(draw, base: dict):
    """`base` with one to three of its places replaced, dropped or added to, or
    the whole payload replaced by something that is not an object."""
    payload = json.loads(json.dumps(base))
    if draw(st.integers(0, 19)) == 0:
        return draw(hostile_value)
    for _ in range(draw(st.integers(1, 3))):
        places = list(paths(payload))
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if not places or action == "add":
            payload[draw(hostile_text)] = draw(hostile_value)
            continue
        *parents, last = draw(st.sampled_from(places))
        container = payload
        for step in parents:
            container = container[step]
        if action == "drop" and isinstance(container, dict):
            del container[last]
        else:
            container[last] = draw(hostile_value)
    return payload


def frame(kind: str, seq: int, payload) -> str:
    text = json.dumps({"type": kind, "stream": STREAMS.get(kind, "tasks"), "seq": seq, "payload": payload})
    deep = "[" * 500 + "]" * 500  # deep, yet within what json.loads reads
    return text.replace(json.dumps(DEEP), deep)


@pytest.fixture(autouse=True)
def _fresh_budget():
    services.refusal_budget.clear()  # each refusal kept for the admin, not only the first ten a minute
    yield
    services.refusal_budget.clear()


@pytest.fixture
def fleet(team_a, alice):
    project = session_project(team_a)
    now = timezone.now()
    plain = make_task(project, alice, state=TaskState.ASSIGNED, received_at=now, assigned_at=now)
    session = make_session(project, alice)
    ask(session)
    token = _token_for(project.host)
    return project, plain, session, token


def _token_for(host: Host) -> str:
    """A fresh token for the kit's host (its own was not kept)."""
    token = services.TOKEN_PREFIX + secrets.token_urlsafe(32)
    Host.objects.filter(id=host.id).update(token_hash=services.secret_hash(token))
    return token


@database_sync_to_async
def refused_count(host_id: int) -> tuple[int, str]:
    host = Host.objects.get(id=host_id)
    return host.refused_count, host.last_refused_reason


async def send_all(token: str, frames: list[tuple[str, int, str]]) -> tuple[dict, list[dict]]:
    """Send the frames on one link; the welcome, and the replies up to the last ack."""
    communicator = WebsocketCommunicator(
        application, "/ws/host/", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    assert (await communicator.connect(timeout=5))[0]
    welcome = await communicator.receive_json_from(timeout=5)
    for _, _, text in frames:
        await communicator.send_to(text_data=text)
    # The last frame again: a duplicate, acked after every answer to the others.
    await communicator.send_to(text_data=frames[-1][2])
    replies = []
    while sum(reply["type"] == "ack" for reply in replies) < len(frames) + 1:
        replies.append(await communicator.receive_json_from(timeout=10))
    await communicator.send_json_to({"type": "heartbeat"})  # the link is still up
    assert await communicator.receive_json_from(timeout=5) == {"type": "heartbeat_ack"}
    await communicator.disconnect()
    return welcome, replies[:-1]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_hostile_message_is_consumed_and_the_link_stays_up(fleet, data):
    project, plain, session, token = fleet
    cache.clear()  # each example opens a link: keep under the connects-per-minute limit
    kinds = data.draw(st.lists(st.sampled_from(KINDS), min_size=8, max_size=8))
    positions = host_link.stream_positions(host_id=project.host_id)
    frames = []
    for kind in kinds:
        stream = STREAMS.get(kind, "tasks")
        positions[stream] = seq = positions.get(stream, 0) + 1
        task = session if kind.startswith(("task.item", "task.turn", "task.permission")) else plain
        payload = data.draw(hostile_message(payloads(kind, project, [task], 0)))
        frames.append((kind, seq, frame(kind, seq, payload)))
    before, _ = asyncio.run(refused_count(project.host_id))
    welcome, replies = asyncio.run(send_all(token, frames))

    acks = [(r["stream"], r["seq"]) for r in replies if r["type"] == "ack"]
    assert sorted(acks) == sorted((STREAMS.get(kind, "tasks"), seq) for kind, seq, _ in frames)
    errors = [r for r in replies if r["type"] == "error"]
    assert all(r.get("seq") and r["error"] and r["error"] != "gap" for r in errors), errors
    assert host_link.stream_positions(host_id=project.host_id) == positions  # every seq taken
    after, reason = asyncio.run(refused_count(project.host_id))
    assert after - before == len(errors)
    if errors:
        assert reason == services.printable(errors[-1]["error"])
        assert RefusedMessage.objects.filter(host_id=project.host_id).exists()


def test_the_reasons_name_what_is_wrong(fleet):
    """Three poison messages, and the reasons the admin reads for them."""
    project, plain, session, token = fleet
    positions = host_link.stream_positions(host_id=project.host_id)
    seq = positions.get("tasks", 0)
    hostile = [
        {"task_id": plain.id, "seq": True, "text": "x"},
        {"task_id": plain.id, "seq": 1, "text": ["not", "text"]},
        {"task_id": 2**70, "seq": 1, "text": "x"},
    ]
    frames = [("task.log", seq + n, frame("task.log", seq + n, p)) for n, p in enumerate(hostile, 1)]
    _, replies = asyncio.run(send_all(token, frames))
    errors = [r["error"] for r in replies if r["type"] == "error"]
    assert len(errors) == 3
    for field, error in zip(["seq", "text", "task_id"], errors, strict=True):
        assert re.match(field, error), error
    kept = RefusedMessage.objects.filter(host_id=project.host_id).order_by("id")
    assert list(kept.values_list("reason", flat=True)) == [services.printable(error) for error in errors]
