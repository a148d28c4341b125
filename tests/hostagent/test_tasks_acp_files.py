"""What an ACP agent may read, write and run through the host agent: only inside the project root,
never in .git, at most 2 MiB; refusals are errors for the agent and notices on the timeline."""

import json
import os
import shlex
import stat
import sys

import pytest
from acp import RequestError

from hostagent.tasks.acp_client import HostClient
from hostagent.tasks.acp_files import Refused, read_text, write_text
from hostagent.tasks.acp_terminals import Terminals
from hostagent.tasks.acp_timeline import Timeline
from hostagent.tasks.executors import Executor
from tests.kits.agent_tasks import ACP_NOTES, Agent, acp_config, finished, timeline, turn_count
from tests.kits.fakehub import FakeHub

NOTES = ACP_NOTES


def project(tmp_path):
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    (root / "notes.md").write_text(NOTES)
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    return root


async def session(hub, tmp_path, cfg, root, prompt):
    """Run one turn of `prompt`, end the session; the task's finished payload."""
    agent = Agent(hub, tmp_path, cfg, {"docs": root})
    await agent.ready()
    await agent.assign(1, "docs", "agent", prompt)
    await turn_count(hub, 1, "waiting", 1)
    await agent.tell("task.end", 1)
    done = await finished(hub, 1)
    await agent.stop()
    return done


def notices(hub):
    return [(e["text"], e["level"]) for e in timeline(hub, 1).values() if e["kind"] == "notice"]


def said(hub):
    return "".join(e["text"] for e in timeline(hub, 1).values() if e["kind"] == "agent")


async def test_writes_outside_the_project_or_into_git_are_refused_and_the_session_goes_on(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("ACP_TEST_LOG", raising=False)
    root = project(tmp_path)
    outside = tmp_path / "outside.txt"
    prompt = "\n".join(
        [
            f"write {outside} := absolute",
            "write ../outside.txt := dot-dot",
            "write sub/../../outside.txt := through a new folder",
            "write link/escape.txt := through a symlink",
            "write .git/config := into git",
            "read /etc/hostname",
            "write ok/new.md := fine",
        ]
    )
    async with FakeHub() as hub:
        done = await session(hub, tmp_path, acp_config(tmp_path), root, prompt)
    assert not outside.exists() and not (tmp_path / "elsewhere" / "escape.txt").exists()
    assert (root / ".git").is_dir() and not (root / ".git" / "config").exists()
    assert (root / "ok" / "new.md").read_text() == "fine\n"
    assert [(c["path"], c["op"]) for c in done["changes"]] == [("ok/new.md", "created")]
    assert done["outcome"] == "succeeded"
    assert notices(hub) == [
        (f"refused to write {outside}: outside the project", "error"),
        (f"refused to write {root / '../outside.txt'}: outside the project", "error"),
        (f"refused to write {root / 'sub/../../outside.txt'}: outside the project", "error"),
        (f"refused to write {root / 'link/escape.txt'}: outside the project", "error"),
        (f"refused to write {root / '.git/config'}: inside .git", "error"),
        ("refused to read /etc/hostname: outside the project", "error"),
    ]
    assert f"could not write .git/config: refused to write {root / '.git/config'}: inside .git" in said(hub)
    assert "could not read /etc/hostname: refused to read /etc/hostname: outside the project" in said(hub)
    statuses = [e["status"] for e in timeline(hub, 1).values() if e["kind"] == "tool"]
    assert statuses == ["failed"] * 6 + ["completed"]


async def test_a_terminal_runs_in_the_root_with_the_allowlisted_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("ACP_TEST_LOG", raising=False)
    monkeypatch.setenv("CODEXHUB_SECRET", "host token")
    monkeypatch.setenv("NOT_LISTED", "x")
    monkeypatch.setenv("LISTED", "y")
    root = project(tmp_path)
    dump = "import json, os; print(json.dumps({'cwd': os.getcwd(), 'env': dict(os.environ)}))"
    prompt = "\n".join(
        [
            "env FROM_AGENT=1",
            "env CODEXHUB_SMUGGLED=1",
            f"run {shlex.quote(sys.executable)} -c {shlex.quote(dump)}",
            f"run-in {tmp_path} pwd",
            "run-in link pwd",
            "run-in notes.md pwd",
        ]
    )
    async with FakeHub() as hub:
        await session(hub, tmp_path, acp_config(tmp_path, env=["LISTED"]), root, prompt)
    items = timeline(hub, 1)
    ran = json.loads(items["tool:call_1"]["text"])
    assert items["tool:call_1"]["tool_kind"] == "execute" and items["tool:call_1"]["status"] == "completed"
    assert ran["cwd"] == str(root)
    assert set(ran["env"]) <= {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LISTED", "FROM_AGENT"}
    assert (ran["env"]["LISTED"], ran["env"]["FROM_AGENT"]) == ("y", "1")
    assert notices(hub) == [
        (f"refused to run pwd: outside the project (in {tmp_path})", "error"),
        (f"refused to run pwd: outside the project (in {root / 'link'})", "error"),
        (f"refused to run pwd: not a folder (in {root / 'notes.md'})", "error"),
    ]


async def test_no_terminal_is_offered_when_the_executor_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("ACP_TEST_LOG", raising=False)
    root = project(tmp_path)
    async with FakeHub() as hub:
        await session(hub, tmp_path, acp_config(tmp_path, terminal=False), root, "run pwd")
    assert said(hub) == "could not run pwd: Method not found"


# The client and the file functions, in process -----------------------------------------------


class Sent(list):
    async def __call__(self, type_, payload):
        self.append((type_, payload))


@pytest.fixture
async def client(tmp_path):
    root = project(tmp_path)
    sent = Sent()
    executor = Executor("agent", "Agent", "acp", False, 60)
    timeline = Timeline(1, str(root), sent)
    client = HostClient(str(root), executor, timeline, Terminals(str(root), executor))
    client.session_id = "s1"
    yield client, root, sent
    await timeline.close()


async def refusal(client, call):
    with pytest.raises(RequestError) as info:
        await call
    await client.timeline.close()
    return info.value


async def test_a_relative_path_is_refused(client):
    client, root, sent = client
    error = await refusal(client, client.write_text_file("s1", "notes.md", "x"))
    assert (error.code, str(error)) == (-32602, "refused to write notes.md: path must be absolute")
    assert sent[-1][1]["data"] == {
        "text": "refused to write notes.md: path must be absolute",
        "level": "error",
    }
    assert (root / "notes.md").read_text() == NOTES


async def test_a_write_over_2_mib_is_refused(client):
    client, root, sent = client
    error = await refusal(
        client, client.write_text_file("s1", str(root / "big.md"), "x" * (2 * 1024 * 1024 + 1))
    )
    assert str(error).endswith("big.md: larger than 2 MiB")
    assert not (root / "big.md").exists()
    await client.write_text_file("s1", str(root / "big.md"), "é" * (1024 * 1024))  # 2 MiB of UTF-8: fine


async def test_another_session_and_missing_files_are_errors_without_a_notice(client):
    client, root, sent = client
    with pytest.raises(RequestError):
        await client.read_text_file("s2", str(root / "notes.md"))
    with pytest.raises(RequestError) as info:
        await client.read_text_file("s1", str(root / "missing.md"))
    await client.timeline.close()
    assert info.value.code == -32002
    assert sent == []


def test_reads_honour_line_and_limit_and_refuse_large_files(tmp_path):
    root = str(project(tmp_path))
    (tmp_path / "proj" / "lines.txt").write_text("one\ntwo\nthree\nfour\n")
    path = os.path.join(root, "lines.txt")
    assert read_text(root, path) == "one\ntwo\nthree\nfour\n"
    assert read_text(root, path, line=2, limit=2) == "two\nthree\n"
    assert read_text(root, path, line=3) == "three\nfour\n"
    assert read_text(root, path, limit=1) == "one\n"
    (tmp_path / "proj" / "big.bin").write_bytes(b"x" * (2 * 1024 * 1024 + 1))
    with pytest.raises(Refused, match="larger than 2 MiB"):
        read_text(root, os.path.join(root, "big.bin"))
    os.mkfifo(os.path.join(root, "pipe"))
    with pytest.raises(Refused, match="not a regular file"):
        read_text(root, os.path.join(root, "pipe"))


def test_writes_keep_the_mode_create_folders_and_leave_no_temporary_file(tmp_path):
    root = str(project(tmp_path))
    script = os.path.join(root, "run.sh")
    with open(script, "w") as f:
        f.write("old\n")
    os.chmod(script, 0o750)
    write_text(root, script, "new\n")
    assert open(script).read() == "new\n" and stat.S_IMODE(os.stat(script).st_mode) == 0o750
    write_text(root, os.path.join(root, "a", "b", "c.md"), "deep\n")
    assert open(os.path.join(root, "a", "b", "c.md")).read() == "deep\n"
    assert sorted(os.listdir(root)) == [".git", "a", "link", "notes.md", "run.sh"]
    with pytest.raises(Refused, match="not a path"):
        write_text(root, os.path.join(root, "nul\0.md"), "x")
    with pytest.raises(Refused, match="not a regular file"):
        write_text(root, os.path.join(root, "a"), "x")
