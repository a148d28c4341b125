"""The host page says what each executor gets from the agent's environment, as its `hello` named
it: the variables that pass, and the ones it needs one of when none is set (names, never values)."""

import re

import pytest
from django.urls import reverse

from devices.models import Host
from devices.services import REJECTED
from tests.kits.common import SequencedStream, make_host, page_text

pytestmark = pytest.mark.django_db

CLAUDE = {"name": "claude", "label": "Claude Code", "kind": "command", "env": ["ANTHROPIC_API_KEY"]}
CODEX = {
    "name": "codex",
    "label": "Codex CLI",
    "kind": "command",
    "env": [],
    "env_missing": ["OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME"],
}
LOCAL = {"name": "local", "label": "Local model", "kind": "openai", "needs_file": True}


class HostStream(SequencedStream):
    name = "host"

    def hello(self, *executors: dict):
        return self.send(
            "hello", {"agent_version": "0.3.0", "capabilities": ["agent"], "executors": list(executors)}
        )


@pytest.fixture
def host(team_a):
    return make_host(team_a, "Build box")[0]


def host_page(client, host) -> str:
    """The page's words as a reader sees them: tags gone, spaces collapsed."""
    html = page_text(client.get(reverse("host_detail", args=[host.id])))
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_host_page_shows_what_passes_and_what_is_missing_per_executor(alice_client, host):
    HostStream(host.id).hello(CLAUDE, CODEX, LOCAL)
    body = host_page(alice_client, host)
    assert "Environment" in body
    assert "Claude Code Passes ANTHROPIC_API_KEY." in body
    assert (
        "Codex CLI Needs one of OPENAI_API_KEY, CODEX_API_KEY, CODEX_HOME, and none is set on the host. "
        "Set one in the environment that starts codexhub-agent run (or sign the tool in on the host), "
        "then restart the agent."
    ) in body
    assert "Local model" in body and "Local model Passes" not in body  # nothing to say of it


def test_an_agent_that_reports_no_environment_gets_no_such_card(alice_client, host):
    HostStream(host.id).hello({"name": "local", "kind": "openai"})  # an older agent
    assert "Environment" not in host_page(alice_client, host)


def test_a_hello_carrying_a_value_for_a_name_is_refused_and_changes_nothing(alice_client, host):
    stream = HostStream(host.id)
    stream.hello(CODEX)
    leaked = {**CLAUDE, "env": ["ANTHROPIC_API_KEY=sk-ant-secret"]}
    result = stream.hello(leaked)
    assert result.outcome == REJECTED and "a variable name is" in result.error
    assert [executor["name"] for executor in Host.objects.get(id=host.id).executors] == ["codex"]
    assert "sk-ant-secret" not in host_page(alice_client, host)
