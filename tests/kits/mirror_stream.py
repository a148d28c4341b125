"""Helpers: what an agent would send on the mirror stream."""

import hashlib

from tests.kits.common import SequencedStream


def file_change(path: str, text: str | None = "hello\n", **extra) -> dict:
    data = (text or "").encode()
    change = {
        "op": "upsert",
        "path": path,
        "kind": "file",
        "size": len(data),
        "mtime": 1795600000.0,
        "hash": hashlib.sha256(data).hexdigest(),
        "text": text,
        "binary": False,
    }
    change.update(extra)
    return change


def dir_change(path: str) -> dict:
    return {"op": "upsert", "path": path, "kind": "dir"}


def delete(path: str) -> dict:
    return {"op": "delete", "path": path}


class Stream(SequencedStream):
    """The mirror stream of one host."""

    name = "mirror"

    def projects(self, *names: str):
        return self.send("mirror.projects", {"projects": [{"name": n} for n in names]})

    def batch(self, project: str, *changes: dict, reset: bool = False):
        return self.send("mirror.batch", {"project": project, "reset": reset, "changes": list(changes)})
