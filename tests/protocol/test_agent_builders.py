"""What the agent builds, read back by the hub's models: the agent never
sends what the hub would refuse, and nothing it sends is cut on the way in
(it cuts first, the way its users can see)."""

import json
import os
import subprocess
import sys

import acp
import pytest
from acp.schema import ToolCallLocation

from hostagent.link import HostLink
from hostagent.mirror.batches import BatchBuilder, restore_batch
from hostagent.mirror.diff import snapshot
from hostagent.mirror.scan import Scanner
from hostagent.outbox import Outbox
from hostagent.tasks.acp_timeline import Timeline
from hostagent.tasks.changes import compare, take_snapshot
from hostagent.tasks.executors import offered
from hostagent.tasks.output import TaskLog as AgentLog
from hostagent.tasks.service import InvalidReport, checked
from protocol import limits
from protocol.link import Hello
from protocol.mirror import MirrorBatch, MirrorProjects
from protocol.sessions import TaskItem, TaskPermission, TaskTurn
from protocol.tasks import TaskFinished, TaskLog
from tests.hostagent.conftest import ROOT
from tests.kits.agent_mirror import make_mirror, write
from tests.kits.agent_tasks import load_config
from tests.kits.fakehub import FakeHub, start_link, stop_link, wait_for
from tests.kits.protocol_checks import wire


def read_back(model, payload: dict) -> dict:
    """The payload as the hub's model keeps it, from the JSON the agent sends."""
    return model.model_validate(wire(payload)).model_dump(mode="json")


# hello and the mirror ------------------------------------------------------------------------------


def hello_as_kept(payload: dict) -> dict:
    """hello as the hub keeps it: an executor that is not codex's lists no models, one that is not
    a computer no actions, and one no model drives takes no goal."""
    kept = [{"models": [], "actions": [], "goal": False, **executor} for executor in payload["executors"]]
    return {**payload, "executors": kept}


def test_hello_with_every_kind_of_executor(tmp_path):
    cfg = load_config(
        tmp_path,
        '[executors.aider]\ncommand = ["aider", "{prompt}"]\nlabel = "Aider édition"\nneeds_file = true\n'
        '[executors.web]\ntype = "browser"\nallowed_sites = ["example.com"]\nchannel = "chrome"\n'
        '[executors.codex]\ntype = "acp"\ncommand = ["codex-acp"]\n'
        '[executors.threads]\ntype = "codex"\n'
        '[executors.local]\ntype = "openai"\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\n'
        '[executors.desk]\ntype = "computer"\nactions = ["screenshot", "click"]\n'
        '[executors.pilot]\ntype = "computer"\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "cua"\n',
    )
    link = HostLink("http://127.0.0.1:1", "t", Outbox(tmp_path / "o.sqlite3"), platform="linux-x86_64")
    link.capabilities = ["agent", "browser", "mirror"]
    link.executors = [executor.describe() for executor in offered(cfg, which=lambda _: None).values()]
    payload = link.hello_payload()
    assert read_back(Hello, payload) == hello_as_kept(payload)
    assert {e["kind"] for e in payload["executors"]} == set(limits.EXECUTOR_KINDS)
    assert [e.get("goal") for e in payload["executors"] if e["kind"] == "computer"] == [None, True]
    link.outbox.close()


def test_hello_names_the_variables_an_executor_gets_and_lacks_within_what_the_hub_takes(
    tmp_path, monkeypatch
):
    many = [f"MY_VARIABLE_{n}" for n in range(40)] + ["V" * 65]  # the config takes these; the hub not all
    for name in many:
        monkeypatch.setenv(name, "secret value")
    for name in ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_config(
        tmp_path,
        '[executors.codex]\ntemplate = "codex"\n'
        f'[executors.many]\ncommand = ["x"]\nenv = {json.dumps(many)}\n',
    )
    link = HostLink("http://127.0.0.1:1", "t", Outbox(tmp_path / "o.sqlite3"), platform="linux-x86_64")
    link.executors = [executor.describe() for executor in offered(cfg, which=lambda _: None).values()]
    payload = link.hello_payload()
    assert read_back(Hello, payload) == hello_as_kept(payload)
    codex, spread = payload["executors"]
    assert codex["env_missing"] == ["OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME"]
    assert spread["env"] == many[:32] and "secret value" not in json.dumps(payload)
    link.outbox.close()


async def test_the_mirror_sends_projects_and_batches_the_hub_takes(tmp_path):
    root = tmp_path / "proj"
    write(root, "readme.md", "# Héllo\n")
    write(root, "日本語/ファイル.md", "テキスト")
    write(root, "nul.txt", b"text\x00with nul")
    write(root, "latin1.txt", "caf\xe9".encode("latin-1"))
    write(root, "big.txt", "a" * (limits.MAX_TEXT + 1))
    write(root, "exact.txt", "c" * limits.MAX_TEXT)
    write(root, "controls.txt", "\x01\x1b[2J\u202e")
    write(root, os.fsdecode(b"bad\xffname.txt"), "skipped: not UTF-8")
    write(root, "tab\tname.txt", "skipped: a control character")
    (root / "dir").mkdir()
    (root / "inside").symlink_to(root / "readme.md")
    (root / "outside").symlink_to("/etc/passwd")
    mirror, link = make_mirror(tmp_path, {"docs": root, "Café ☕": tmp_path / "empty"})
    await mirror.on_welcome()
    await mirror.idle()
    [projects] = [p for _, t, p in link.sent if t == "mirror.projects"]
    assert read_back(MirrorProjects, projects) == projects
    batches = link.batches()
    assert batches
    for payload in batches:
        kept = read_back(MirrorBatch, json.loads(payload.json))
        assert kept["changes"] == [read_back_change(c) for c in payload["changes"]]
    paths = {c["path"] for b in batches for c in b["changes"]}
    assert {"readme.md", "日本語/ファイル.md", "nul.txt", "big.txt", "inside", "outside", "dir"} <= paths
    assert not any("bad" in p or "\t" in p for p in paths)
    mirror.index.close()


def read_back_change(change: dict) -> dict:
    """A change as the hub keeps it: the fields the agent left out take their defaults."""
    defaults = {"kind": None, "size": None, "mtime": None, "hash": "", "text": None, "binary": False,
                "too_large": False, "target_inside": None}  # fmt: skip
    return {**defaults, **change}


def test_a_batch_restored_from_the_outbox_is_taken_too(tmp_path):
    root = tmp_path / "proj"
    write(root, "a.md", "one")
    write(root, "b.md", "two")
    builder = BatchBuilder("docs", snapshot(Scanner(str(root)).scan(hash_files=False).entries), reset=True)
    payload = builder.next_batch()
    write(root, "b.md", "changed since")  # its resend goes as metadata
    restored = restore_batch("mirror.batch", json.loads(payload.stored))
    MirrorBatch.model_validate(wire(restored))
    MirrorBatch.model_validate(json.loads(payload.json))


# Tasks ----------------------------------------------------------------------------------------------


def test_task_reports_go_through_the_models(tmp_path):
    assert checked("task.received", {"task_id": 4}) == {"task_id": 4}
    log = {"task_id": 4, "seq": 1, "text": "out\x00put"}
    assert checked("task.log", log)["text"] == "out\ufffdput"  # the hub would have replaced it the same way
    with pytest.raises(InvalidReport, match="task.log: seq: must be greater than 0"):
        checked("task.log", {"task_id": 4, "seq": 0, "text": ""})
    with pytest.raises(InvalidReport, match="task_id: must be an integer"):
        checked("task.started", {"task_id": True})


async def test_log_pieces_are_taken_whole():
    sent = []

    async def send(payload):
        sent.append(checked("task.log", payload))

    log = AgentLog(send, 4, cap=200_000)
    log.feed("é".encode() * 40_000 + b"\xff\xfe bad bytes \x00 and NUL")
    await log.flush(final=True)
    assert sent and all(read_back(TaskLog, piece) == piece for piece in sent)
    assert all(len(piece["text"].encode()) <= limits.MAX_LOG_PIECE for piece in sent)


def test_a_finished_report_with_the_changes_of_a_real_run(tmp_path):
    root = tmp_path / "proj"
    write(root, "a.md", "old\n")
    write(root, "gone.md", "bye\n")
    write(root, "logo.png", b"\x89PNG\x00\x00")
    before = take_snapshot(str(root))
    write(root, "a.md", "new\n" * 50_000)
    (root / "gone.md").unlink()
    write(root, "logo.png", b"\x89PNG\x00\x01")
    write(root, "new/é.md", "hi")
    changes, _ = compare(before)
    steps = [
        {"index": 0, "action": "open", "ok": True, "error": "", "text": None, "artifact": None},
        {"index": 1, "action": "screenshot", "ok": False, "error": 'step 2 (screenshot): "x"' * 30,
         "text": None, "artifact": "step-1.png"},
    ]  # fmt: skip
    payload = {
        "task_id": 9, "outcome": "failed", "exit_code": None, "error": "interrupted", "duration": 1.25,
        "log_truncated": False, "changes": changes, "steps": steps,
    }  # fmt: skip
    sent = checked("task.finished", payload)
    assert read_back(TaskFinished, sent) == sent
    assert {c["path"] for c in sent["changes"]} == {"a.md", "gone.md", "logo.png", "new/é.md"}


# Sessions -------------------------------------------------------------------------------------------


class Sent(list):
    async def __call__(self, type_, payload):
        self.append((type_, checked(type_, payload)))


async def test_timeline_items_and_turns_are_taken_whole(tmp_path):
    sent = Sent()
    timeline = Timeline(3, str(tmp_path), sent)
    timeline.user("Do it\x00 \ud800" + "u" * 70_000, None)
    timeline.update(acp.update_agent_message_text("Hello \udfff" + "a" * 40_000))
    timeline.update(acp.update_agent_thought_text("Hmm"))
    timeline.update(
        acp.start_tool_call(
            "c1" * 50,
            "T\x00" * 200,
            kind="edit",
            status="in_progress",
            locations=[ToolCallLocation(path=str(tmp_path / f"f{n}.md")) for n in range(30)],
        )
    )
    timeline.notice("refused to write /etc/hosts: outside the project " * 20, "error")
    timeline.turn("waiting", None, "end_turn")
    await timeline.close()
    models = {"task.item": TaskItem, "task.turn": TaskTurn}
    for type_, payload in sent:
        assert read_back(models[type_], payload) == payload, type_
    assert {p["kind"] for t, p in sent if t == "task.item"} == {"user", "agent", "thought", "tool", "notice"}


async def test_a_permission_request_with_odd_options_is_taken(tmp_path):
    from acp.schema import PermissionOption, ToolCallUpdate

    from hostagent.tasks.acp_client import Permissions

    cfg = load_config(tmp_path, '[executors.codex]\ntype = "acp"\ncommand = ["codex-acp"]\n')
    executor = offered(cfg, which=lambda _: None)["codex"]
    sent = Sent()
    timeline = Timeline(3, str(tmp_path), sent)
    permissions = Permissions(executor, timeline)
    options = [
        PermissionOption(option_id="allow", name="Allow\x00" + "n" * 100, kind="allow_once"),
        PermissionOption(option_id="lone\ud800", name="never offered", kind="allow_always"),
        PermissionOption(option_id="x" * 65, name="too long to answer", kind="allow_always"),
        PermissionOption(option_id="allow", name="the same id again", kind="reject_once"),
        PermissionOption(option_id="reject", name="", kind="reject_once"),
    ]
    asking = asyncio_task(permissions.ask(ToolCallUpdate(tool_call_id="c1", title="Edit"), options))
    await wait_for(lambda: any(t == "task.permission" for t, _ in sent), 5, "the request")
    permissions.cancel_all()
    await asking
    await timeline.close()
    [(_, request)] = [(t, p) for t, p in sent if t == "task.permission"]
    assert read_back(TaskPermission, request) == request
    assert [o["option_id"] for o in request["options"]] == ["allow", "reject"]


def asyncio_task(coro):
    import asyncio

    return asyncio.ensure_future(coro)


# The fake hub checks with the same models -----------------------------------------------------------


async def test_the_fake_hub_refuses_what_the_hub_would(tmp_path):
    async with FakeHub() as hub:
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        await wait_for(lambda: link.welcomed, what="the welcome")
        await link.send("tasks", "task.log", {"task_id": True, "seq": 1, "text": "x"})
        await wait_for(lambda: hub.invalid, what="the refusal")
        await stop_link(link, task)
        assert hub.invalid == ["task.log: task_id: must be an integer"]
        hub.invalid.clear()


def test_the_agent_starts_without_pydantic():
    """pydantic and the models cost ~0.1 s to import: the agent pays it on its first task,
    not before its first mirror sync (bench/mirror.py)."""
    code = (
        "import sys, hostagent.__main__\n"
        "from hostagent.link import HostLink\n"
        "from hostagent.mirror.sync import Mirror\n"
        "from hostagent.tasks.service import TaskService\n"
        "assert 'pydantic' not in sys.modules, sorted(m for m in sys.modules if 'pydantic' in m)[:3]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


async def test_a_report_the_hub_would_refuse_ends_the_task_failed(tmp_path, monkeypatch):
    from hostagent.tasks.executors import RunResult
    from hostagent.tasks.ledger import Ledger
    from hostagent.tasks.service import TaskService

    cfg = load_config(tmp_path, "")
    sent = []

    class Link:
        async def send(self, stream, type_, payload):
            sent.append((type_, payload))

    service = TaskService(cfg.tasks, {}, {}, Ledger(tmp_path / "tasks.sqlite3", owner="test"))
    service.link = Link()
    service.ledger.add(5, "running")
    bad_change = {"path": "../outside", "op": "modified", "diff": None, "binary": False, "too_large": False}
    await service._finish(5, RunResult("succeeded", 0), changes=[bad_change])
    [(type_, payload)] = sent
    assert (type_, payload["outcome"], payload["changes"]) == ("task.finished", "failed", [])
    said = "the agent could not report how the task ended (task.finished: changes.0.path: a path must not"
    assert payload["error"].startswith(said)
    assert service.ledger.state(5) == "finished"
