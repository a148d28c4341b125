"""[tasks] and [executors.NAME] in agent.toml, the executors a host offers, and how argv is built."""

import pytest

from hostagent import config
from hostagent.__main__ import main
from hostagent.config import ConfigError, ExecutorConfig, TasksConfig
from hostagent.tasks.environment import BWRAP_NONE
from hostagent.tasks.executors import Executor, TaskError, build_argv, child_env, offered, stdin_text
from hostagent.tasks.ledger import Ledger
from tests.kits.agent_tasks import NO_ENV, load_config
from tests.kits.fakehub import TOKEN, FakePairingApi

FULL = """
[tasks]
concurrency = 3
parallel_per_project = true
timeout = 900
output_cap = 65536
builtins = false

[executors.bullets]
type = "command"
label = "Bulletize"
template = "generic"
command = ["/abs/bulletize", "--", "{file}"]
stdin = "prompt"
needs_file = true
timeout = 60
env = ["MY_API_KEY"]

[executors.codex]
template = "codex"
label = "Codex (work)"

[executors.local]
type = "openai"
label = "Local model"
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.1"
api_key_env = "OPENAI_API_KEY"
timeout = 300.5
"""


def test_it_reads_tasks_and_executors(tmp_path):
    cfg = load_config(tmp_path, FULL)
    assert cfg.tasks == TasksConfig(
        concurrency=3, parallel_per_project=True, timeout=900, output_cap=65536, builtins=False
    )
    assert cfg.executors == {
        "bullets": ExecutorConfig(
            type="command",
            label="Bulletize",
            template="generic",
            command=["/abs/bulletize", "--", "{file}"],
            stdin="prompt",
            needs_file=True,
            timeout=60,
            env=["MY_API_KEY"],
        ),
        "codex": ExecutorConfig(template="codex", label="Codex (work)"),
        "local": ExecutorConfig(
            type="openai",
            label="Local model",
            base_url="http://127.0.0.1:11434/v1",
            model="llama3.1",
            api_key_env="OPENAI_API_KEY",
            timeout=300.5,
        ),
    }
    assert load_config(tmp_path, "").tasks == TasksConfig()


def test_it_keeps_tasks_and_executors_when_a_command_saves_the_file(tmp_path, capsys):
    path = tmp_path / "cfg" / "agent.toml"
    written = load_config(tmp_path, FULL)
    assert config.load(path) == written
    (tmp_path / "work").mkdir()
    assert main(["project", "add", str(tmp_path / "work"), "--config", str(path)]) == 0
    loaded = config.load(path)
    assert loaded.projects == {"work": str(tmp_path / "work")}
    assert (loaded.tasks, loaded.executors) == (written.tasks, written.executors)
    assert "[tasks]" not in config.dumps(config.Config())  # defaults are not written


@pytest.mark.parametrize(
    "text, key",
    [
        ("[tasks]\nconcurrency = 0", "tasks.concurrency must be between 1 and 32"),
        ("[tasks]\nconcurrency = 33", "tasks.concurrency must be between 1 and 32"),
        ("[tasks]\nconcurrency = true", "tasks.concurrency must be an integer"),
        ('[tasks]\ntimeout = "long"', "tasks.timeout must be a number"),
        ("[tasks]\noutput_cap = 10", "tasks.output_cap must be between 1024"),
        ('[tasks]\nbuiltins = "yes"', "tasks.builtins must be true or false"),
        ("[tasks]\nconcurency = 2", "tasks.concurency is not a known key"),
        ('[executors.Bad]\ncommand = ["/x"]', "executors.'Bad': a name is 1-32 lowercase"),
        ('[executors.x]\ntype = "shell"\ncommand = ["/x"]', 'executors.x.type must be "command" or "openai"'),
        ("[executors.x]\nlabel = 'y'", "executors.x.command is required"),
        ("[executors.x]\ncommand = []", "executors.x.command must hold 1-256 strings"),
        ('[executors.x]\ncommand = "/bin/x {prompt}"', "executors.x.command must be a list of strings"),
        ('[executors.x]\ncommand = ["./x"]', "executors.x.command[0] must be an absolute path"),
        ('[executors.x]\ncommand = ["{prompt}"]', "executors.x.command[0] must be an absolute path"),
        ('[executors.x]\ntemplate = "bash"', "executors.x.template must be one of generic, codex"),
        ('[executors.x]\ntemplate = "codex"\ncommand = ["/x"]', "executors.x: command and stdin are only"),
        ('[executors.x]\ncommand = ["/x"]\nstdin = "file"', 'executors.x.stdin must be "prompt" or "none"'),
        (
            '[executors.x]\ncommand = ["/x"]\noutput = "json"',
            "executors.x.output must be one of plain, codex-jsonl",
        ),
        ('[executors.x]\ntemplate = "claude"\noutput = "plain"', "executors.x: output is only for template"),
        ('[executors.x]\ncommand = ["/x"]\nneeds_file = 1', "executors.x.needs_file must be true or false"),
        ('[executors.x]\ncommand = ["/x"]\ntimeout = 0', "executors.x.timeout must be a number of seconds"),
        (
            '[executors.x]\ncommand = ["/x"]\nenv = ["CODEXHUB_TOKEN"]',
            "executors.x.env: CODEXHUB_* variables",
        ),
        ('[executors.x]\ncommand = ["/x"]\nenv = ["A B"]', "executors.x.env: 'A B' is not a variable name"),
        ('[executors.x]\ncommand = ["/x"]\nlabel = ""', "executors.x.label must be 1-64 characters"),
        ('[executors.x]\ncommand = ["/x"]\nmodel = "m"', "executors.x.model is not a key of a command"),
        ('[executors.x]\ntype = "openai"\nmodel = "m"', "executors.x.base_url is required"),
        (
            '[executors.x]\ntype = "openai"\nbase_url = "ftp://h/v1"\nmodel = "m"',
            "executors.x.base_url is required",
        ),
        ('[executors.x]\ntype = "openai"\nbase_url = "http://h/v1"', "executors.x.model is required"),
        (
            '[executors.x]\ntype = "openai"\nbase_url = "http://example.com/v1"\nmodel = "m"\n'
            'api_key_env = "K"',
            "executors.x.base_url must use https:// to send an API key",
        ),
        ("[executors]\nx = 1", "executors.x must be a table"),
    ],
)
def test_it_refuses_bad_task_settings_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, text)
    assert key in str(info.value)


def test_it_refuses_more_than_32_executors(tmp_path):
    text = "".join(f'[executors.e{i}]\ncommand = ["/x"]\n' for i in range(33))
    with pytest.raises(ConfigError, match="at most 32 executors"):
        load_config(tmp_path, text)


def fake_which(found):
    return lambda program: f"/opt/bin/{program}" if program in found else None


def test_it_offers_the_builtins_found_on_path_unless_configured_or_disabled(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.codex/auth.json: Codex lacks a key
    cfg = load_config(tmp_path, '[executors.claude]\ncommand = ["/my/claude-wrapper"]\n')
    executors = offered(cfg, which=fake_which({"codex", "claude"}))
    assert [e.describe() for e in executors.values()] == [
        {"name": "claude", "label": "claude", "kind": "command", "needs_file": False, **NO_ENV},
        {
            "name": "codex",
            "label": "Codex CLI",
            "kind": "command",
            "needs_file": False,
            "env": [],
            "env_missing": ["OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME"],
        },
    ]
    assert executors["claude"].argv == ("/my/claude-wrapper",)
    assert (
        executors["codex"].argv == ("/opt/bin/codex", "exec", "--json", "-")
        and executors["codex"].stdin_prompt
    )
    assert (executors["codex"].output, executors["claude"].output) == ("codex-jsonl", "")
    assert executors["codex"].timeout == 1800
    aider = offered(load_config(tmp_path, ""), which=fake_which({"aider"}))["aider"]
    assert aider.argv == ("/opt/bin/aider", "--yes", "--message={prompt}", "--", "{file}")
    assert not aider.stdin_prompt
    assert offered(load_config(tmp_path, "[tasks]\nbuiltins = false\n"), which=fake_which({"codex"})) == {}


def test_it_lists_the_executors_on_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MY_API_KEY", "never printed")
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    load_config(tmp_path, FULL)
    assert main(["executors", "--config", str(tmp_path / "cfg" / "agent.toml")]) == 0
    assert capsys.readouterr().out == (
        "bullets  Bulletize  command  (needs a target file)\n"
        "  environment: passes MY_API_KEY\n"
        "codex  Codex (work)  command\n"
        "  environment: passes CODEX_HOME; not set: OPENAI_API_KEY, CODEX_API_KEY, OPENAI_BASE_URL\n"
        f"  problem: {BWRAP_NONE}\n"  # Linux, and no codex on PATH to bundle one
        "local  Local model  openai  (needs a target file)\n"
    )
    assert main(["executors", "--config", str(tmp_path / "none" / "agent.toml")]) == 0
    assert capsys.readouterr().out.startswith("No executors.")


def command(argv, needs_file=False, stdin=False):
    return Executor("x", "X", "command", needs_file, 60, tuple(argv), stdin)


def test_it_fills_placeholders_as_whole_elements():
    ex = command(["/bin/tool", "--msg={prompt}", "--", "{file}"])
    assert build_argv(ex, "-rf /; echo {file}", "a b.md") == [
        "/bin/tool",
        "--msg=-rf /; echo {file}",
        "--",
        "./a b.md",
    ]
    assert build_argv(ex, "p", "") == ["/bin/tool", "--msg=p", "--"]  # "{file}" alone is dropped
    with pytest.raises(TaskError, match="needs a target file"):
        build_argv(command(["/bin/tool", "--file={file}"]), "p", "")
    with pytest.raises(TaskError, match="needs a target file"):
        build_argv(command(["/bin/tool"], needs_file=True), "p", "")


def test_it_puts_the_prompt_and_target_on_stdin_for_stdin_templates():
    ex = command(["/bin/codex", "exec", "-"], stdin=True)
    assert stdin_text(ex, "do it", "") == b"do it"
    assert stdin_text(ex, "do it", "src/a.py") == b"do it\n\nTarget file: ./src/a.py"
    assert stdin_text(command(["/bin/x"]), "do it", "") is None


def test_it_builds_the_child_environment_from_the_allowlist():
    environ = {"PATH": "/bin", "HOME": "/h", "SECRET": "s", "CODEXHUB_AGENT_CONFIG": "/c", "KEY": "k"}
    ex = Executor("x", "X", "command", False, 60, ("/x",), env=("KEY", "CODEXHUB_AGENT_CONFIG"))
    assert child_env(ex, environ) == {"PATH": "/bin", "HOME": "/h", "KEY": "k"}


def test_unpair_forgets_the_ledger(tmp_path, config_path, capsys):
    with FakePairingApi() as fake:
        config.save(config_path, config.Config(hub=fake.url, host_id=12, name="box", token=TOKEN))
        Ledger(config.ledger_path(config_path)).close()
        assert config.ledger_path(config_path) == config_path.parent / "tasks.sqlite3"
        assert main(["unpair", "--config", str(config_path)]) == 0
    assert not config.ledger_path(config_path).exists()
