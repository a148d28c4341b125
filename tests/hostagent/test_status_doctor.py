"""`status` asks the hub, and `doctor` checks what keeps the agent from working, one line each:
against a live hub, an unreachable one, one whose TLS certificate this machine does not trust."""

import socket
import ssl
from pathlib import Path

import pytest

from accounts.models import Team
from devices import services, versions
from hostagent import config
from hostagent.__main__ import main
from hostagent.outbox import Outbox
from hostagent.tasks.environment import BWRAP_NONE
from protocol.version import PROTOCOL_VERSION
from tests.kits.common import make_host
from tests.kits.fakehub import FakePairingApi, write_paired_config
from tests.kits.loopback import self_signed_certificate

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def live_host(transactional_db, live_server, config_path):
    """A host of the live hub, paired in the config at config_path."""
    host, token = make_host(Team.objects.create(name="Team A"), "Build box")
    config.save(
        config_path, config.Config(hub=live_server.url, host_id=host.id, name="Build box", token=token)
    )
    return host


@pytest.fixture
def bin_path(tmp_path, monkeypatch):
    """A PATH of its own (nothing of this machine's), and a HOME without sign-in files."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return folder


def program(folder: Path, name: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\necho 1.0\n")
    path.chmod(0o755)


def executors(config_path: Path, text: str) -> None:
    """Add `text` (TOML) to the config, with no built-in executors."""
    with config_path.open("a") as file:
        file.write("\n[tasks]\nbuiltins = false\n" + text)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the block ends: nothing listens there


def run(capsys, *args: str, config_path: Path) -> tuple[int, list[str]]:
    code = main([*args, "--config", str(config_path)])
    return code, capsys.readouterr().out.splitlines()


# status ----------------------------------------------------------------------------------------


def test_status_says_paired_only_when_the_hub_agrees(live_host, live_server, config_path, capsys):
    code, lines = run(capsys, "status", config_path=config_path)
    assert code == 0
    assert f'Paired: yes (host "Build box" of team "Team A" on {live_server.url})' in lines
    assert lines[-1] == "Unsent messages: 0"


def test_status_says_revoked_when_the_hub_revoked_the_host(live_host, live_server, config_path, capsys):
    services.host_revoke(host=live_host, actor=None)
    with Outbox(config.outbox_path(config_path)) as box:
        box.append("host", "hello", {})
    code, lines = run(capsys, "status", config_path=config_path)
    assert code == 3
    assert (
        "Revoked on the hub: pair again with: "
        f'python -m hostagent pair --hub {live_server.url} --name "Build box"' in lines
    )
    assert not any(line.startswith("Paired: yes") for line in lines)
    assert lines[-1] == "Unsent messages: 1"


def test_status_says_unreachable_and_paired_locally_when_the_hub_is_down(config_path, capsys):
    port = closed_port()
    write_paired_config(config_path, f"http://127.0.0.1:{port}")
    code, lines = run(capsys, "status", config_path=config_path)
    assert code == 1
    assert lines[4].startswith(f"Hub unreachable: cannot reach the hub at http://127.0.0.1:{port}: ")
    assert lines[4].endswith("Connection refused; paired locally")
    assert lines[-1] == "Unsent messages: 0"


def test_status_tells_a_newer_agent_is_served(config_path, capsys):
    with FakePairingApi() as fake:
        fake.answers["/api/host/status/"] = (
            200,
            {"host": "box", "team": "Team A", "hub_version": "99.0.0", "update": "pipx install --force URL"},
        )
        write_paired_config(config_path, fake.url)
        code, lines = run(capsys, "status", config_path=config_path)
    assert code == 0
    assert f"Agent: {versions.HUB_AGENT_VERSION}; the hub serves 99.0.0: pipx install --force URL" in lines


# doctor ----------------------------------------------------------------------------------------


def test_doctor_all_ok(live_host, live_server, config_path, bin_path, monkeypatch, capsys):
    for name in ("notes", "codex", "bwrap"):
        program(bin_path, name)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    executors(
        config_path,
        '[executors.notes]\ncommand = ["notes", "{prompt}"]\n'
        '[executors.threads]\ntype = "codex"\n'
        f'[executors.web]\ntype = "browser"\nexecutable_path = "{CHROMIUM}"\n'
        'allowed_sites = ["example.com"]\n',
    )
    code, lines = run(capsys, "doctor", config_path=config_path)
    assert lines == [
        f"ok   config: {config_path} reads well",
        f'ok   paired: host {live_host.id} "Build box" with {live_server.url}',
        f"ok   hub: {live_server.url} answers (loopback)",
        'ok   token: accepted: host "Build box" of team "Team A"',
        f"ok   protocol: {PROTOCOL_VERSION}, which the hub takes",
        f"ok   executor notes: runs {bin_path}/notes",
        "ok   executor notes variables: needs none",
        f"ok   executor threads: runs {bin_path}/codex",
        "ok   executor threads variables: passes OPENAI_API_KEY; "
        "not set: CODEX_API_KEY, CODEX_HOME, OPENAI_BASE_URL",
        f"ok   executor threads sandbox: bubblewrap at {bin_path}/bwrap",
        f"ok   executor web: Chromium at {CHROMIUM}",
        "ok   executor web variables: needs none",
    ]
    assert code == 0


def test_doctor_names_a_missing_program_and_a_missing_variable(live_host, config_path, bin_path, capsys):
    executors(
        config_path,
        '[executors.gone]\ncommand = ["no-such-agent", "{prompt}"]\n'
        '[executors.claude]\ntemplate = "claude"\n'
        '[executors.local]\ntype = "openai"\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\n'
        'api_key_env = "MY_KEY"\n'
        '[executors.pilot]\ntype = "computer"\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "cua"\n'
        'api_key_env = "PILOT_KEY"\n',
    )
    program(bin_path, "claude")
    code, lines = run(capsys, "doctor", config_path=config_path)
    assert code == 1
    assert (
        "FIX  executor gone: no-such-agent is not on PATH: install it, or set its command in agent.toml "
        "(the agent's PATH is the one of the shell or service that starts it)"
    ) in lines
    claude = next(line for line in lines if line.startswith("FIX  executor claude variables: "))
    assert (
        "needs one of ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, CLAUDE_CODE_OAUTH_TOKEN or CLAUDE_CONFIG_DIR"
        in claude
    )
    assert (
        "FIX  executor local variables: MY_KEY (its api_key_env) is not set: set it in the environment that "
        "starts the agent"
    ) in lines
    assert (
        "FIX  executor pilot variables: PILOT_KEY (its api_key_env) is not set: set it in the environment "
        "that starts the agent"
    ) in lines
    assert "ok   executor gone variables: needs none" in lines  # one line per check, in order
    assert lines.index("ok   executor gone variables: needs none") > lines.index(
        next(line for line in lines if line.startswith("FIX  executor gone:"))
    )


def test_doctor_says_the_hub_is_unreachable(config_path, bin_path, capsys):
    port = closed_port()
    write_paired_config(config_path, f"http://127.0.0.1:{port}")
    executors(config_path, "")
    code, lines = run(capsys, "doctor", config_path=config_path)
    assert code == 1
    assert lines[2] == (
        f"FIX  hub: cannot reach 127.0.0.1:{port} (Connection refused): "
        "check the hub's address, the network, and that the hub runs"
    )
    assert not any(line.startswith(("ok   token", "FIX  token")) for line in lines)  # not asked


def test_doctor_refuses_a_hub_certificate_this_machine_does_not_trust(
    config_path, bin_path, tmp_path, capsys
):
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with FakePairingApi(tls=context) as fake:
        write_paired_config(config_path, fake.url)
        executors(config_path, "")
        code, lines = run(capsys, "doctor", config_path=config_path)
        assert fake.received == []  # the token never went to it
    assert code == 1
    assert lines[2].startswith(
        f"FIX  hub: the TLS certificate of 127.0.0.1:{fake.port} is not trusted (self-signed certificate): "
        "give the hub a certificate from a public authority"
    )


def test_doctor_takes_a_certificate_the_machine_trusts(config_path, bin_path, tmp_path, monkeypatch, capsys):
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    with FakePairingApi(tls=context) as fake:
        write_paired_config(config_path, fake.url)
        executors(config_path, "")
        code, lines = run(capsys, "doctor", config_path=config_path)
    assert lines[2:5] == [
        f"ok   hub: {fake.url} answers, its TLS certificate is valid",
        'ok   token: accepted: host "box" of team "Team A"',
        f"ok   protocol: {PROTOCOL_VERSION}, which the hub takes",
    ]
    assert (
        lines[5]
        == "ok   executors: none: add [executors.NAME] to agent.toml, or install codex, claude or aider"
    )
    assert code == 0


def test_doctor_says_revoked_and_how_to_pair_again(live_host, live_server, config_path, bin_path, capsys):
    services.host_revoke(host=live_host, actor=None)
    executors(config_path, "")
    code, lines = run(capsys, "doctor", config_path=config_path)
    assert code == 1
    assert lines[3] == (
        "FIX  token: the hub revoked this host: pair again: "
        f'python -m hostagent pair --hub {live_server.url} --name "Build box"'
    )
    assert not any("protocol" in line for line in lines)


def test_doctor_says_to_update_an_agent_whose_protocol_the_hub_no_longer_takes(config_path, bin_path, capsys):
    with FakePairingApi() as fake:
        answer = {
            "host": "box",
            "team": "T",
            "protocol": 9,
            "min_protocol": 9,
            "update": "pipx install --force X",
        }
        fake.answers["/api/host/status/"] = (200, answer)
        write_paired_config(config_path, fake.url)
        executors(config_path, "")
        code, lines = run(capsys, "doctor", config_path=config_path)
    assert code == 1
    assert lines[4] == (
        f"FIX  protocol: this agent speaks {PROTOCOL_VERSION}, the hub takes 9: "
        "update the agent: pipx install --force X"
    )


def test_doctor_before_pairing_and_with_a_broken_config(config_path, bin_path, capsys):
    code, lines = run(capsys, "doctor", config_path=config_path)
    assert (code, lines) == (
        1,
        [
            f"FIX  config: there is none at {config_path}: pair this host: "
            'python -m hostagent pair --hub URL --name "My laptop"'
        ],
    )
    config_path.parent.mkdir()
    config_path.write_text("hub = 'https://hub.example.com'\n[executors.x]\ntype = 'nope'\n")
    code, lines = run(capsys, "doctor", config_path=config_path)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("FIX  config: ") and lines[0].endswith(f": fix that line in {config_path}")
    config_path.write_text("hub = 'https://hub.example.com'\nname = 'box'\n")
    code, lines = run(capsys, "doctor", config_path=config_path)
    assert lines[:2] == [
        f"ok   config: {config_path} reads well",
        'FIX  paired: not paired: python -m hostagent pair --hub https://hub.example.com --name "box"',
    ]


def test_doctor_checks_the_browser_and_the_codex_sandbox(
    config_path, bin_path, tmp_path, monkeypatch, capsys
):
    program(bin_path, "codex")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    write_paired_config(config_path, f"http://127.0.0.1:{closed_port()}")
    executors(
        config_path,
        '[executors.threads]\ntype = "codex"\n'
        f'[executors.web]\ntype = "browser"\nexecutable_path = "{tmp_path}/no-chromium"\n'
        'allowed_sites = ["a.com"]\n'
        '[executors.edge]\ntype = "browser"\nchannel = "msedge-canary"\nallowed_sites = ["a.com"]\n',
    )
    code, lines = run(capsys, "doctor", config_path=config_path)
    assert code == 1
    assert f"FIX  executor threads sandbox: {BWRAP_NONE}" in lines
    assert (
        f"FIX  executor web: {tmp_path}/no-chromium is not an executable file: install Chromium or fix its "
        "executable_path"
    ) in lines
    assert (
        "FIX  executor edge: channel msedge-canary is not installed here: install it, or set executable_path "
        '(like "/usr/bin/chromium") instead of channel'
    ) in lines


def test_doctor_checks_what_a_computer_executor_needs(config_path, bin_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    write_paired_config(config_path, f"http://127.0.0.1:{closed_port()}")
    executors(
        config_path,
        '[executors.desk]\ntype = "computer"\ndisplay = ":5"\n'
        '[executors.typed]\ntype = "computer"\ndisplay = ":5"\ninput = "pynput"\n'
        '[executors.nowhere]\ntype = "computer"\n',
    )
    code, lines = run(capsys, "doctor", config_path=config_path)
    assert code == 1
    assert (
        'FIX  executor desk: xdotool is not installed (apt-get install xdotool), or set input = "pynput"'
    ) in lines
    assert "ok   executor typed: display :5, input through pynput" in lines
    assert (
        'FIX  executor nowhere: no display: set display = ":0" in the executor, or DISPLAY for the agent'
    ) in lines
    program(bin_path, "xdotool")
    _, lines = run(capsys, "doctor", config_path=config_path)
    assert f"ok   executor desk: display :5, input through xdotool at {bin_path}/xdotool" in lines
    assert not any("no command" in line for line in lines)  # a computer executor runs no program
