"""Versions: what hello says of the agent and its CLIs, shown on the host's pages and in the
fleet admin; hosts whose agent is older than the hub's marked with the line to update it."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from devices import services, versions
from devices.models import Host, RefusedMessage
from devices.versions import HUB_AGENT_VERSION, is_older
from protocol.version import PROTOCOL_VERSION
from tests.kits.common import make_host, page_text, visible_text

pytestmark = pytest.mark.django_db

HELLO = {
    "agent_version": HUB_AGENT_VERSION,
    "protocol_version": PROTOCOL_VERSION,
    "clis": [
        {"name": "codex", "version": "codex-cli 0.171.0"},
        {"name": "claude", "version": "2.0.14 (Claude Code)"},
    ],
    "platform": "linux-x86_64",
    "capabilities": [],
    "executors": [],
}
UPDATE = versions.update_command("http://testserver")


@pytest.fixture
def host(team_a):
    return make_host(team_a, "Build box")[0]


def hello(host, payload, seq=1):
    return services.host_message_apply(host_id=host.id, stream="host", seq=seq, kind="hello", payload=payload)


def older_than_the_hub() -> str:
    major, minor, patch = (int(part) for part in HUB_AGENT_VERSION.split(".")[:3])
    return f"{major}.{minor}.{patch - 1}" if patch else f"{major}.{minor - 1}.99" if minor else "0.0.0"


def test_the_update_line_installs_the_served_agent_over_the_old_one():
    assert UPDATE.startswith("pipx install --force http://testserver/")
    assert HUB_AGENT_VERSION in UPDATE


@pytest.mark.parametrize(
    "older, newer",
    [
        ("0.1.0", "0.2.0"),
        ("0.9.0", "0.10.0"),  # not compared as text
        ("1.0.0rc1", "1.0.0"),
        ("1.0.0.dev3", "1.0.0"),
        ("1.2", "1.2.1"),
    ],
)
def test_versions_are_compared_as_versions(older, newer):
    assert is_older(older, newer) and not is_older(newer, older)


@pytest.mark.parametrize("version", ["", "garbage", "1.0.0-local+weird/slash", "v"])
def test_a_version_that_does_not_parse_is_never_called_older(version):
    assert not is_older(version, "99.0.0")


def test_hello_keeps_the_agent_protocol_and_cli_versions(host, alice_client):
    assert hello(host, HELLO).outcome == services.APPLIED
    host.refresh_from_db()
    assert (host.agent_version, host.protocol_version) == (HUB_AGENT_VERSION, PROTOCOL_VERSION)
    assert host.agent_clis == HELLO["clis"]
    body = visible_text(alice_client.get(reverse("host_detail", args=[host.id])))
    assert f"Agent {HUB_AGENT_VERSION} protocol {PROTOCOL_VERSION}" in body
    assert "codex codex-cli 0.171.0" in body and "claude 2.0.14 (Claude Code)" in body
    assert "Update the agent" not in body  # it runs the hub's own


def test_a_hello_from_before_versions_reads_as_the_current_protocol_without_clis(host):
    old = {key: value for key, value in HELLO.items() if key not in ("protocol_version", "clis")}
    assert hello(host, old).outcome == services.APPLIED
    host.refresh_from_db()
    assert (host.protocol_version, host.agent_clis) == (PROTOCOL_VERSION, [])


def test_a_host_without_clis_says_so(host, alice_client):
    hello(host, {**HELLO, "clis": []})
    body = visible_text(alice_client.get(reverse("host_detail", args=[host.id])))
    assert "Agent CLIs none found on its PATH" in body


def test_an_older_agent_is_marked_with_the_line_that_updates_it(host, team_a, alice_client):
    current, _ = make_host(team_a, "Current box")
    hello(host, {**HELLO, "agent_version": older_than_the_hub()})
    hello(current, HELLO)
    response = alice_client.get(reverse("host_detail", args=[host.id]))
    page, body = response.content.decode(), visible_text(response)
    assert f"Build box runs agent {older_than_the_hub()}; this hub serves {HUB_AGENT_VERSION}" in body
    assert f'<pre class="command" id="update-command">{UPDATE}</pre>' in page
    assert 'data-copy="#update-command"' in page
    assert f"Or with uv: {versions.uv_update_command('http://testserver')}" in body
    response = alice_client.get(reverse("host_list"))
    listing, words = response.content.decode(), visible_text(response)
    assert words.count("Update the agent") == 2  # the card, and the outdated host's row
    assert f"Build box runs an older agent than the one this hub serves ({HUB_AGENT_VERSION})" in words
    assert listing.count("data-agent-outdated") == 1
    assert UPDATE in listing
    assert "Update the agent" not in page_text(alice_client.get(reverse("host_detail", args=[current.id])))


def test_the_hosts_page_shows_no_update_when_every_agent_is_current(host, alice_client):
    hello(host, HELLO)
    assert "Update the agent" not in page_text(alice_client.get(reverse("host_list")))


def test_the_fleet_admin_shows_and_filters_by_versions(host, team_a, staff_client):
    current, _ = make_host(team_a, "Current box")
    hello(host, {**HELLO, "agent_version": older_than_the_hub()})
    hello(current, HELLO)
    url = reverse("admin:devices_host_changelist")
    page = staff_client.get(url).content.decode()
    assert "column-agent_version" in page and "column-protocol_version" in page
    assert f'<td class="field-protocol_version">{PROTOCOL_VERSION}</td>' in page
    outdated = visible_text(staff_client.get(url, {"agent": "outdated"}))
    assert "Build box" in outdated and "Current box" not in outdated
    current_only = visible_text(staff_client.get(url, {"agent": "current"}))
    assert "Current box" in current_only and "Build box" not in current_only
    by_protocol = visible_text(staff_client.get(url, {"protocol_version": str(PROTOCOL_VERSION)}))
    assert "Build box" in by_protocol and "Current box" in by_protocol
    detail = visible_text(staff_client.get(reverse("admin:devices_host_change", args=[host.id])))
    assert "codex-cli 0.171.0" in detail


@pytest.mark.parametrize(
    "change, why",
    [
        ({"agent_version": "1" * 10_000}, "agent_version: agent_version is 0-32 characters"),
        ({"agent_version": "0.1\x1b[2J"}, "agent_version: agent_version must not contain control characters"),
        ({"protocol_version": "1"}, "protocol_version: must be an integer"),
        ({"protocol_version": 1.0}, "protocol_version: must be an integer"),
        ({"protocol_version": True}, "protocol_version: must be an integer"),
        ({"protocol_version": None}, "protocol_version: must be an integer"),
        (
            {"protocol_version": 0},
            f"protocol_version: this hub takes agent protocol {PROTOCOL_VERSION}, not 0",
        ),
        ({"protocol_version": 10**30}, "protocol_version: this hub takes agent protocol"),
        (
            {"clis": [{"name": "codex", "version": "v" * 65}]},
            "clis.0.version: a CLI version is 1-64 characters",
        ),
        (
            {"clis": [{"name": "codex", "version": "1.0\u202e"}]},
            "clis.0.version: a CLI version must not contain control characters",
        ),
        ({"clis": [{"name": "codex", "version": ""}]}, "clis.0.version: a CLI version is 1-64 characters"),
        ({"clis": [{"name": "Codex!", "version": "1"}]}, "clis.0.name: a CLI name is 1-32 of a-z"),
        ({"clis": [{"name": f"c{n}", "version": "1"} for n in range(9)]}, "clis: must have at most 8 items"),
        ({"clis": [{"name": "codex", "version": "1"}] * 2}, "clis: each CLI is named once"),
        ({"clis": "codex 1.0"}, "clis: must be a list"),
    ],
)
def test_hostile_versions_refuse_the_whole_hello_clearly(host, change, why):
    hello(host, HELLO)
    result = hello(host, {**HELLO, "platform": "changed", **change}, seq=2)
    assert result.outcome == services.REJECTED
    assert result.error.startswith(why), result.error
    host.refresh_from_db()
    assert (host.platform, host.agent_version, host.agent_clis) == (
        "linux-x86_64",
        HUB_AGENT_VERSION,
        HELLO["clis"],
    )


def test_a_refused_protocol_is_audited_and_kept_with_the_refused_messages(host):
    services.host_protocol_refused(host=host, offered=0, reason="agent protocol 0 refused", ip="203.0.113.9")
    event = AuditEvent.objects.get(action="host.protocol_refused")
    assert (event.target, event.ip, event.detail) == (
        f"host {host.id} Build box",
        "203.0.113.9",
        {"offered": 0},
    )
    assert RefusedMessage.objects.get(host=host).reason == "agent protocol 0 refused"
    assert Host.objects.get(id=host.id).refused_count == 1


def test_the_refusal_says_what_to_run():
    message, reason = versions.protocol_refusal(0, "https://hub.example.com")
    assert message == (
        f"this hub needs agent protocol {PROTOCOL_VERSION} and this agent speaks protocol 0: "
        f"update the agent: {versions.update_command('https://hub.example.com')}"
    )
    assert len(reason.encode()) <= 123  # what a close frame can carry
    newer, _ = versions.protocol_refusal(PROTOCOL_VERSION + 1, "https://hub.example.com")
    assert "this agent is newer than the hub: update the hub, or install the agent it serves: pipx" in newer
    unreadable, reason = versions.protocol_refusal(None, "https://hub.example.com")
    assert "this agent speaks an unreadable protocol version" in unreadable and "protocol ? refused" in reason


# GET /api/host/status/ ------------------------------------------------------------------------------


def status(client, token: str | None, ip: str = "198.51.100.10", method: str = "get"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return getattr(client, method)("/api/host/status/", REMOTE_ADDR=ip, **headers)


def test_the_status_api_says_what_the_hub_knows_of_the_host(client, team_a):
    host, token = make_host(team_a, "Build box")
    response = status(client, token)
    assert response.status_code == 200
    assert response.json() == {
        "host_id": host.id,
        "host": "Build box",
        "team": "Team A",
        "hub_version": HUB_AGENT_VERSION,
        "protocol": PROTOCOL_VERSION,
        "min_protocol": PROTOCOL_VERSION,
        "update": UPDATE,
    }


@pytest.mark.parametrize("token", [None, "", "chub_" + "A" * 43, "x" * 5000])
def test_the_status_api_refuses_an_unknown_token(client, team_a, token):
    response = status(client, token)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "This host's token is unknown or revoked on the hub: pair the host again.",
    }


def test_the_status_api_says_revoked_once_the_host_is_revoked(client, team_a):
    host, token = make_host(team_a, "Build box")
    services.host_revoke(host=host, actor=None)
    assert status(client, token).status_code == 401


def test_the_status_api_takes_only_get(client, team_a):
    _, token = make_host(team_a, "Build box")
    assert status(client, token, method="post").status_code == 405


def test_the_status_api_is_rate_limited_per_address(client, team_a):
    _, token = make_host(team_a, "Build box")
    statuses = [status(client, token).status_code for _ in range(61)]
    assert statuses[:60] == [200] * 60 and statuses[60] == 429
    assert status(client, token, ip="198.51.100.11").status_code == 200
