"""The `acp` executor's config: its keys, their defaults and the errors that name them, and how
the host offers it."""

import pytest

from hostagent import config
from hostagent.__main__ import main
from hostagent.config import ConfigError, ExecutorConfig
from hostagent.tasks.executors import offered
from tests.kits.agent_tasks import NO_ENV, load_config

FULL = """
[executors.codex]
type = "acp"
label = "Codex (ACP)"
command = ["npx", "-y", "@zed-industries/codex-acp"]
env = ["OPENAI_API_KEY"]
timeout = 600
idle_timeout = 1200
permission_timeout = 30.5
on_permission_timeout = "wait"
terminal = false

[executors.gemini]
type = "acp"
command = ["/usr/local/bin/gemini", "--experimental-acp"]
"""


def test_it_reads_an_acp_executor_and_fills_in_the_defaults(tmp_path):
    cfg = load_config(tmp_path, FULL)
    assert cfg.executors["codex"] == ExecutorConfig(
        type="acp",
        label="Codex (ACP)",
        command=["npx", "-y", "@zed-industries/codex-acp"],
        env=["OPENAI_API_KEY"],
        timeout=600,
        idle_timeout=1200,
        permission_timeout=30.5,
        on_permission_timeout="wait",
        terminal=False,
    )
    executors = offered(cfg, which=lambda _: None)
    codex, gemini = executors["codex"], executors["gemini"]
    assert codex.describe() == {
        "name": "codex",
        "label": "Codex (ACP)",
        "kind": "acp",
        "needs_file": False,
        **NO_ENV,
    }
    assert (codex.argv, codex.env, codex.timeout) == (
        ("npx", "-y", "@zed-industries/codex-acp"),
        ("OPENAI_API_KEY",),
        600.0,
    )
    assert (codex.idle_timeout, codex.permission_timeout, codex.on_permission_timeout, codex.terminal) == (
        1200.0,
        30.5,
        "wait",
        False,
    )
    # The defaults: label = name, [tasks] timeout per turn, 15 min idle, 10 min per permission, terminals.
    assert (gemini.label, gemini.timeout, gemini.idle_timeout, gemini.permission_timeout) == (
        "gemini",
        1800.0,
        900.0,
        600.0,
    )
    assert (gemini.on_permission_timeout, gemini.terminal, gemini.env) == ("reject", True, ())


def test_it_keeps_acp_executors_when_a_command_saves_the_file(tmp_path):
    path = tmp_path / "cfg" / "agent.toml"
    written = load_config(tmp_path, FULL)
    (tmp_path / "work").mkdir()
    assert main(["project", "add", str(tmp_path / "work"), "--config", str(path)]) == 0
    assert config.load(path).executors == written.executors


def test_it_lists_acp_executors_with_their_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    load_config(tmp_path, FULL)
    assert main(["executors", "--config", str(tmp_path / "cfg" / "agent.toml")]) == 0
    assert capsys.readouterr().out == (
        "codex  Codex (ACP)  acp  (sessions with: npx -y @zed-industries/codex-acp)\n"
        "  environment: not set: OPENAI_API_KEY\n"
        "gemini  gemini  acp  (sessions with: /usr/local/bin/gemini --experimental-acp)\n"
    )


BASE = '[executors.a]\ntype = "acp"\ncommand = ["/bin/agent"]\n'
SECONDS = "must be a number of seconds between 1 and 86400"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[executors.a]\ntype = "acpx"',
            'executors.a.type must be "command" or "openai" or "browser" or "acp"',
        ),
        ('[executors.a]\ntype = "acp"', 'executors.a.command is required, like ["npx"'),
        ('[executors.a]\ntype = "acp"\ncommand = []', "executors.a.command must hold 1-256 strings"),
        (
            '[executors.a]\ntype = "acp"\ncommand = "/bin/agent"',
            "executors.a.command must be a list of strings",
        ),
        (
            '[executors.a]\ntype = "acp"\ncommand = ["./agent"]',
            "executors.a.command[0] must be an absolute path",
        ),
        (BASE + 'env = ["CODEXHUB_TOKEN"]', "executors.a.env: CODEXHUB_* variables"),
        (BASE + 'env = ["A-B"]', "executors.a.env: 'A-B' is not a variable name"),
        (BASE + "idle_timeout = 0", f"executors.a.idle_timeout {SECONDS}"),
        (BASE + "idle_timeout = 86401", f"executors.a.idle_timeout {SECONDS}"),
        (BASE + "idle_timeout = true", f"executors.a.idle_timeout {SECONDS}"),
        (BASE + 'permission_timeout = "10"', f"executors.a.permission_timeout {SECONDS}"),
        (
            BASE + 'on_permission_timeout = "allow"',
            'executors.a.on_permission_timeout must be "reject" or "wait"',
        ),
        (BASE + 'terminal = "yes"', "executors.a.terminal must be true or false"),
        (BASE + "timeout = 0", "executors.a.timeout must be a number of seconds"),
        (BASE + "needs_file = true", "executors.a.needs_file is not a key of an acp executor"),
        (BASE + 'template = "codex"', "executors.a.template is not a key of an acp executor"),
        (
            '[executors.a]\ncommand = ["/x"]\nterminal = true',
            "executors.a.terminal is not a key of a command",
        ),
    ],
)
def test_it_refuses_bad_acp_settings_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, text)
    assert message in str(info.value)
