"""Helpers for managing a host from the phone, on the agent's side (hostagent.manage): an agent.toml
that allows it (with comments that must survive its edits), an in-process HostLink with a
ManageService against a FakeHub, `host.manage` requests and the results the hub applied."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hostagent.manage import ManageService
from hostagent.tasks.ledger import Ledger
from tests.kits.fakehub import FakeHub, start_link, stop_link, wait_for


def manage_toml(path: Path, roots: list[Path | str], *, allow: bool = True, projects: str = "") -> Path:
    """agent.toml at `path`, paired, with comments, [manage] and maybe [projects] lines."""
    listed = ", ".join(f'"{root}"' for root in roots)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# my workstation\n"
        'hub = "http://127.0.0.1:1"\n'
        "host_id = 12\n"
        'name = "box"\n'
        'token = "chub_test"\n'
        "\n"
        "[projects]\n"
        "# the notes I keep\n"
        f"{projects}"
        "\n"
        "[manage]\n"
        "# the phone may pick from these\n"
        f"allow = {'true' if allow else 'false'}\n"
        f"roots = [{listed}]\n",
        encoding="utf-8",
    )
    return path


class ManageAgent:
    """A HostLink with a ManageService attached, running in this event loop."""

    def __init__(self, hub: FakeHub, tmp_path: Path, config_path: Path, *, allowed: bool = True):
        self.hub = hub
        self.ledger = Ledger(tmp_path / "tasks.sqlite3", owner="test")
        self.reloads = 0
        self.service = ManageService(config_path, self.ledger, allowed=allowed, reload=self._reload)
        self.link, self.task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        self.service.attach(self.link)

    async def _reload(self) -> None:
        self.reloads += 1

    async def ready(self) -> None:
        await wait_for(lambda: self.link.welcomed, what="the welcome")

    async def ask(self, action: str, request: str | None = None, **fields: Any) -> str:
        """Send a host.manage as the hub would; returns its request id."""
        request = request or secrets.token_urlsafe(24)
        await self.hub.connections[-1].send(
            {"type": "host.manage", "request": request, "action": action, **fields}
        )
        return request

    async def do(self, action: str, **fields: Any) -> dict[str, Any]:
        """A host.manage and its result."""
        return await result(self.hub, await self.ask(action, **fields))

    async def stop(self) -> None:
        await self.service.stop()
        if not self.task.done():
            await stop_link(self.link, self.task)
        else:
            self.link.outbox.close()
        self.ledger.close()


@contextlib.asynccontextmanager
async def manage_agent(
    tmp_path: Path, config_path: Path, *, allowed: bool = True
) -> AsyncIterator[tuple[FakeHub, ManageAgent]]:
    async with FakeHub() as hub:
        agent = ManageAgent(hub, tmp_path, config_path, allowed=allowed)
        await agent.ready()
        try:
            yield hub, agent
        finally:
            await agent.stop()


def results(hub: FakeHub, request: str | None = None) -> list[dict[str, Any]]:
    """The host.manage_result payloads the hub applied (each once, in order)."""
    return [
        m["payload"]
        for m in hub.applied_messages
        if m.get("stream") == "manage" and (request is None or m["payload"]["request"] == request)
    ]


async def result(hub: FakeHub, request: str, timeout: float = 10.0) -> dict[str, Any]:
    found = await wait_for(lambda: results(hub, request), timeout, f"the result of {request}")
    return found[0]
