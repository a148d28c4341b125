"""Versions on a phone (390x844): the Hosts page marks a host whose agent is older than the hub's
with 'Update the agent' and the line to copy; the host's page shows its agent, protocol and CLI
versions. Long versions wrap; nothing scrolls sideways."""

import pytest
from playwright.sync_api import expect

from devices import services, versions
from protocol.version import PROTOCOL_VERSION
from tests.kits.common import make_host, make_owner
from tests.kits.phone import PHONE, off_the_loop, shot, sign_in

pytestmark = pytest.mark.e2e


def hello(host, agent_version: str, clis: list[dict]) -> None:
    payload = {"agent_version": agent_version, "protocol_version": PROTOCOL_VERSION, "clis": clis,
               "platform": "linux-x86_64", "capabilities": [], "executors": []}  # fmt: skip
    result = off_the_loop(lambda: services.host_message_apply(
        host_id=host.id, stream="host", seq=1, kind="hello", payload=payload
    ))  # fmt: skip
    assert result.outcome == services.APPLIED


def test_an_outdated_host_is_marked_with_the_line_to_copy(browser, hub, artifacts):
    user, team = make_owner("mia@example.com", "Mia's")
    old, _ = make_host(team, "Old laptop")
    current, _ = make_host(team, "Build server")
    clis = [
        {"name": "codex", "version": "codex-cli 0.171.0"},
        {"name": "claude", "version": "2.0.14 (Claude Code)"},
        {"name": "gemini", "version": "g" * 64},  # as long as the hub keeps, without a space
    ]
    hello(old, "0.0.1", clis)
    hello(current, versions.HUB_AGENT_VERSION, clis[:1])
    context = browser.new_context(**PHONE)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_in(page, hub.url, user)

    card = page.locator("#agent-update")
    update = versions.update_command(hub.url)
    expect(card).to_contain_text("Old laptop runs an older agent than the one this hub serves")
    expect(card.locator("#update-command")).to_have_text(update)
    expect(card.locator("#uv-update-command")).to_have_text(versions.uv_update_command(hub.url))
    expect(page.locator(f'[data-host-id="{old.id}"] [data-agent-outdated]')).to_have_text("Update the agent")
    expect(page.locator(f'[data-host-id="{current.id}"] [data-agent-outdated]')).to_have_count(0)
    shot(page, artifacts, "hosts-update-the-agent")
    card.screenshot(path=str(artifacts / "hosts-update-card.png"))
    card.locator('[data-copy="#update-command"]').click()
    expect(card.locator('[data-copy="#update-command"]')).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == update

    page.locator(f'a[data-host-id="{old.id}"]').click()
    expect(page.locator("#agent-version")).to_contain_text(f"0.0.1 protocol {PROTOCOL_VERSION}")
    expect(page.locator("#agent-clis")).to_contain_text("codex codex-cli 0.171.0")
    expect(page.locator("#agent-clis")).to_contain_text("claude 2.0.14 (Claude Code)")
    expect(page.locator("#agent-update #update-command")).to_have_text(update)
    shot(page, artifacts, "host-update-the-agent")
    page.locator(".facts").screenshot(path=str(artifacts / "host-facts.png"))
    page.locator("#agent-update").screenshot(path=str(artifacts / "host-update-card.png"))

    page.goto(f"{hub.url}/hosts/{current.id}/")
    expect(page.locator("#agent-version")).to_have_text(
        f"{versions.HUB_AGENT_VERSION} protocol {PROTOCOL_VERSION}"
    )
    expect(page.locator("#agent-update")).to_have_count(0)
    shot(page, artifacts, "host-current-agent")
    context.close()
