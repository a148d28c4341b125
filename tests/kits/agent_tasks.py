"""Helpers for the task tests: an in-process agent (HostLink + TaskService) against a FakeHub,
reading what the hub applied on stream `tasks`, the fake CLIs in tests/bin, for the browser
executor a small site on loopback (plus one that must never be reached) and the agent's browser
processes (psutil), and for `acp` executors the scripted agent tests/bin/acp_agent.py and the
session messages a hub sends."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil

from hostagent import config
from hostagent.config import Config
from hostagent.tasks.executors import offered
from hostagent.tasks.ledger import Ledger
from hostagent.tasks.service import TaskService
from tests.hostagent.conftest import ROOT
from tests.kits.agent_toml import executor_toml
from tests.kits.fakehub import TOKEN, FakeHub, start_link, stop_link, wait_for
from tests.kits.gated_page import Gate
from tests.kits.loopback import LoopbackServer, Reply, Request, html_reply, redirect_reply

BIN = ROOT / "tests" / "bin"
ARGV_DUMP = str(BIN / "argv-dump")
BULLETIZE = str(BIN / "bulletize")
ACP_AGENT = str(BIN / "acp_agent.py")
PY = sys.executable  # the fake CLIs run with it: no dependence on a python3 on the child's PATH
NO_ENV = {"env": [], "env_missing": []}  # hello's executor that passes none of its own variables, lacks none


def toml_list(items: list[str]) -> str:
    return json.dumps(items)  # a JSON list of strings is a TOML array


def load_config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "cfg" / "agent.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('hub = "http://127.0.0.1:1"\nname = "box"\n' + text, encoding="utf-8")
    loaded = config.load(path)
    assert loaded is not None
    return loaded


def fake_program(folder: Path, name: str, script: str) -> str:
    """An executable `folder/name` running `script` (argv-dump, bulletize) with this Python."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\nexec "{PY}" "{script}" "$@"\n')
    path.chmod(0o755)
    return str(path)


class Agent:
    """A HostLink with a TaskService attached, running in this event loop."""

    def __init__(
        self,
        hub: FakeHub,
        tmp_path: Path,
        cfg: Config,
        projects: dict[str, Path],
        *,
        uploads_to: str | None = None,
    ):
        """`uploads_to`: the hub's HTTP URL for browser-task artifacts (e.g. a FakeArtifactApi's)."""
        self.hub = hub
        self.ledger = Ledger(tmp_path / "tasks.sqlite3", owner="test")
        roots = {name: str(root) for name, root in projects.items()}
        self.service = TaskService(
            cfg.tasks,
            offered(cfg, which=lambda _: None),
            roots,
            self.ledger,
            hub=uploads_to or hub.url,
            token=TOKEN,
        )
        self.link, self.task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        self.service.attach(self.link)

    async def ready(self) -> None:
        await wait_for(lambda: self.link.welcomed, what="the welcome")

    async def assign(
        self, task_id: int, project: str, executor: str, prompt: str, target: str = "", steps: Any = None
    ) -> None:
        task = {"id": task_id, "project": project, "executor": executor, "prompt": prompt, "target": target}
        if steps is not None:
            task["steps"] = steps
        await self.hub.connections[-1].send({"type": "task.assign", "task": task})

    async def cancel(self, task_id: int) -> None:
        await self.hub.connections[-1].send({"type": "task.cancel", "task_id": task_id})

    async def tell(self, type_: str, task_id: int, **fields: Any) -> None:
        """A session message from the hub: task.message, task.answer, task.interrupt or task.end."""
        await self.hub.connections[-1].send({"type": type_, "task_id": task_id, **fields})

    async def stop(self) -> None:
        await self.service.stop()
        await stop_link(self.link, self.task)
        self.ledger.close()


@contextlib.asynccontextmanager
async def running_agent(
    tmp_path: Path, cfg: Config, projects: dict[str, Path], **options: Any
) -> AsyncIterator[tuple[FakeHub, Agent]]:
    """A FakeHub and an Agent it has welcomed (`options` as Agent takes them);
    the agent stops on the way out, before the hub does."""
    async with FakeHub() as hub:
        agent = Agent(hub, tmp_path, cfg, projects, **options)
        await agent.ready()
        try:
            yield hub, agent
        finally:
            await agent.stop()


def applied(hub: FakeHub, type_: str | None = None, task_id: int | None = None) -> list[dict[str, Any]]:
    """Payloads the hub applied on stream `tasks` (each once, in order), by type and task."""
    return [
        m["payload"]
        for m in hub.applied_messages
        if m.get("stream") == "tasks"
        and (type_ is None or m["type"] == type_)
        and (task_id is None or m["payload"].get("task_id") == task_id)
    ]


def events(hub: FakeHub, task_id: int | None = None) -> list[tuple[str, int]]:
    """(type, task_id) of every applied tasks message, in order."""
    return [
        (m["type"], m["payload"]["task_id"])
        for m in hub.applied_messages
        if m.get("stream") == "tasks" and (task_id is None or m["payload"]["task_id"] == task_id)
    ]


def log_text(hub: FakeHub, task_id: int) -> str:
    pieces = applied(hub, "task.log", task_id)
    assert [p["seq"] for p in pieces] == list(range(1, len(pieces) + 1))
    return "".join(p["text"] for p in pieces)


async def finished(hub: FakeHub, task_id: int, timeout: float = 10.0) -> dict[str, Any]:
    done = await wait_for(
        lambda: applied(hub, "task.finished", task_id), timeout, f"task {task_id} to finish"
    )
    return done[0]


def dumps(text: str) -> list[dict[str, Any]]:
    """The JSON lines argv-dump printed."""
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"argv"')]


async def dumped(hub: FakeHub, task_id: int, timeout: float = 10.0) -> dict[str, Any]:
    """argv-dump's line, once it reached the hub (the process runs)."""
    found = await wait_for(lambda: dumps(log_text(hub, task_id)), timeout, f"argv-dump of task {task_id}")
    return found[0]


def group_alive(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of process group `pgid`."""
    alive = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return alive


# Browser tasks ---------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"

FORM = """<!doctype html><html><head><title>Order</title></head><body>
<form action="/result" method="get">
  <label>Name <input id="name" name="name"></label>
  <select id="size" name="size"><option value="S">Small</option><option value="L">Large</option></select>
  <button type="submit">Send</button>
</form>
<p id="note" data-kind="order-form">Fill in the form</p>
<p id="hidden" style="display:none">Hidden</p>
<a id="away" href="{elsewhere}/x">elsewhere</a>
<a id="file" href="/file.txt" download="report.txt">report</a>
</body></html>"""

PICTURES = """<!doctype html><html><body>
<p id="ready">pictures</p>
<img src="http://169.254.169.254/x.png">
<img src="{elsewhere}/img.png">
<script>
  function mark(id) {{ const p = document.createElement("p"); p.id = id; p.textContent = id;
                       document.body.appendChild(p); }}
  fetch("{elsewhere}/api").catch(() => null).then(() => mark("fetched"));
  try {{
    const ws = new WebSocket("{ws}/socket");
    ws.onclose = () => mark("socket-closed");
  }} catch (e) {{ mark("socket-closed"); }}
</script>
</body></html>"""


# A page ten viewports tall of pixels that compress badly: its full-page PNG is about four times
# its viewport's (115 KB and 28 KB with Chromium 156).
NOISE = """<!doctype html><html><body style="margin:0">
<canvas id="c" width="300" height="3000"></canvas>
<script>
  const c = document.getElementById("c").getContext("2d"), img = c.createImageData(300, 3000);
  let x = 12345;
  for (let i = 0; i < img.data.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    img.data[i] = i % 4 == 3 ? 255 : x >> 16;
  }
  c.putImageData(img, 0, 0);
</script>
</body></html>"""


# A page that tries to install a service worker (whose requests Playwright would not route).
WORKER_PAGE = """<p id="worker">pending</p><script>
const out = document.getElementById("worker");
if (!("serviceWorker" in navigator)) { out.textContent = "unavailable"; }
else navigator.serviceWorker.register("/sw.js")
  .then(() => navigator.serviceWorker.getRegistrations(), () => [])
  .then((registrations) => { out.textContent = "registrations: " + registrations.length; });
</script>"""


class Site(LoopbackServer):
    """Records every request's path; answers the pages the tests need."""

    def __init__(self, other: Site | None = None):
        super().__init__()
        self.other = other  # the site that must never be reached
        self.gate = Gate()  # /later shows "Released" once the test opens it

    def clear(self) -> None:
        super().clear()
        self.gate.close()

    def seen(self) -> list[str]:
        """Paths requested so far, but not the favicon the browser asks for by itself."""
        with self.lock:
            return [r.path for r in self.received if r.path != "/favicon.ico"]

    def answer(self, request: Request) -> Reply:
        path, query = request.route, request.query
        gated = self.gate.answer(path)
        if gated is not None:
            return gated
        elsewhere = self.other.url if self.other else "http://127.0.0.1:9"
        if path == "/form":
            return _page(FORM.format(elsewhere=elsewhere))
        if path == "/result":
            name = query.get("name", "").replace("<", "&lt;")
            return _page(f'<p id="result">Thanks, {name}</p><p id="size">{query.get("size", "")}</p>')
        if path == "/go-away":
            return redirect_reply("http://evil.example/")
        if path == "/go-elsewhere":
            return redirect_reply(f"{elsewhere}/landing")
        if path == "/pictures":
            return _page(PICTURES.format(elsewhere=elsewhere, ws=elsewhere.replace("http:", "ws:")))
        if path == "/noise":
            return _page(NOISE)
        if path == "/worker":
            return _page(WORKER_PAGE)
        if path == "/sw.js":
            body = b"self.addEventListener('fetch', (event) => event.respondWith(fetch(event.request)));"
            return Reply(200, body, {"Content-Type": "text/javascript"})
        if path == "/slow":
            time.sleep(float(query.get("seconds", "3")))  # a page that loads slowly, not a test waiting
            return _page("<p>slow</p>")
        if path == "/login":
            cookie = f"user={query.get('user', '')}; Max-Age=3600; Path=/"
            return redirect_reply("/whoami", {"Set-Cookie": cookie})
        if path == "/whoami":
            return _page(f'<p id="who">{request.headers.get("cookie") or "nobody"}</p>')
        if path == "/file.txt":
            headers = {
                "Content-Type": "text/plain",
                "Content-Disposition": 'attachment; filename="report.txt"',
            }
            return Reply(200, b"the report\n", headers)
        return _page("<p>not here</p>", status=404)


def _page(text: str, status: int = 200) -> Reply:
    return html_reply(text if "<html" in text else f"<!doctype html><html><body>{text}</body></html>", status)


def browser_config(tmp_path: Path, site: Site, **keys: Any) -> Config:
    """A `browser` executor for Debian's Chromium allowed only on `site`."""
    values: dict[str, Any] = {
        "type": "browser",
        "label": "Chromium",
        "executable_path": CHROMIUM,
        "allowed_sites": [site.netloc],
        "step_timeout": 5,
        "timeout": 60,
        **keys,
    }
    return load_config(tmp_path, executor_toml("browser", **values))


def browser_processes() -> list[psutil.Process]:
    """Live Chromium and Playwright-driver processes under this one."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            name = proc.name().lower()
            if "chrom" in name or "node" in name or "playwright" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (orphans re-parented to init included)."""
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            continue
    return left


# Agent sessions (ACP) ----------------------------------------------------------------------


def acp_config(tmp_path: Path, tasks: str = "", **keys: Any) -> Config:
    """An `acp` executor named `agent` running tests/bin/acp_agent.py (ACP_TEST_LOG passed on)."""
    values: dict[str, Any] = {
        "type": "acp",
        "label": "Test agent",
        "command": [PY, ACP_AGENT],
        "env": ["ACP_TEST_LOG"],
        "timeout": 20,
        **keys,
    }
    return load_config(tmp_path, tasks + executor_toml("agent", **values))


ACP_NOTES = "Eggs\nBread\n"


def acp_project(tmp_path: Path, monkeypatch: Any, **keys: Any) -> tuple[Config, Path]:
    """An acp config (see acp_config) and its project `proj/` holding notes.md; the
    test agent logs its prompts to tmp_path/acp.log."""
    monkeypatch.setenv("ACP_TEST_LOG", str(tmp_path / "acp.log"))
    root = tmp_path / "proj"
    root.mkdir()
    (root / "notes.md").write_text(ACP_NOTES)
    return acp_config(tmp_path, **keys), root


def timeline(hub: FakeHub, task_id: int) -> dict[str, dict[str, Any]]:
    """The task's timeline as the hub keeps it: key -> {"kind", **data}, each key at its first place."""
    entries: dict[str, dict[str, Any]] = {}
    for item in applied(hub, "task.item", task_id):
        entries[item["key"]] = {"kind": item["kind"], **item["data"]}
    return entries


def turns(hub: FakeHub, task_id: int) -> list[tuple[str, int | None, str | None]]:
    """(state, message_id, stop_reason) of each task.turn."""
    return [(t["state"], t["message_id"], t["stop_reason"]) for t in applied(hub, "task.turn", task_id)]


async def turn_count(hub: FakeHub, task_id: int, state: str, count: int, timeout: float = 5.0) -> None:
    """Wait until the task has reported `count` turns in `state`."""
    await wait_for(
        lambda: sum(t[0] == state for t in turns(hub, task_id)) >= count, timeout, f"{count} turns {state}"
    )


async def permission(hub: FakeHub, task_id: int, number: int = 1, timeout: float = 5.0) -> dict[str, Any]:
    """The task's `number`th task.permission, once the hub has it."""
    found = await wait_for(
        lambda: applied(hub, "task.permission", task_id)[number - 1 :], timeout, "a permission request"
    )
    return found[0]


def prompts(log: Path) -> list[str]:
    """The prompts the scripted agent received, from its ACP_TEST_LOG."""
    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [line["prompt"] for line in lines if "prompt" in line]
