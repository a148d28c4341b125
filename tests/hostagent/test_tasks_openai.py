"""The `openai` executor against a local chat-completions server (a loopback server)."""

import json
import threading

import pytest

from hostagent.tasks.openai_backend import unfence
from tests.kits.agent_mirror import write
from tests.kits.agent_tasks import applied, finished, load_config, log_text, running_agent
from tests.kits.loopback import LoopbackServer, json_reply

KEY = "sk-test-0123456789-secret"
ORIGINAL = "# Todo\n\nbuy milk\n"
NEW = "# Todo\n\n- buy milk\n- buy bread\n"


class FakeModel(LoopbackServer):
    """POST /v1/chat/completions: records requests, answers with `reply` (status, body)."""

    def __init__(self):
        super().__init__()
        self.reply = (
            200,
            {"choices": [{"message": {"role": "assistant", "content": f"```markdown\n{NEW}```"}}]},
        )
        self.release = threading.Event()
        self.hold = False

    @property
    def requests(self):
        """(path, Authorization, JSON body) of each request."""
        with self.lock:
            return [(r.path, r.headers.get("authorization"), r.json()) for r in self.received]

    @property
    def url(self):
        return f"{super().url}/v1"

    def answer(self, request):
        if self.hold:
            self.release.wait(10)
        status, answer = self.reply
        return json_reply(answer, status)

    def stop(self):
        self.release.set()
        super().stop()


def setup(tmp_path, monkeypatch, model, timeout=30):
    monkeypatch.setenv("TEST_MODEL_KEY", KEY)
    root = tmp_path / "proj"
    write(root, "todo.md", ORIGINAL)
    cfg = load_config(
        tmp_path,
        f"""
[executors.local]
type = "openai"
label = "Local model"
base_url = "{model.url}"
model = "test-model"
api_key_env = "TEST_MODEL_KEY"
timeout = {timeout}
""",
    )
    return cfg, root


async def run(tmp_path, cfg, root, target="todo.md", cancel_after_request=None):
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "local", "add bread, as a list", target)
        if cancel_after_request is not None:
            from tests.kits.fakehub import wait_for

            await wait_for(lambda: cancel_after_request.requests, what="the request")
            await agent.cancel(1)
        done = await finished(hub, 1)
    return hub, done


async def test_it_rewrites_the_file_with_the_models_answer(tmp_path, monkeypatch):
    with FakeModel() as model:
        cfg, root = setup(tmp_path, monkeypatch, model)
        hub, done = await run(tmp_path, cfg, root)
    (path, auth, body), *_ = model.requests
    assert (path, auth, body["model"]) == ("/v1/chat/completions", f"Bearer {KEY}", "test-model")
    system, user = body["messages"]
    assert system["role"] == "system" and "complete new content" in system["content"]
    assert user["role"] == "user"
    assert "add bread, as a list" in user["content"] and "todo.md" in user["content"]
    assert ORIGINAL in user["content"]
    assert (root / "todo.md").read_text() == NEW
    assert (done["outcome"], done["error"], done["exit_code"]) == ("succeeded", None, None)
    (change,) = done["changes"]
    assert change["path"] == "todo.md" and change["op"] == "modified"
    assert "\n-buy milk\n+- buy milk\n+- buy bread\n" in change["diff"]
    text = log_text(hub, 1)
    assert "test-model" in text and f"{model.url}/chat/completions" in text and "wrote todo.md" in text
    assert KEY not in json.dumps(hub.applied_messages)
    assert [p.name for p in root.iterdir()] == ["todo.md"]  # no temp file left


async def test_it_fails_with_the_status_on_an_http_error_and_never_shows_the_key(tmp_path, monkeypatch):
    with FakeModel() as model:
        model.reply = (500, f"upstream broke for key {KEY}")
        cfg, root = setup(tmp_path, monkeypatch, model)
        hub, done = await run(tmp_path, cfg, root)
    assert done["outcome"] == "failed"
    assert done["error"].startswith("the endpoint answered HTTP 500: 'upstream broke for key [api key]")
    assert (root / "todo.md").read_text() == ORIGINAL
    assert KEY not in json.dumps(hub.applied_messages)


@pytest.mark.parametrize(
    "reply, error",
    [
        ("not json", "the endpoint's answer has no choices[0].message.content: 'not json'"),
        ({"choices": []}, "the endpoint's answer has no choices[0].message.content"),
    ],
)
async def test_it_fails_clearly_on_a_bad_answer(tmp_path, monkeypatch, reply, error):
    with FakeModel() as model:
        model.reply = (200, reply)
        cfg, root = setup(tmp_path, monkeypatch, model)
        _, done = await run(tmp_path, cfg, root)
    assert done["outcome"] == "failed" and done["error"].startswith(error)
    assert (root / "todo.md").read_text() == ORIGINAL


async def test_it_times_out_and_can_be_cancelled(tmp_path, monkeypatch):
    with FakeModel() as model:
        model.hold = True
        cfg, root = setup(tmp_path, monkeypatch, model, timeout=1)
        _, timed_out = await run(tmp_path, cfg, root)
    with FakeModel() as model:
        model.hold = True
        cfg, root = setup(tmp_path / "2", monkeypatch, model)
        _, cancelled = await run(tmp_path / "2", cfg, root, cancel_after_request=model)
    assert (timed_out["outcome"], timed_out["error"]) == ("failed", "timed out after 1 s")
    assert cancelled["outcome"] == "cancelled"
    assert (root / "todo.md").read_text() == ORIGINAL


async def test_it_refuses_a_target_that_is_a_symlink_or_binary(tmp_path, monkeypatch):
    with FakeModel() as model:
        cfg, root = setup(tmp_path, monkeypatch, model)
        (root / "link.md").symlink_to("todo.md")
        write(root, "data.bin", b"\0\1\2")
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "local", "rewrite", "link.md")
            await agent.assign(2, "docs", "local", "rewrite", "data.bin")
            await agent.assign(3, "docs", "local", "rewrite")
            results = [await finished(hub, task_id) for task_id in (1, 2, 3)]
    assert [r["error"] for r in results] == [
        "target file is a symlink",
        "data.bin is not a text file (UTF-8 without NUL)",
        "executor 'local' needs a target file",
    ]
    assert model.requests == []
    assert applied(hub, "task.started") == [{"task_id": 2, "branch": None, "base": None, "base_commit": None}]


def test_it_unwraps_only_a_reply_that_is_one_fenced_block():
    assert unfence("```python\nprint(1)\n```") == "print(1)\n"
    assert unfence("  ```\na\n```\n") == "a\n"
    assert unfence("text\n```\na\n```") == "text\n```\na\n```"
    assert unfence("```\na\n```\nmid\n```\nb\n```") == "```\na\n```\nmid\n```\nb\n```"
    assert unfence("plain") == "plain"
