"""Helpers: what an agent would send on the mirror stream."""

import hashlib

from projects.models import Project
from tests.kits.common import SequencedStream, make_host


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


def mirrored(team, *changes) -> Project:
    """Project "docs" of a new host "Build box" of `team`, its mirror reset to `changes`."""
    host, _ = make_host(team, "Build box")
    stream = Stream(host.id)
    stream.projects("docs")
    stream.batch("docs", *changes, reset=True)
    return Project.objects.get(name="docs")


# Markdown that must render as text and links, never run: scripts, handlers, frames, bad URLs.
HOSTILE_MARKDOWN = """# Title

<script>window.__pwned = 1</script>
<img src=x onerror="window.__pwned = 1">
<iframe src="https://evil.example"></iframe>
<svg><script>window.__pwned = 1</script></svg>

[click](javascript:window.__pwned=1) [data](data:text/html;base64,PHNjcmlwdD4=) [fine](https://example.com)

![img](data:image/svg+xml;base64,PHN2Zz4=)
"""
