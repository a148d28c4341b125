"""`service install | uninstall | status`: the systemd user unit and the launchd agent, checked by
the real `systemd-analyze verify` and plistlib, managed through fake systemctl, launchctl and
loginctl (tests/kits/service_managers.py), and the real agent's exit codes against the restart
policy they declare."""

import asyncio
import os
import plistlib
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import hostagent.__main__ as cli
from hostagent import service
from hostagent.__main__ import main
from tests.kits.fakehub import FakeHub, finish, wait_for, write_paired_config
from tests.kits.service_managers import FakeManagers, verify

ROOT = Path(__file__).resolve().parents[2]
UNIT = "codexhub-agent.service"
UID = os.getuid()
LAUNCHD = f"gui/{UID}/codexhub.agent"

EXPECTED_UNIT = """\
# Written by `codexhub-agent service install`; `codexhub-agent service uninstall` removes it.
# Settings of your own (Environment=...) go in `systemctl --user edit codexhub-agent`, which keeps them.
[Unit]
Description=codexhub host agent

[Service]
ExecStart=/opt/agent/bin/codexhub-agent run --config "/home/alice/my config/agent.toml"
Environment=PATH=/home/alice/.local/bin:/usr/bin:/bin
Environment=PYTHONUNBUFFERED=1
WorkingDirectory=%h
StandardOutput=journal
StandardError=journal
Restart=on-failure
RestartSec=10
# Exits a restart cannot mend: 2 not paired or a bad config, 3 revoked, 4 replaced by another
# agent, 5 a protocol version the hub refuses.
RestartPreventExitStatus=2 3 4 5
# SIGTERM to the agent alone: it stops its tasks' process groups itself, then systemd kills the rest.
KillMode=mixed
TimeoutStopSec=30

[Install]
WantedBy=default.target
"""


@pytest.fixture
def fakes(tmp_path):
    return FakeManagers(tmp_path)


@pytest.fixture
def paired(tmp_path):
    path = tmp_path / "cfg" / "agent.toml"
    write_paired_config(path, "https://hub.example.com")
    return path


def unit_values(text: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


# --- the unit ------------------------------------------------------------------------------------


def test_it_renders_the_unit():
    what = service.Launch(
        ["/opt/agent/bin/codexhub-agent", "run", "--config", "/home/alice/my config/agent.toml"],
        {"PATH": "/home/alice/.local/bin:/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
    )
    assert service.unit_text(what) == EXPECTED_UNIT


def test_systemd_analyze_verifies_the_unit_this_agent_writes(tmp_path, paired):
    env = {"PATH": "/home/alice/.local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    text = service.unit_text(service.launch(paired, env))
    assert verify(text, tmp_path) == (0, "")


def test_it_runs_this_agent_with_the_absolute_config_and_the_callers_path(tmp_path, monkeypatch, paired):
    monkeypatch.chdir(paired.parent)
    what = service.launch(Path("agent.toml"), {"PATH": "/x/bin:relative:/usr/bin:/x/bin:/bad\nline"})
    assert what.argv == [*service.program(), "run", "--config", str(paired)]
    assert what.env["PATH"] == "/x/bin:/usr/bin"
    assert what.env["PYTHONUNBUFFERED"] == "1"
    if what.argv[1:3] == ["-m", "hostagent"]:  # from this checkout: its packages on the path
        assert what.env["PYTHONPATH"] == str(ROOT)


def test_it_runs_the_console_script_beside_the_python_of_a_tool_install(tmp_path, monkeypatch):
    # pipx and uv tool: ~/.local/bin/codexhub-agent links to the tool venv's script, whose python
    # is a symlink that only by its own path finds the venv: neither is resolved.
    bin_dir = tmp_path / "venvs" / "codexhub-agent" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    assert service.program() == [str(bin_dir / "python"), "-m", "hostagent"]
    script = bin_dir / "codexhub-agent"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert service.program() == [str(script)]
    what = service.launch(tmp_path / "agent.toml", {"PATH": "/usr/bin"})
    assert what.argv == [str(script), "run", "--config", str(tmp_path / "agent.toml")]
    assert "PYTHONPATH" not in what.env


def test_it_spells_a_program_path_as_systemd_reads_it_back(tmp_path):
    # A space, a specifier and a variable in the program's path: verify finds the program
    # executable only if the unit spells it so that systemd reads it back unchanged.
    odd = tmp_path / "we ird %h $HOME"
    odd.mkdir()
    (odd / "python").symlink_to(sys.executable)
    what = service.Launch([str(odd / "python"), "-m", "hostagent", "run"], {"PATH": f"{odd}:/usr/bin"})
    text = service.unit_text(what)
    assert f'ExecStart="{tmp_path}/we ird %%h $HOME/python" -m hostagent run\n' in text
    assert verify(text, tmp_path / "ok") == (0, "")
    spelled = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    naive = text.replace(spelled, f"ExecStart={odd}/python -m hostagent run")
    code, said = verify(naive, tmp_path / "naive")
    assert code != 0 and "is not executable" in said


def test_it_spells_the_arguments_and_the_environment_as_systemd_reads_them_back():
    odd = 'a b%h$HOME"q"\\d'
    text = service.unit_text(service.Launch(["/bin/agent", "run", "--config", odd], {"PATH": odd}))
    assert 'ExecStart=/bin/agent run --config "a b%%h$$HOME\\"q\\"\\\\d"\n' in text
    assert 'Environment="PATH=a b%%h$HOME\\"q\\"\\\\d"\n' in text


@pytest.mark.parametrize("folder", ['my "agent"', "it's", "back\\slash"])
def test_it_refuses_a_program_path_systemd_cannot_run(tmp_path, folder):
    # systemd refuses quotes and backslashes in an executable's path ("special characters").
    what = service.Launch([f"/opt/{folder}/python", "-m", "hostagent", "run"], {})
    with pytest.raises(service.ServiceError, match="systemd cannot run a program whose path holds quotes"):
        service.unit_text(what)


def test_it_refuses_a_config_path_with_a_newline(tmp_path):
    with pytest.raises(service.ServiceError, match="control character"):
        service.launch(tmp_path / "a\nb" / "agent.toml", {"PATH": "/usr/bin"})


# --- the restart policy ---------------------------------------------------------------------------


def test_the_unit_restarts_after_failures_only():
    restarted = {code: service.restarts(EXPECTED_UNIT, code) for code in range(7)}
    assert restarted == {0: False, 1: True, 2: False, 3: False, 4: False, 5: False, 6: True}


def test_the_final_exits_are_the_agents_documented_exit_codes():
    doc = " ".join(cli.__doc__.split())
    assert "2 not paired or bad usage" in doc
    assert "3 this host was revoked" in doc
    assert "4 another agent took over" in doc
    assert "5 the hub refuses this agent's protocol version" in doc
    assert sorted(service.FINAL_EXITS) == [2, 3, 4, 5]


def test_run_under_a_service_exits_0_when_stopping_for_good(tmp_path, capsys):
    unpaired = str(tmp_path / "nothing" / "agent.toml")
    assert main(["run", "--config", unpaired]) == 2
    assert main(["run", "--service", "--config", unpaired]) == 0
    assert capsys.readouterr().err.count("hostagent: not paired.") == 2


def closing_with(code: int):
    async def script(conn):
        await conn.welcome()
        await conn.recv_until(lambda m: m.get("type") == "hello")
        await conn.close(code, "bye")

    return script


async def run_as(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    code, _, err = await finish(proc, timeout=15)
    return code, err


@pytest.mark.parametrize(
    ("close", "exit_code", "said"), [(4401, 3, "was revoked"), (4409, 4, "another agent")]
)
async def test_the_real_agent_is_not_restarted_after_a_revocation_or_a_takeover(
    tmp_path, paired, close, exit_code, said
):
    """What the unit and the plist run, run as they say (their argv, environment and working
    folder, which is not this checkout), against a hub that revokes or replaces the host."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    async with FakeHub(scripts=[closing_with(close), closing_with(close)]) as hub:
        write_paired_config(paired, hub.url)
        unit = unit_values(service.unit_text(service.launch(paired, env)))
        unit_env = dict(shlex.split(assignment)[0].split("=", 1) for assignment in unit["Environment"])
        code, err = await run_as(shlex.split(unit["ExecStart"][0]), {**env, **unit_env}, tmp_path)
        assert (code, said in err) == (exit_code, True)
        assert service.restarts(service.unit_text(service.launch(paired, env)), code) is False

        places = service.Places.from_env(env)
        plist = plistlib.loads(service.plist_bytes(service.launch(paired, env, service_flag=True), places))
        code, err = await run_as(
            plist["ProgramArguments"], {**env, **plist["EnvironmentVariables"]}, tmp_path
        )
        # KeepAlive {SuccessfulExit: false}: launchd restarts a non-zero exit only.
        assert (code, said in err, plist["KeepAlive"]) == (0, True, {"SuccessfulExit": False})
        assert len(hub.connections) == 2


async def test_the_real_agent_under_a_service_still_stops_cleanly_on_sigterm(tmp_path, paired):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    async with FakeHub() as hub:
        write_paired_config(paired, hub.url)
        what = service.launch(paired, env, service_flag=True)
        proc = await asyncio.create_subprocess_exec(
            *what.argv,
            env={**env, **what.env},
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await wait_for(lambda: hub.connections, timeout=10, what="the agent's connection")
        proc.terminate()
        code, _, _ = await finish(proc, timeout=15)
    assert code == 0


# --- the plist ------------------------------------------------------------------------------------


def test_it_renders_the_launchd_agent():
    what = service.Launch(
        ["/opt/agent/bin/codexhub-agent", "run", "--config", "/c/agent.toml", "--service"],
        {"PATH": "/usr/bin"},
    )
    places = service.Places.from_env({"HOME": "/Users/alice"})
    assert plistlib.loads(service.plist_bytes(what, places)) == {
        "Label": "codexhub.agent",
        "ProgramArguments": [
            "/opt/agent/bin/codexhub-agent",
            "run",
            "--config",
            "/c/agent.toml",
            "--service",
        ],
        "EnvironmentVariables": {"PATH": "/usr/bin"},
        "WorkingDirectory": "/Users/alice",
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 10,
        "StandardOutPath": "/Users/alice/Library/Logs/codexhub-agent/agent.log",
        "StandardErrorPath": "/Users/alice/Library/Logs/codexhub-agent/agent.log",
    }


# --- systemd: install, uninstall, status --------------------------------------------------------


def install(fakes, paired, platform="linux", **env):
    return service.command("install", paired, platform=platform, env=fakes.env(**env))


def test_it_installs_the_unit_and_starts_it(fakes, paired, capsys):
    assert install(fakes, paired) == 0
    unit = fakes.home / ".config" / "systemd" / "user" / UNIT
    assert unit.read_text() == service.unit_text(service.launch(paired, fakes.env()))
    assert fakes.calls() == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", UNIT],
        ["loginctl", "show-user", "alice", "--property=Linger", "--value"],
    ]
    out = capsys.readouterr().out
    assert f"Installed {unit} and started it: " in out
    assert f"--config {paired}" in out
    assert "Logs: journalctl --user -u codexhub-agent.service -f" in out
    assert out.endswith(
        "It runs while you are logged in. On a machine nobody logs in to (a headless server), "
        "let it start at boot and keep running: loginctl enable-linger alice\n"
    )
    assert fakes.read()["active"] is True


def test_it_honours_xdg_config_home_and_says_when_linger_is_on(fakes, paired, capsys, tmp_path):
    fakes.set(linger="yes")
    assert install(fakes, paired, XDG_CONFIG_HOME=str(tmp_path / "xdg")) == 0
    assert (tmp_path / "xdg" / "systemd" / "user" / UNIT).is_file()
    assert not (fakes.home / ".config").exists()
    assert capsys.readouterr().out.endswith(
        "Linger is on for alice: the agent starts at boot and runs without a login.\n"
    )


def test_installing_again_rewrites_the_unit_and_restarts_it(fakes, paired, tmp_path):
    assert install(fakes, paired) == 0
    other = tmp_path / "other" / "agent.toml"
    write_paired_config(other, "https://hub.example.com")
    fakes.forget_calls()
    assert install(fakes, other) == 0
    assert fakes.calls()[:3] == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", UNIT],
        ["systemctl", "--user", "restart", UNIT],
    ]
    unit = (fakes.home / ".config" / "systemd" / "user" / UNIT).read_text()
    assert f"--config {other}\n" in unit


def test_without_a_user_bus_nothing_is_left_installed(fakes, paired, capsys):
    fakes.set(fail={"systemctl": "all"})
    assert install(fakes, paired) == 1
    assert fakes.calls() == [["systemctl", "--user", "daemon-reload"]]
    assert not (fakes.home / ".config" / "systemd" / "user" / UNIT).exists()
    err = capsys.readouterr().err
    assert err.startswith("hostagent: Failed to connect to bus: No medium found\n")
    assert "systemctl --user cannot reach your user's service manager" in err
    assert "sudo loginctl enable-linger alice" in err
    assert err.endswith("Nothing was left installed.\n")


def test_when_the_start_fails_the_unit_is_disabled_and_removed(fakes, paired, capsys):
    fakes.set(fail={"systemctl": "enable"})
    assert install(fakes, paired) == 1
    assert fakes.calls() == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", UNIT],
        ["systemctl", "--user", "disable", UNIT],
        ["systemctl", "--user", "daemon-reload"],
    ]
    assert not (fakes.home / ".config" / "systemd" / "user" / UNIT).exists()
    err = capsys.readouterr().err
    assert err == (
        f"hostagent: systemctl --user enable --now {UNIT} failed: Failed to connect to bus: No medium found\n"
        "Nothing was left installed.\n"
    )


def test_a_failed_reinstall_puts_the_previous_unit_back(fakes, paired, tmp_path, capsys):
    assert install(fakes, paired) == 0
    unit = fakes.home / ".config" / "systemd" / "user" / UNIT
    before = unit.read_text()
    other = tmp_path / "other" / "agent.toml"
    write_paired_config(other, "https://hub.example.com")
    fakes.set(fail={"systemctl": "restart"})
    assert install(fakes, other) == 1
    assert unit.read_text() == before
    assert capsys.readouterr().err.endswith(f"The previous {unit} was put back.\n")


def test_without_systemctl_nothing_is_written(fakes, paired, capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert service.command("install", paired, platform="linux", env=fakes.env(path=str(empty))) == 1
    assert fakes.calls() == []
    assert not (fakes.home / ".config").exists()
    err = capsys.readouterr().err
    assert err.startswith(
        "hostagent: systemctl is not on PATH: this machine does not run systemd. Nothing was written."
    )
    assert f"run --config {paired}" in err


def test_it_refuses_to_install_an_agent_that_is_not_paired(fakes, tmp_path, capsys):
    unpaired = tmp_path / "new" / "agent.toml"
    assert install(fakes, unpaired) == 2
    assert fakes.calls() == []
    assert not (fakes.home / ".config").exists()
    assert f"hostagent: not paired ({unpaired}). Pair first: " in capsys.readouterr().err


def test_it_uninstalls(fakes, paired, capsys):
    assert install(fakes, paired) == 0
    fakes.forget_calls()
    capsys.readouterr()
    assert service.command("uninstall", paired, platform="linux", env=fakes.env()) == 0
    unit = fakes.home / ".config" / "systemd" / "user" / UNIT
    assert fakes.calls() == [
        ["systemctl", "--user", "disable", "--now", UNIT],
        ["systemctl", "--user", "daemon-reload"],
    ]
    assert not unit.exists()
    assert capsys.readouterr().out == f"Stopped and disabled {UNIT}, removed {unit}.\n"
    assert (fakes.read()["enabled"], fakes.read()["active"]) == (False, False)


def test_uninstall_says_that_the_users_drop_ins_are_kept(fakes, paired, capsys):
    assert install(fakes, paired) == 0
    drop_ins = fakes.home / ".config" / "systemd" / "user" / f"{UNIT}.d"
    drop_ins.mkdir()
    (drop_ins / "override.conf").write_text("[Service]\nEnvironment=OPENAI_API_KEY=sk-test\n")
    capsys.readouterr()
    assert service.command("uninstall", paired, platform="linux", env=fakes.env()) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"Your own settings in {drop_ins} (systemctl --user edit) are kept: remove them if unneeded."
    )
    assert (drop_ins / "override.conf").is_file()


def test_uninstall_keeps_the_unit_when_systemctl_fails(fakes, paired, capsys):
    assert install(fakes, paired) == 0
    fakes.set(fail={"systemctl": "all"})
    assert service.command("uninstall", paired, platform="linux", env=fakes.env()) == 1
    unit = fakes.home / ".config" / "systemd" / "user" / UNIT
    assert unit.is_file()
    assert capsys.readouterr().err.endswith(f"{unit} is left as it was.\n")


def test_uninstall_when_not_installed(fakes, paired, capsys):
    assert service.command("uninstall", paired, platform="linux", env=fakes.env()) == 0
    assert fakes.calls() == []
    unit = fakes.home / ".config" / "systemd" / "user" / UNIT
    assert capsys.readouterr().out == f"Not installed: there is no {unit}.\n"


def status(fakes, paired, platform="linux"):
    return service.command("status", paired, platform=platform, env=fakes.env())


def test_status_of_a_running_service(fakes, paired, capsys):
    assert install(fakes, paired) == 0
    capsys.readouterr()
    assert status(fakes, paired) == 0
    unit = fakes.home / ".config" / "systemd" / "user" / UNIT
    assert capsys.readouterr().out == (
        f"Service: running (pid 4242).\nUnit: {unit} (enabled). Logs: journalctl --user -u {UNIT}\n"
    )
    assert fakes.calls()[-1] == [
        "systemctl",
        "--user",
        "show",
        UNIT,
        "--property=LoadState,ActiveState,SubState,UnitFileState,ExecMainStatus,ExecMainPID",
    ]


def test_status_after_a_revocation(fakes, paired, capsys):
    assert install(fakes, paired) == 0
    fakes.set(show={"ActiveState": "failed", "SubState": "failed", "ExecMainStatus": "3"})
    capsys.readouterr()
    assert status(fakes, paired) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "Service: stopped for good, this host was revoked (exit code 3); systemd does not restart it "
        f"after that. Fix it, then: systemctl --user restart {UNIT}"
    )


def test_status_while_waiting_to_restart(fakes, paired, capsys):
    assert install(fakes, paired) == 0
    fakes.set(show={"ActiveState": "activating", "SubState": "auto-restart", "ExecMainStatus": "1"})
    capsys.readouterr()
    assert status(fakes, paired) == 1
    assert capsys.readouterr().out.startswith("Service: restarting after a failure (exit code 1).\n")


def test_status_when_not_installed_or_without_a_bus(fakes, paired, capsys):
    assert status(fakes, paired) == 1
    assert capsys.readouterr().out == "Service: not installed. Install it with: " + (
        f"{service._me()} service install\n"
    )
    fakes.set(fail={"systemctl": "all"})
    assert status(fakes, paired) == 1
    assert capsys.readouterr().out == (
        "Service: unknown, systemctl --user cannot tell (Failed to connect to bus: No medium found).\n"
    )


def test_the_command_line_installs_and_tells_the_status(fakes, paired):
    def cli_run(*args):
        return subprocess.run(
            [sys.executable, "-m", "hostagent", "service", *args, "--config", str(paired)],
            cwd=ROOT,
            env=fakes.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )

    installed = cli_run("install")
    assert installed.returncode == 0, installed.stderr
    unit = (fakes.home / ".config" / "systemd" / "user" / UNIT).read_text()
    assert f"run --config {paired}\n" in unit
    shown = cli_run("status")
    assert (shown.returncode, shown.stdout.splitlines()[0]) == (0, "Service: running (pid 4242).")
    removed = cli_run("uninstall")
    assert removed.returncode == 0 and "Stopped and disabled" in removed.stdout


def test_other_platforms_are_refused(fakes, paired, capsys):
    assert install(fakes, paired, platform="win32") == 2
    assert "no service manager is supported on win32" in capsys.readouterr().err
    assert fakes.calls() == []


# --- launchd: install, uninstall, status ---------------------------------------------------------


def test_it_installs_the_launchd_agent(fakes, paired, capsys):
    assert install(fakes, paired, platform="darwin") == 0
    plist = fakes.home / "Library" / "LaunchAgents" / "codexhub.agent.plist"
    places = service.Places.from_env(fakes.env())
    assert plist.read_bytes() == service.plist_bytes(
        service.launch(paired, fakes.env(), service_flag=True), places
    )
    assert plistlib.loads(plist.read_bytes())["ProgramArguments"][-4:] == [
        "run",
        "--config",
        str(paired),
        "--service",
    ]
    assert fakes.calls() == [
        ["launchctl", "enable", LAUNCHD],
        ["launchctl", "bootstrap", f"gui/{UID}", str(plist)],
    ]
    assert (fakes.home / "Library" / "Logs" / "codexhub-agent").is_dir()
    out = capsys.readouterr().out
    assert f"Installed {plist} and started it: " in out
    assert out.endswith(f"Logs: {fakes.home}/Library/Logs/codexhub-agent/agent.log\n")


def test_installing_the_launchd_agent_again_boots_the_old_one_out(fakes, paired):
    assert install(fakes, paired, platform="darwin") == 0
    fakes.forget_calls()
    assert install(fakes, paired, platform="darwin") == 0
    plist = fakes.home / "Library" / "LaunchAgents" / "codexhub.agent.plist"
    assert fakes.calls() == [
        ["launchctl", "bootout", LAUNCHD],
        ["launchctl", "enable", LAUNCHD],
        ["launchctl", "bootstrap", f"gui/{UID}", str(plist)],
    ]


def test_a_failed_bootstrap_leaves_no_plist(fakes, paired, capsys):
    fakes.set(fail={"launchctl": "bootstrap"})
    assert install(fakes, paired, platform="darwin") == 1
    assert not (fakes.home / "Library" / "LaunchAgents" / "codexhub.agent.plist").exists()
    err = capsys.readouterr().err
    assert err.startswith(
        f"hostagent: launchctl bootstrap gui/{UID} failed: Bootstrap failed: 125: Domain does not support "
        "specified action\nA launchd agent needs your login session on this Mac"
    )
    assert err.endswith("Nothing was left installed.\n")


def test_it_uninstalls_the_launchd_agent(fakes, paired, capsys):
    assert install(fakes, paired, platform="darwin") == 0
    fakes.forget_calls()
    capsys.readouterr()
    assert service.command("uninstall", paired, platform="darwin", env=fakes.env()) == 0
    plist = fakes.home / "Library" / "LaunchAgents" / "codexhub.agent.plist"
    assert fakes.calls() == [["launchctl", "print", LAUNCHD], ["launchctl", "bootout", LAUNCHD]]
    assert not plist.exists()
    assert capsys.readouterr().out == f"Stopped codexhub.agent and removed {plist}.\n"
    assert fakes.read()["launchd"] == {}


def test_launchd_status(fakes, paired, capsys):
    assert status(fakes, paired, platform="darwin") == 1
    assert capsys.readouterr().out.startswith("Service: not installed.")
    assert install(fakes, paired, platform="darwin") == 0
    capsys.readouterr()
    assert status(fakes, paired, platform="darwin") == 0
    places = service.Places.from_env(fakes.env())
    assert capsys.readouterr().out == (
        f"Service: running (pid 4242).\nAgent: {places.plist}. Logs: {places.log}\n"
    )
    places.log.write_text(
        "hostagent: connecting\nhostagent: this host was revoked or its token is no longer valid.\n\n"
    )
    fakes.set(print={"state": "not running", "pid": "-", "last exit code": "0"})
    assert status(fakes, paired, platform="darwin") == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "Service: not running (last exit code 0). Its last words: "
        "hostagent: this host was revoked or its token is no longer valid."
    )
