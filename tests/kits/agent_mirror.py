"""Helpers for the mirror tests: a link that records what it was asked to queue, and tree builders."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hostagent.mirror.index import Index
from hostagent.mirror.sync import Mirror
from tests.kits.fakehub import start_link, stop_link


class RecordingLink:
    """Stands in for HostLink: `send` records (stream, type, payload) like an outbox append."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def send(self, stream: str, type_: str, payload: dict[str, Any]) -> int:
        json.dumps(payload)  # must be JSON, as the outbox stores it
        self.sent.append((stream, type_, payload))
        return len(self.sent)

    def batches(self) -> list[dict[str, Any]]:
        return [p for _, t, p in self.sent if t == "mirror.batch"]

    def changes(self) -> list[dict[str, Any]]:
        return [c for b in self.batches() for c in b["changes"]]

    def clear(self) -> None:
        self.sent.clear()


def make_mirror(tmp_path: Path, projects: dict[str, Path], **kwargs: Any) -> tuple[Mirror, RecordingLink]:
    kwargs.setdefault("watch", False)
    index = Index(tmp_path / "mirror.sqlite3")
    mirror = Mirror({name: str(root) for name, root in projects.items()}, index, **kwargs)
    link = RecordingLink()
    mirror.link = link
    return mirror, link


def write(root: Path, rel: str, content: str | bytes = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def paths_of(changes: list[dict[str, Any]], op: str = "upsert") -> set[str]:
    return {c["path"] for c in changes if c["op"] == op}


def by_path(changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["path"]: c for c in changes if c["op"] == "upsert"}


def encoded(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=True))


def all_json(link: RecordingLink) -> str:
    return "".join(json.dumps(p, ensure_ascii=False) for _, _, p in link.sent)


def fsname(raw: bytes) -> str:
    return os.fsdecode(raw)


def start_mirrored(hub, tmp_path, projects, watch=False):
    """A link to the fake hub `hub` and a Mirror of `projects` attached to it."""
    link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
    index = Index(tmp_path / "mirror.sqlite3")
    mirror = Mirror({name: str(root) for name, root in projects.items()}, index, watch=watch)
    mirror.attach(link)
    return link, task, mirror


async def stop_mirrored(link, task, mirror):
    await mirror.stop()
    await stop_link(link, task)
    mirror.index.close()
