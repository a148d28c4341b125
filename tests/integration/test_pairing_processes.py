"""Pairing with a real agent and a real hub (SECURITY.md 14 and 16)."""

import re

import pytest

from accounts.models import Membership, Team
from devices import pairing as pairing_services
from devices import services
from devices.models import Host, HostState, PairingRequest, PairingState
from tests.kits.common import make_owner, totp_for
from tests.kits.processes import Agent, Hub, hub_env, wait_until


@pytest.fixture
def hub(transactional_db, logs):
    hub = Hub(hub_env(PAIRING_INTERVAL="1"), logs)
    yield hub
    hub.stop()


@pytest.fixture
def owner(transactional_db):
    return make_owner("olga@example.com", "Olga's")[0]


def approve_when_asked(agent: Agent, owner) -> None:
    code = wait_until(lambda: re.search(r"^Code: (\S+)$", agent.output(), re.M), timeout=15, what="the code")
    pairing = pairing_services.pairing_lookup(user_code=code.group(1))
    actor = Membership.objects.get(user=owner)
    pairing_services.pairing_approve(
        pairing=pairing, actor=actor, otp_code=totp_for(owner).now(), ip="127.0.0.1"
    )


def test_an_agent_that_does_not_trust_the_hub_leaves_a_dead_token(hub, owner, tmp_path, logs):
    """SECURITY.md 14: N at `Trust this hub?` -> rejected_by_host, nothing stored."""
    config = tmp_path / "n" / "agent.toml"
    agent = Agent(config, "pair", "--hub", hub.url, "--name", "suspicious", log_dir=logs, stdin=b"n\n")
    approve_when_asked(agent, owner)
    assert agent.exit_code(timeout=20) == 1
    output = agent.output()
    assert "Approved by olga@example.com" in output
    assert "Trust this hub and account? [y/N]" in output
    assert Host.objects.get().state == HostState.REJECTED
    assert PairingRequest.objects.get().state == PairingState.REJECTED_BY_HOST
    assert not config.exists() or "token" not in config.read_text()
    agent.stop()


def test_hub_supplied_text_reaches_the_terminal_without_control_characters(hub, owner, tmp_path, logs):
    """SECURITY.md 16: a team name with ESC[2J and C1 controls."""
    Team.objects.update(name="Olga\x1b[2J\x9b31m's \u202eteam")
    config = tmp_path / "y" / "agent.toml"
    agent = Agent(config, "pair", "--hub", hub.url, "--name", "trusting", "--yes", log_dir=logs)
    approve_when_asked(agent, owner)
    assert agent.exit_code(timeout=20) == 0
    agent.stop()
    raw = agent.log_path.read_bytes()
    assert b"\x1b" not in raw and "\x9b".encode() not in raw and "\u202e".encode() not in raw
    assert 'for team "Olga[2J31m\'s team"' in agent.output()
    assert Host.objects.get().state == HostState.ACTIVE
    assert config.stat().st_mode & 0o777 == 0o600
    assert config.parent.stat().st_mode & 0o777 == 0o700
    token = re.search(r'token = "([^"]+)"', config.read_text()).group(1)
    assert token not in agent.output()
    assert services.host_for_token(token=token).name == "trusting"
