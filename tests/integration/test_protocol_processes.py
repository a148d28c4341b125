"""An agent speaking an older protocol version against a real hub (daphne): refused with what to
run, exit 5, no reconnect, nothing applied; the current agent is welcomed and says its versions."""

import sys

import pytest

from accounts.models import AuditEvent, Team
from devices import versions
from devices.models import Host, HostStream
from protocol.version import PROTOCOL_VERSION
from tests.kits.common import make_host
from tests.kits.processes import Agent, Hub, Process, agent_env, hub_env, wait_until, write_agent_config


@pytest.fixture
def hub(transactional_db, logs):
    hub = Hub(hub_env(), logs)
    yield hub
    hub.stop()


@pytest.fixture
def paired(transactional_db, hub, tmp_path):
    host, token = make_host(Team.objects.create(name="Team A"), "Old box")
    config = write_agent_config(
        tmp_path / "old" / "agent.toml", hub=hub.url, host_id=host.id, name="Old box", token=token
    )
    return host, config


def test_an_agent_speaking_an_older_protocol_is_refused_and_exits_5(hub, paired, logs):
    host, config = paired
    old = Process(
        [sys.executable, "-m", "tests.kits.old_agent", "run", "--config", str(config)],
        agent_env(),
        logs / "old-agent.log",
    )
    assert old.popen.wait(20) == 5
    output = old.output()
    old.stop()
    update = versions.update_command(hub.url)
    assert (
        f"hostagent: the hub refused this agent: this hub needs agent protocol {PROTOCOL_VERSION} and "
        f"this agent speaks protocol {PROTOCOL_VERSION - 1}: update the agent: {update}\n"
    ) in output
    assert output.count("connecting to ws://") == 1  # no reconnect loop
    host.refresh_from_db()
    assert (host.last_seen_at, host.link_channel, host.agent_version) == (None, "", "")
    assert not HostStream.objects.exists()  # nothing it sent was applied
    assert AuditEvent.objects.filter(action="host.protocol_refused").count() == 1


def test_the_current_agent_is_welcomed_and_says_its_versions(hub, paired, logs):
    host, config = paired
    agent = Agent(config, "run", log_dir=logs)
    wait_until(lambda: Host.objects.get(id=host.id).protocol_version, timeout=20, what="hello applied")
    host.refresh_from_db()
    assert (host.agent_version, host.protocol_version) == (versions.HUB_AGENT_VERSION, PROTOCOL_VERSION)
    assert agent.popen.poll() is None  # no refusal
    agent.stop()
    assert not AuditEvent.objects.filter(action="host.protocol_refused").exists()
