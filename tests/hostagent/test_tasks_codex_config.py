"""The `codex` executor's config: its keys, their defaults and the errors that name them, and how
the host lists it."""

import pytest

from hostagent.__main__ import main
from hostagent.config import ConfigError
from hostagent.tasks.executors import offered
from tests.kits.agent_tasks import load_config

FULL = """
[executors.work]
type = "codex"
label = "Codex at work"
command = ["/opt/codex/bin/codex", "app-server"]
env = ["HTTPS_PROXY"]
model = "gpt-5.5"
effort = "high"
approval_policy = "on-request"
sandbox = "read-only"
timeout = 600
idle_timeout = 1200
permission_timeout = 30
on_permission_timeout = "wait"

[executors.codex]
type = "codex"
"""


def test_it_reads_a_codex_executor_and_fills_in_the_defaults(tmp_path):
    executors = offered(load_config(tmp_path, FULL), which=lambda _: None)
    work, codex = executors["work"], executors["codex"]
    assert (work.kind, work.label, work.argv, work.env) == (
        "codex",
        "Codex at work",
        ("/opt/codex/bin/codex", "app-server"),
        ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME", "OPENAI_BASE_URL", "HTTPS_PROXY"),
    )
    assert (work.model, work.effort, work.approval_policy, work.sandbox) == (
        "gpt-5.5",
        "high",
        "on-request",
        "read-only",
    )
    assert (work.timeout, work.idle_timeout, work.permission_timeout, work.on_permission_timeout) == (
        600.0,
        1200.0,
        30.0,
        "wait",
    )
    assert (codex.kind, codex.label, codex.argv, codex.env, codex.needs_file) == (
        "codex",
        "codex",
        ("codex", "app-server"),
        ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME", "OPENAI_BASE_URL"),
        False,
    )
    assert (codex.model, codex.effort, codex.approval_policy, codex.sandbox) == (
        "",
        "",
        "untrusted",
        "workspace-write",
    )
    assert (codex.timeout, codex.idle_timeout, codex.permission_timeout, codex.on_permission_timeout) == (
        1800.0,
        900.0,
        600.0,
        "reject",
    )


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ('approval_policy = "sometimes"', "approval_policy must be one of untrusted, on-request, never"),
        ('sandbox = "none"', "sandbox must be one of read-only, workspace-write, danger-full-access"),
        ('effort = ""', 'effort must be a reasoning effort the model offers, like "medium"'),
        ('template = "codex"', "template is not a key of a codex executor"),
        ("terminal = false", "terminal is not a key of a codex executor"),
        ('command = ["./codex"]', "command[0] must be an absolute path or a program name found on PATH"),
        ('env = ["CODEXHUB_TOKEN"]', "env: CODEXHUB_* variables are never passed to a task"),
    ],
)
def test_it_names_what_is_wrong_with_a_codex_executor(tmp_path, keys, error):
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, f'[executors.codex]\ntype = "codex"\n{keys}\n')
    assert f"executors.codex.{error}" in str(raised.value)


def test_the_executors_listing_shows_what_a_thread_runs(tmp_path, capsys):
    load_config(tmp_path, FULL)
    assert main(["executors", "--config", str(tmp_path / "cfg" / "agent.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "codex  codex  codex  (threads with: codex app-server)" in lines
    assert "work  Codex at work  codex  (threads with: /opt/codex/bin/codex app-server)" in lines
