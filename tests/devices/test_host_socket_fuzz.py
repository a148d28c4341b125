"""SECURITY.md case 43: 1,000 hostile frames on a live /ws/host/ link. Each
gets an error or an ack, never a traceback, and the link stays healthy."""

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Team
from codexhub.asgi import application
from tests.kits.common import make_host

pytestmark = pytest.mark.django_db(transaction=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
protocol_shaped = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["hello", "heartbeat", "ack", "nope", ""]) | st.text(max_size=70),
        "stream": st.sampled_from(["host", "mirror", ""]) | st.text(max_size=40) | st.integers(),
        "seq": st.integers(min_value=-(2**70), max_value=2**70)
        | st.text(max_size=5)
        | st.booleans()
        | st.none(),
        "payload": json_values,
    },
)
frames = st.one_of(
    st.text(min_size=1, max_size=200),  # the test client cannot send an empty frame
    json_values.map(json.dumps),
    protocol_shaped.map(json.dumps),
    st.integers(min_value=1, max_value=50_000).map(lambda depth: "[" * depth + "]" * depth),
)


@pytest.fixture
def token(transactional_db):
    return make_host(Team.objects.create(name="Fuzz"))[1]


# Far past any seq the frames could have taken: refused as a gap, after every
# sequenced message before it was answered (replies to those come in order).
SENTINEL_SEQ = 2**61 + 12345
SENTINEL = {"type": "sentinel", "stream": "host", "seq": SENTINEL_SEQ, "payload": {}}


async def run_frames(token: str, batch: list[str]) -> None:
    headers = [(b"authorization", f"Bearer {token}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/host/", headers=headers)
    assert (await communicator.connect(timeout=5))[0]
    assert (await communicator.receive_json_from(timeout=5))["type"] == "welcome"
    for frame in batch:
        await communicator.send_to(text_data=frame)
    await communicator.send_json_to(SENTINEL)
    while True:
        reply = await communicator.receive_json_from(timeout=5)
        assert reply["type"] in ("error", "ack", "heartbeat_ack"), reply
        if reply.get("seq") == SENTINEL_SEQ:
            assert reply["error"] == "gap"
            break
    await communicator.send_json_to({"type": "heartbeat"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "heartbeat_ack"}
    await communicator.disconnect()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=50, max_size=50))
def test_a_thousand_hostile_frames_leave_the_link_healthy(token, batch):
    cache.clear()  # each example opens a link: keep under the connects-per-minute limit
    asyncio.run(run_frames(token, batch))
