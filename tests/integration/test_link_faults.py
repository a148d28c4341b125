"""The host link with real processes on loopback: daphne, hostagent, and a
Redis of our own where the test needs one (SECURITY.md 38, 39, 42, 46, 86, 94)."""

import asyncio
import signal
import time

import pytest
import websockets
from django.conf import settings
from django.test import override_settings

from accounts.models import Team
from devices import services
from devices.models import Host, HostState, HostStream
from tests.kits.common import make_host
from tests.kits.processes import Agent, Hub, hub_env, wait_until, write_agent_config

FAST_LINK = {"HOST_HEARTBEAT_INTERVAL": "0.5", "HOST_HEARTBEAT_TIMEOUT": "2"}


@pytest.fixture
def team(transactional_db):
    return Team.objects.create(name="Fleet")


def start_agents(hub: Hub, team, count: int, tmp_path, logs) -> list[tuple[Host, Agent]]:
    agents = []
    for n in range(count):
        host, token = make_host(team, f"host-{n:02d}")
        config = write_agent_config(
            tmp_path / f"agent-{n:02d}" / "agent.toml",
            hub=hub.url,
            host_id=host.id,
            name=host.name,
            token=token,
        )
        agents.append((host, Agent(config, "run", log_dir=logs)))
    return agents


def online_count(hosts) -> int:
    return sum(Host.objects.get(id=host.id).online for host in hosts)


def stop_all(agents):
    for _, agent in agents:
        agent.stop()


def test_twenty_agents_reconnect_by_themselves_after_a_hub_restart(team, tmp_path, logs):
    """SECURITY.md 86 (20 agents) and 94: daphne stopped and started again."""
    hub = Hub(hub_env(**FAST_LINK), logs)
    agents = start_agents(hub, team, 20, tmp_path, logs)
    hosts = [host for host, _ in agents]
    try:
        wait_until(lambda: online_count(hosts) == 20, timeout=30, what="20 agents online")
        hub.stop()
        restart = time.monotonic()
        hub = Hub(hub.env, logs, port=hub.port)
        # Presence is fresh only once each agent has reconnected to the new hub.
        Host.objects.filter(id__in=[h.id for h in hosts]).update(last_seen_at=None)
        wait_until(lambda: online_count(hosts) == 20, timeout=15, what="20 agents back online")
        elapsed = time.monotonic() - restart
        assert elapsed < 15
        assert all(agent.popen.poll() is None for _, agent in agents)
    finally:
        stop_all(agents)
        hub.stop()


def test_a_stopped_agent_goes_offline_and_comes_back(team, tmp_path, logs):
    """SECURITY.md 46: SIGSTOP -> offline after the heartbeat timeout; SIGCONT -> online."""
    hub = Hub(hub_env(**FAST_LINK), logs)
    [(host, agent)] = start_agents(hub, team, 1, tmp_path, logs)
    try:
        wait_until(lambda: Host.objects.get(id=host.id).online, timeout=15, what="online")
        agent.popen.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        wait_until(lambda: not Host.objects.get(id=host.id).online, timeout=5, what="offline")
        assert time.monotonic() - stopped < 2 + 1.5
        agent.popen.send_signal(signal.SIGCONT)
        wait_until(lambda: Host.objects.get(id=host.id).online, timeout=15, what="online again")
    finally:
        agent.popen.send_signal(signal.SIGCONT)
        agent.stop()
        hub.stop()


def test_a_frame_over_one_mebibyte_is_closed_1009_and_nothing_applied(team, logs):
    """SECURITY.md 42, against daphne's real frame limit. Autobahn fails such a
    connection by dropping TCP (failByDrop), so the client may read 1006, not
    the 1009 it meant; either way the link is gone and nothing was applied.
    The agent refuses to queue a message that large (tests/hostagent)."""
    hub = Hub(hub_env(**FAST_LINK), logs)
    host, token = make_host(team)

    async def send_big_frame():
        uri = hub.url.replace("http", "ws") + "/ws/host/"
        headers = {"Authorization": f"Bearer {token}"}
        async with websockets.connect(uri, additional_headers=headers, max_size=None) as ws:
            assert '"welcome"' in await asyncio.wait_for(ws.recv(), 5)
            payload = {"agent_version": "x" * (1024 * 1024 + 100)}
            await ws.send(f'{{"type": "hello", "stream": "host", "seq": 1, "payload": {payload!r}}}')
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            return ws.close_code

    try:
        assert asyncio.run(send_big_frame()) in (1006, 1009)
        assert not HostStream.objects.filter(host=host, last_seq__gt=0).exists()
        assert Host.objects.get(id=host.id).agent_version == ""
    finally:
        hub.stop()


def test_revoking_reaches_a_link_on_another_hub_process(team, tmp_path, logs, redis_url):
    """SECURITY.md 38: two daphnes share the Redis channel layer; the revocation
    is made here and the agent linked to the other process exits within 2 s."""
    env = hub_env(REDIS_URL=redis_url, **FAST_LINK)
    hubs = [Hub(env, logs), Hub(env, logs)]
    [(host, agent)] = start_agents(hubs[1], team, 1, tmp_path, logs)
    layers = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis_url]}}
    }
    try:
        wait_until(lambda: Host.objects.get(id=host.id).online, timeout=15, what="online")
        with override_settings(CHANNEL_LAYERS=layers):
            assert settings.CHANNEL_LAYERS == layers
            services.host_revoke(host=host, actor=None)
            revoked = time.monotonic()
            assert agent.exit_code(timeout=5) == 3
        assert time.monotonic() - revoked < 2
        assert "revoked" in agent.output()
    finally:
        agent.stop()
        for hub in hubs:
            hub.stop()


def test_a_revocation_without_its_message_still_closes_within_a_heartbeat(team, tmp_path, logs):
    """SECURITY.md 39: the channel-layer message is lost (here: never sent);
    the next heartbeat re-checks the database and closes the link."""
    hub = Hub(hub_env(**FAST_LINK), logs)
    [(host, agent)] = start_agents(hub, team, 1, tmp_path, logs)
    try:
        wait_until(lambda: Host.objects.get(id=host.id).online, timeout=15, what="online")
        Host.objects.filter(id=host.id).update(state=HostState.REVOKED)
        revoked = time.monotonic()
        assert agent.exit_code(timeout=5) == 3
        assert time.monotonic() - revoked < 0.5 + 1.5
    finally:
        agent.stop()
        hub.stop()
