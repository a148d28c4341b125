"""Helpers: what an agent would send on the mirror stream."""

import hashlib
import itertools

from devices.services import host_message_apply

_seq = itertools.count(1)


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


class Stream:
    """Sends sequenced mirror messages for one host, numbering them."""

    def __init__(self, host_id: int):
        self.host_id = host_id
        self.seq = 0

    def send(self, kind: str, payload: dict, seq: int | None = None):
        if seq is None:
            self.seq += 1
            seq = self.seq
        return host_message_apply(host_id=self.host_id, stream="mirror", seq=seq, kind=kind, payload=payload)

    def projects(self, *names: str):
        return self.send("mirror.projects", {"projects": [{"name": n} for n in names]})

    def batch(self, project: str, *changes: dict, reset: bool = False):
        return self.send("mirror.batch", {"project": project, "reset": reset, "changes": list(changes)})
