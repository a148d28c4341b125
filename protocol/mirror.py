"""The mirror stream (docs/protocol.md, "The mirror"): the shared projects and
the batches of changes to their entries. A batch breaking any rule is refused
whole, so its changes are refused, never cut."""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt, model_validator

from protocol import limits
from protocol.base import MirrorPath, Name, ProtocolModel, Sequenced, refuse
from protocol.text import unencodable

HASH = re.compile(r"[0-9a-f]{64}")
PROJECT_NAME_REFUSED = "a project name is 1-64 characters without '/'"
KIND_REFUSED = "kind must be file, dir or symlink"
HASH_REFUSED = "a file needs its SHA-256 as 64 hex digits"
TEXT_TOO_LONG = f"text over {limits.MAX_TEXT // 1024} KiB: send it as metadata"
TEXT_NUL = "text must not contain NUL: send the file as binary"
TEXT_NOT_UTF8 = "text must be valid UTF-8"


def _no_slash(name: str) -> str:
    if "/" in name:
        raise refuse(PROJECT_NAME_REFUSED)
    return name


ProjectName = Annotated[str, Name(limits.MAX_PROJECT_NAME, "a project name"), AfterValidator(_no_slash)]


def _file_text(text: str) -> str:
    if len(text) > limits.MAX_TEXT:
        raise refuse(TEXT_TOO_LONG)
    if "\x00" in text:
        raise refuse(TEXT_NUL)
    if unencodable(text):
        raise refuse(TEXT_NOT_UTF8)
    return text


class Project(ProtocolModel):
    name: ProjectName
    git: bool = False  # the folder is the top of a git repository


class MirrorProjects(Sequenced):
    """The full list of shared projects, sent after each `welcome` before any batch."""

    stream = "mirror"
    type = "mirror.projects"

    projects: Annotated[list[Project], Field(max_length=limits.MAX_PROJECTS)]


class Change(ProtocolModel):
    """One change of a batch: an `upsert` of an entry, or a `delete` of a path and all under it."""

    op: Literal["upsert", "delete"]
    path: MirrorPath
    kind: Literal[limits.ENTRY_KINDS] | None = None  # type: ignore[valid-type]
    size: Annotated[StrictInt, Field(ge=0, lt=limits.MAX_SIZE)] | None = None
    mtime: Annotated[float, Field(ge=0, lt=limits.MAX_MTIME)] | None = None
    hash: str = ""  # for files only; "" for the other kinds, whatever was sent
    text: Annotated[str, AfterValidator(_file_text)] | None = None
    binary: bool = False
    too_large: bool = False
    target_inside: bool | None = None

    @model_validator(mode="after")
    def _by_kind(self) -> "Change":
        if self.op == "delete":
            return self
        if self.kind is None:
            raise refuse(KIND_REFUSED)
        if self.kind != "file":
            self.hash = ""
        elif not HASH.fullmatch(self.hash):
            raise refuse(HASH_REFUSED)
        return self


class MirrorBatch(Sequenced):
    """Changes to one project's entries, applied in order in one transaction.
    `reset` (first batch of a full snapshot only): forget the entries the snapshot does not send."""

    stream = "mirror"
    type = "mirror.batch"

    project: ProjectName
    reset: bool = False
    changes: Annotated[list[Change], Field(max_length=limits.MAX_MIRROR_CHANGES)]


class MirrorResync(ProtocolModel):
    """Hub to agent: forget the project's index and send a full snapshot with `reset: true`."""

    type: Literal["mirror.resync"] = "mirror.resync"
    project: str
