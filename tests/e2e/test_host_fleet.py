"""Three real agents paired through the HTTP API and approved on the phone,
watched live on the Hosts page in Chromium: one killed, one revoked, then the
hub restarted under the last one."""

import re
import signal

import pytest
from playwright.sync_api import Page, expect

from devices.models import Host, HostState
from tests.e2e.conftest import PHONE
from tests.kits.common import fresh_totp_code, make_owner
from tests.kits.phone import shot, sign_in
from tests.kits.processes import Agent, Hub, Worker, hub_env, wait_until

pytestmark = pytest.mark.e2e

FAST_LINK = {
    "HOST_HEARTBEAT_INTERVAL": "0.5",
    "HOST_HEARTBEAT_TIMEOUT": "2",
    "PAIRING_INTERVAL": "1",
}


@pytest.fixture
def fleet_hub(transactional_db, artifacts):
    env = hub_env(**FAST_LINK)
    processes = []
    if env.get("REDIS_URL"):
        processes.append(Worker(env, artifacts))
    hub = Hub(env, artifacts)
    holder = {"hub": hub}
    yield holder
    holder["hub"].stop()
    for process in processes:
        process.stop()


@pytest.fixture
def owner(transactional_db):
    return make_owner("olga@example.com", "Olga's fleet")[0]


def pair_agent(page: Page, hub: Hub, owner, name: str, tmp_path, artifacts) -> Agent:
    config = tmp_path / name / "agent.toml"
    pairing = Agent(config, "pair", "--hub", hub.url, "--name", name, "--yes", log_dir=artifacts)
    code = wait_until(
        lambda: re.search(r"^Code: (\S+)$", pairing.output(), re.M), timeout=15, what=f"{name}'s code"
    ).group(1)
    page.goto(f"{hub.url}/pair/")
    page.get_by_label("Code shown on the host").fill(code.lower().replace("-", " "))
    shot(page, artifacts, f"pair-code-{name}")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#pairing-name")).to_have_text(name)
    page.get_by_label("Your two-factor code").fill(fresh_totp_code(owner))
    shot(page, artifacts, f"pair-approve-{name}")
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(re.compile(r"/hosts/$"))
    assert pairing.exit_code(timeout=20) == 0, pairing.output()
    pairing.stop()
    assert "Paired as host" in pairing.output()
    return Agent(config, "run", log_dir=artifacts)


def presence(page: Page, name: str):
    return page.locator("[data-host-id]", has_text=name).locator("[data-presence]")


def test_three_agents_online_killed_revoked_and_riding_out_a_hub_restart(
    fleet_hub, owner, browser, artifacts, tmp_path
):
    hub = fleet_hub["hub"]
    page = browser.new_context(**PHONE).new_page()
    sign_in(page, hub.url, owner)
    agents = {}
    try:
        for name in ("alpha", "bravo", "charlie"):
            agents[name] = pair_agent(page, hub, owner, name, tmp_path, artifacts)

        page.goto(f"{hub.url}/hosts/")
        for name in agents:
            expect(presence(page, name)).to_have_text("Online", timeout=15_000)
        assert Host.objects.filter(state=HostState.ACTIVE).count() == 3
        shot(page, artifacts, "01-three-online")

        # Killed: the page says offline within two seconds, without a reload.
        agents["alpha"].popen.send_signal(signal.SIGKILL)
        expect(presence(page, "alpha")).to_have_text("Offline", timeout=2_000)
        shot(page, artifacts, "02-one-killed")

        # Revoked from the phone: the agent exits non-zero, saying so, within two seconds.
        page.locator("[data-host-id]", has_text="bravo").click()
        page.get_by_label("Your two-factor code").fill(fresh_totp_code(owner))
        shot(page, artifacts, "03-host-page")
        page.get_by_role("button", name="Revoke bravo").click()
        expect(page.get_by_text("“bravo” was revoked.")).to_be_visible()
        assert agents["bravo"].exit_code(timeout=2) == 3
        assert "revoked" in agents["bravo"].output()
        shot(page, artifacts, "04-one-revoked")

        # The hub restarts; charlie reconnects by itself and the page follows.
        fleet_hub["hub"] = hub.restarted()
        expect(presence(page, "charlie")).to_have_text("Online", timeout=15_000)
        wait_until(lambda: Host.objects.get(name="charlie").online, timeout=15, what="charlie online")
        assert agents["charlie"].popen.poll() is None
        shot(page, artifacts, "05-after-hub-restart")
    finally:
        for agent in agents.values():
            agent.stop()
