"""The agent's hints name the command the person ran: `codexhub-agent` through the wheel's console
script, `python -m hostagent` from a checkout (tests/hostagent/test_cli.py runs that one)."""

import sys

import pytest

from hostagent import invocation
from hostagent.__main__ import main


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/home/ana/.local/bin/codexhub-agent", "run"])


@pytest.mark.parametrize(
    ("argv0", "command"),
    [
        ("/home/ana/.local/bin/codexhub-agent", "codexhub-agent"),
        ("codexhub-agent", "codexhub-agent"),
        ("/c/Users/ana/.local/bin/codexhub-agent.exe", "codexhub-agent"),
        ("/work/main/hostagent/__main__.py", "python -m hostagent"),
        ("/usr/bin/pytest", "python -m hostagent"),
        ("/opt/codexhub-agent-old", "python -m hostagent"),
        ("", "python -m hostagent"),
    ],
)
def test_it_tells_the_console_script_from_a_checkout(monkeypatch, argv0, command):
    monkeypatch.setattr(sys, "argv", [argv0])
    assert invocation.command() == command


def test_an_installed_agent_that_is_not_paired_says_to_run_codexhub_agent_pair(
    installed, config_path, capsys
):
    assert main(["run", "--config", str(config_path)]) == 2
    assert (
        capsys.readouterr().err == "hostagent: not paired. Run: codexhub-agent pair --hub URL --name NAME\n"
    )


def test_its_usage_names_codexhub_agent(installed, capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out.startswith("usage: codexhub-agent [-h] [--version] COMMAND ...")


def test_an_empty_project_list_says_codexhub_agent_project_add(installed, config_path, capsys):
    assert main(["project", "list", "--config", str(config_path)]) == 0
    assert capsys.readouterr().out == "No shared projects. Add one with: codexhub-agent project add PATH\n"
