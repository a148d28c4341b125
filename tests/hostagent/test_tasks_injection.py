"""SECURITY.md 1.8, cases 60, 61, 62 and 70: what reaches the child process, with real processes."""

import json
import os

import pytest

from tests.kits.agent_tasks import (
    ARGV_DUMP,
    PY,
    applied,
    dumped,
    events,
    fake_program,
    finished,
    load_config,
    log_text,
    running_agent,
    toml_list,
)
from tests.kits.fakehub import TOKEN

FLAG_PROMPTS = ['-c sandbox_mode="danger-full-access"', "--help"]
SHELL_PROMPTS = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "fix it; rm -rf x",
    "line one\nline two && touch PWNED\n| tee PWNED",
]


def project(tmp_path):
    root = tmp_path / "proj"
    (root / "notes").mkdir(parents=True, exist_ok=True)
    (root / "notes" / "plan.md").write_text("# Plan\n")
    (root / "x").write_text("must survive `rm -rf x`\n")
    return root


def config_with_fakes(tmp_path, monkeypatch):
    """argv-dump behind the generic template and behind the codex and aider built-ins."""
    fakes = tmp_path / "fakebin"
    codex = fake_program(fakes, "codex", ARGV_DUMP)
    aider = fake_program(fakes, "aider", ARGV_DUMP)
    monkeypatch.setenv("PATH", f"{fakes}{os.pathsep}{os.environ['PATH']}")
    assert codex and aider
    return load_config(
        tmp_path,
        f"""
[executors.dump]
command = {toml_list([PY, ARGV_DUMP, "exec", "--", "{prompt}"])}

[executors.codex]
template = "codex"

[executors.aider]
template = "aider"
""",
    )


async def run_one(tmp_path, monkeypatch, executor, prompt, target=""):
    root = project(tmp_path)
    async with running_agent(tmp_path, config_with_fakes(tmp_path, monkeypatch), {"docs": root}) as (
        hub,
        agent,
    ):
        await agent.assign(1, "docs", executor, prompt, target)
        done = await finished(hub, 1)
    dump = json.loads(log_text(hub, 1).splitlines()[0])
    return root, done, dump


@pytest.mark.parametrize("prompt", FLAG_PROMPTS)
async def test_it_passes_a_flag_like_prompt_as_one_element_after_the_template_options(
    tmp_path, monkeypatch, prompt
):
    root, done, dump = await run_one(tmp_path, monkeypatch, "dump", prompt)
    assert done["outcome"] == "succeeded" and done["exit_code"] == 0
    assert dump["argv"] == ["exec", "--", prompt]
    assert dump["stdin"] == ""  # stdin is /dev/null: nothing waits on it
    assert dump["cwd"] == os.path.realpath(root)


@pytest.mark.parametrize("prompt", FLAG_PROMPTS)
async def test_it_glues_the_prompt_to_aiders_message_option(tmp_path, monkeypatch, prompt):
    _, done, dump = await run_one(tmp_path, monkeypatch, "aider", prompt, target="notes/plan.md")
    assert done["outcome"] == "succeeded"
    assert dump["argv"] == ["--yes", f"--message={prompt}", "--", "./notes/plan.md"]


@pytest.mark.parametrize("prompt", FLAG_PROMPTS)
async def test_it_sends_the_prompt_on_stdin_for_codex(tmp_path, monkeypatch, prompt):
    _, done, dump = await run_one(tmp_path, monkeypatch, "codex", prompt, target="notes/plan.md")
    assert done["outcome"] == "succeeded"
    assert dump["argv"] == ["exec", "--json", "-"]  # its stdout a JSON line with no event type: logged
    assert dump["stdin"] == f"{prompt}\n\nTarget file: ./notes/plan.md"


@pytest.mark.parametrize("prompt", SHELL_PROMPTS)
async def test_it_passes_shell_syntax_literally(tmp_path, monkeypatch, prompt):
    monkeypatch.chdir(tmp_path)
    root, done, dump = await run_one(tmp_path, monkeypatch, "dump", prompt)
    assert done["outcome"] == "succeeded"
    assert dump["argv"] == ["exec", "--", prompt]
    assert not list(tmp_path.rglob("PWNED"))
    assert (root / "x").read_text() == "must survive `rm -rf x`\n"


async def test_it_keeps_a_prompt_holding_a_placeholder_as_written(tmp_path, monkeypatch):
    _, _, dump = await run_one(tmp_path, monkeypatch, "dump", "write {file} and {prompt}")
    assert dump["argv"] == ["exec", "--", "write {file} and {prompt}"]


async def test_it_gives_the_child_only_the_allowed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEXHUB_HOST_TOKEN", TOKEN)
    monkeypatch.setenv("CODEXHUB_ANYTHING", "secret")
    monkeypatch.setenv("MY_API_KEY", "key-123")
    monkeypatch.setenv("NOT_LISTED", "nope")
    root = project(tmp_path)
    cfg = load_config(
        tmp_path,
        f"""
[executors.dump]
command = {toml_list([PY, ARGV_DUMP])}
env = ["MY_API_KEY"]
""",
    )
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "dump", "show me your environment")
        env = (await dumped(hub, 1))["env"]
        await finished(hub, 1)
    assert not [name for name in env if name.upper().startswith("CODEXHUB_")]
    assert TOKEN not in json.dumps(env)
    assert env["PATH"] == os.environ["PATH"]
    assert env["MY_API_KEY"] == "key-123"
    assert "NOT_LISTED" not in env
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "MY_API_KEY"}


def hostile_targets(tmp_path, root):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("secret\n")
    (root / "link-out.md").symlink_to(outside / "secret.md")
    (root / "dir-out").symlink_to(outside)
    (root / ".gitignore").write_text("ignored.md\n")
    (root / "ignored.md").write_text("ignored\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return {
        "-rf": "target file does not exist in the project",
        "--output=/etc/passwd": "target file does not exist in the project",
        "../x": "target file is outside the project",
        "/etc/passwd": "target file is outside the project",
        "notes/../../x": "target file is outside the project",
        "missing.md": "target file does not exist in the project",
        "link-out.md": "target file is outside the project",
        "dir-out/secret.md": "target file is outside the project",
        "ignored.md": "target file is not shared",
        ".git/config": "target file is not shared",
        "notes": "target is not a regular file",
        "notes//plan.md": "target is not a valid path: a path must not have empty, '.' or '..' segments",
    }


async def test_it_refuses_hostile_targets_and_runs_nothing(tmp_path, monkeypatch):
    root = project(tmp_path)
    targets = hostile_targets(tmp_path, root)
    cfg = config_with_fakes(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        for task_id, target in enumerate(targets, start=1):
            await agent.assign(task_id, "docs", "aider", "read it", target)
        for task_id in range(1, len(targets) + 1):
            await finished(hub, task_id)
    for task_id, (target, error) in enumerate(targets.items(), start=1):
        done = applied(hub, "task.finished", task_id)[0]
        assert (target, done["outcome"]) == (target, "failed")
        assert done["error"].startswith(error), (target, done["error"])
        assert events(hub, task_id) == [("task.received", task_id), ("task.finished", task_id)]
    assert applied(hub, "task.log") == []  # argv-dump never ran


async def test_it_passes_a_dash_file_as_a_dot_slash_path(tmp_path, monkeypatch):
    root = project(tmp_path)
    (root / "-rf").write_text("a file with an unlucky name\n")
    _, done, dump = await run_one(tmp_path, monkeypatch, "aider", "tidy", target="-rf")
    assert done["outcome"] == "succeeded"
    assert dump["argv"][-2:] == ["--", "./-rf"]


async def test_it_refuses_unknown_projects_executors_and_bad_prompts(tmp_path, monkeypatch):
    root = project(tmp_path)
    cfg = config_with_fakes(tmp_path, monkeypatch)
    cases = [
        ("nope", "dump", "hi", "project 'nope' is not shared by this host"),
        (
            "docs",
            "shell",
            "hi",
            "executor 'shell' is not offered by this host (it offers: aider, codex, dump)",
        ),
        ("docs", "dump", "", "the prompt must be 1-65536 characters"),
        ("docs", "dump", "x" * 65537, "the prompt must be 1-65536 characters"),
        ("docs", "dump", "a\0b", "the prompt must not contain NUL"),
    ]
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        for task_id, (proj, executor, prompt, _) in enumerate(cases, start=1):
            await agent.assign(task_id, proj, executor, prompt)
        errors = [(await finished(hub, task_id))["error"] for task_id in range(1, len(cases) + 1)]
    assert errors == [error for *_, error in cases]
    assert applied(hub, "task.started") == []
