"""What an executor gets from the agent's environment: each built-in template's variables,
`env = [...]` on top, the ones it needs (a key, a config folder or the sign-in file its tool
keeps), and bubblewrap for Codex's sandbox on Linux: in the child's environment, in
`python -m hostagent executors`, in the agent's log at start and in `hello`."""

import os
import signal

from hostagent import config
from hostagent.__main__ import main
from hostagent.tasks.environment import BWRAP_BUNDLED, BWRAP_NONE, bundled_bwrap, report, sandbox_note
from hostagent.tasks.executors import child_env, offered
from tests.hostagent.conftest import ROOT
from tests.kits.agent_tasks import load_config
from tests.kits.fakehub import TOKEN, FakeHub, finish, start_agent, wait_for

CODEX = ROOT / "tests" / "agents" / "node_modules" / ".bin" / "codex"  # make install: the real one
CODEX_NEEDS = ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME")
LINUX = {"platform": "linux", "which": lambda program: None}


def found(*programs):
    return lambda program: f"/opt/bin/{program}" if program in programs else None


def builtins(tmp_path, text=""):
    return offered(load_config(tmp_path, text), which=found("codex", "claude", "aider"))


def test_each_builtin_passes_what_its_agent_documents_and_env_adds_to_it(tmp_path):
    executors = builtins(tmp_path, '[executors.codex]\ntemplate = "codex"\nenv = ["HTTPS_PROXY"]\n')
    environ = {
        "PATH": "/bin",
        "HOME": "/h",
        "OPENAI_API_KEY": "sk-1",
        "CODEX_HOME": "/h/codex",
        "ANTHROPIC_API_KEY": "sk-2",
        "HTTPS_PROXY": "http://proxy:3128",
        "AWS_SECRET_ACCESS_KEY": "never",
    }
    assert child_env(executors["codex"], environ) == {
        "PATH": "/bin",
        "HOME": "/h",
        "OPENAI_API_KEY": "sk-1",
        "CODEX_HOME": "/h/codex",
        "HTTPS_PROXY": "http://proxy:3128",
    }
    assert child_env(executors["claude"], environ) == {
        "PATH": "/bin",
        "HOME": "/h",
        "ANTHROPIC_API_KEY": "sk-2",
    }
    assert child_env(executors["aider"], environ) == {
        "PATH": "/bin",
        "HOME": "/h",
        "OPENAI_API_KEY": "sk-1",
        "ANTHROPIC_API_KEY": "sk-2",
    }


def test_a_builtin_needs_a_key_a_config_folder_or_its_sign_in_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    codex, claude, aider = (builtins(tmp_path)[name] for name in ("codex", "claude", "aider"))
    bare = {"PATH": "/bin", "HOME": str(home)}
    assert report(codex, bare, **LINUX).missing == CODEX_NEEDS
    assert report(codex, {**bare, "CODEX_API_KEY": ""}, **LINUX).missing == CODEX_NEEDS  # empty: no key
    assert report(codex, {**bare, "CODEX_HOME": "/srv/codex"}, **LINUX).missing == ()
    assert report(claude, bare, **LINUX).missing == (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "CLAUDE_CONFIG_DIR",
    )
    assert report(aider, {**bare, "GEMINI_API_KEY": "g"}, **LINUX).missing == ()
    (home / ".codex").mkdir()
    (home / ".codex" / "auth.json").write_text("{}")  # `codex login`
    (home / ".claude").mkdir()
    (home / ".claude" / ".credentials.json").write_text("{}")
    (home / ".env").write_text("OPENAI_API_KEY=sk\n")  # aider reads ~/.env
    assert [report(e, bare, **LINUX).missing for e in (codex, claude, aider)] == [(), (), ()]
    generic = offered(load_config(tmp_path, '[executors.mine]\ncommand = ["/bin/true"]\nenv = ["A", "B"]\n'))
    mine = report(generic["mine"], {"A": "1", "B": ""}, **LINUX)  # empty reads as not set
    assert (mine.passed, mine.unset, mine.missing, mine.notes) == (("A",), ("B",), (), ())


def codex_at(tmp_path, program):
    return offered(load_config(tmp_path, ""), which={"codex": str(program)}.get)["codex"]


def test_codex_on_linux_without_bwrap_on_path_is_told_whether_its_bundled_copy_stands_in(tmp_path):
    assert bundled_bwrap(str(CODEX)).endswith("/codex-resources/bwrap")  # @openai/codex 0.171 ships one
    assert sandbox_note(codex_at(tmp_path, CODEX), platform="linux", which=lambda _: None) == BWRAP_BUNDLED
    # A codex with no bundled copy (an older npm package, or a build of one's own).
    package = tmp_path / "node_modules" / "@openai" / "codex"
    fake_tool(package / "bin", "codex.js")
    codex = codex_at(tmp_path, package / "bin" / "codex.js")
    assert sandbox_note(codex, platform="linux", which=lambda _: None) == BWRAP_NONE
    assert "its sandbox cannot run commands" in BWRAP_NONE
    assert sandbox_note(codex, platform="linux", which={"bwrap": "/usr/bin/bwrap"}.get) == ""
    assert sandbox_note(codex, platform="darwin", which=lambda _: None) == ""  # Seatbelt, not bubblewrap
    assert sandbox_note(builtins(tmp_path)["claude"], platform="linux", which=lambda _: None) == ""


def fake_tool(folder, name):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("#!/bin/sh\n")
    (folder / name).chmod(0o755)


def clean_environ(monkeypatch, tmp_path, **values):
    """A PATH of fake codex (the real one's layout) and claude, an empty HOME, and only `values`."""
    for name in list(os.environ):
        if "API_KEY" in name or name.startswith(("CODEX_", "ANTHROPIC_", "CLAUDE_", "OPENAI_", "AIDER_")):
            if name != "CODEXHUB_AGENT_CONFIG" and not name.startswith("CODEXHUB_AGENT_BACKOFF"):
                monkeypatch.delenv(name)
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    home.mkdir()
    fake_tool(bin_dir, "claude")
    (bin_dir / "codex").symlink_to(CODEX)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(home))
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_the_listing_says_what_passes_and_what_to_set(tmp_path, capsys, monkeypatch):
    clean_environ(monkeypatch, tmp_path, ANTHROPIC_API_KEY="sk-never-shown", MY_TOKEN="t")
    load_config(tmp_path, '[executors.mine]\ncommand = ["/bin/true"]\nenv = ["MY_TOKEN", "OTHER"]\n')
    assert main(["executors", "--config", str(tmp_path / "cfg" / "agent.toml")]) == 0
    out = capsys.readouterr().out
    assert "sk-never-shown" not in out
    assert out.splitlines() == [
        "claude  Claude Code  command",
        "  environment: passes ANTHROPIC_API_KEY; not set: ANTHROPIC_AUTH_TOKEN, CLAUDE_CODE_OAUTH_TOKEN, "
        "ANTHROPIC_BASE_URL, ANTHROPIC_MODEL, CLAUDE_CONFIG_DIR",
        "codex  Codex CLI  command",
        "  environment: not set: OPENAI_API_KEY, CODEX_API_KEY, CODEX_HOME, OPENAI_BASE_URL",
        "  problem: needs one of OPENAI_API_KEY, CODEX_API_KEY or CODEX_HOME, and none is set "
        "(nor is there ~/.codex/auth.json or ~/.codex/config.toml): set one in the environment that "
        "starts `python -m hostagent run`, or sign in on this machine with `codex login`",
        f"  problem: {BWRAP_BUNDLED}",
        "mine  mine  command",
        "  environment: passes MY_TOKEN; not set: OTHER",
    ]


async def test_the_agent_says_at_start_what_is_missing_and_tells_the_hub(tmp_path, monkeypatch):
    clean_environ(monkeypatch, tmp_path, CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))
    config_path = tmp_path / "cfg" / "agent.toml"
    async with FakeHub() as hub:
        cfg = load_config(tmp_path, "")
        cfg.hub, cfg.host_id, cfg.token = hub.url, 12, TOKEN
        config.save(config_path, cfg)
        proc = await start_agent(config_path)
        conn = await hub.connection(0, timeout=8)
        hello = await wait_for(
            lambda: next((m for m in conn.received if m.get("type") == "hello"), None), 8, "hello"
        )
        proc.send_signal(signal.SIGTERM)
        code, _, err = await finish(proc, timeout=8)
    assert code == 0, err
    assert hello["payload"]["executors"] == [
        {
            "name": "claude",
            "label": "Claude Code",
            "kind": "command",
            "needs_file": False,
            "env": ["CLAUDE_CONFIG_DIR"],
            "env_missing": [],
        },
        {
            "name": "codex",
            "label": "Codex CLI",
            "kind": "command",
            "needs_file": False,
            "env": [],
            "env_missing": list(CODEX_NEEDS),
        },
    ]
    problems = [line for line in err.splitlines() if line.startswith("hostagent: executor ")]
    assert problems == [
        "hostagent: executor codex: needs one of OPENAI_API_KEY, CODEX_API_KEY or CODEX_HOME, and none is "
        "set (nor is there ~/.codex/auth.json or ~/.codex/config.toml): set one in the environment that "
        "starts `python -m hostagent run`, or sign in on this machine with `codex login`",
        f"hostagent: executor codex: {BWRAP_BUNDLED}",
    ]
