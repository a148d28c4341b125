"""Managing a host from the phone (docs/protocol.md, "Managing a host"): the folders under the
roots the host lets the phone pick from, sharing one of them as a project, no longer sharing a
project, restarting the agent; and their results.

A `host.manage` is not sequenced: the hub sends it again on every (re)connect until the agent
reports its `host.manage_result` on stream `manage`, and the agent runs each request id at most
once. The agent offers it only when its agent.toml says `[manage] allow = true` (`hello`'s
capability `manage`), and checks everything again itself: the hub may ask, the host decides.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import model_validator

from protocol import limits
from protocol.base import CutList, Display, Name, ProtocolModel, Sequenced, Token, refuse

MANAGE_REQUEST_REFUSED = "a request is 16-64 of A-Z, a-z, 0-9, - and _"

RequestId = Annotated[str, Token(limits.MANAGE_REQUEST, MANAGE_REQUEST_REFUSED)]
ProjectName = Annotated[str, Name(limits.MAX_PROJECT_NAME, "a project name")]
# A folder as the host names it (absolute, in its own notation): compared, never cut.
HostFolder = Annotated[str, Name(limits.MAX_PATH_BYTES, "a folder")]
ShownFolder = Annotated[str, Display(limits.MAX_PATH_BYTES)]

# What each action needs.
ACTION_FIELDS: dict[str, frozenset[str]] = {
    "folders": frozenset(),
    "add_project": frozenset({"path", "name"}),
    "remove_project": frozenset({"name"}),
    "restart": frozenset(),
}


# Hub to agent ------------------------------------------------------------------------------------


class ManageRequest(ProtocolModel):
    type: Literal["host.manage"] = "host.manage"
    request: RequestId
    action: Literal[limits.MANAGE_ACTIONS]  # type: ignore[valid-type]
    path: HostFolder | None = None  # add_project: a folder the host listed
    name: ProjectName | None = None  # add_project: the new project's name; remove_project: which

    @model_validator(mode="after")
    def _fields_of_action(self) -> "ManageRequest":
        for field in sorted(ACTION_FIELDS[self.action]):
            if getattr(self, field) is None:
                raise refuse(f"{self.action} needs {field}")
        if self.name is not None and "/" in self.name:
            raise refuse("a project name must not contain /")
        return self

    def wire(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# Agent to hub (stream "manage") --------------------------------------------------------------------


class Folder(ProtocolModel):
    """A folder under one of the roots: `git` when it is a repository, `project` the name it is
    shared as already (null: not shared)."""

    path: HostFolder
    root: ShownFolder
    git: bool = False
    project: ProjectName | None = None


class ManageMessage(Sequenced):
    stream: ClassVar[str] = "manage"


class ManageResult(ManageMessage):
    """The outcome of one `host.manage`: `ok`, or `error` saying why the host refused."""

    type = "host.manage_result"

    request: RequestId
    ok: bool
    error: Annotated[str, Display(limits.MAX_MANAGE_ERROR)] | None = None
    # folders: the roots as configured (resolved), what is under them, and whether the list was cut
    roots: Annotated[list[ShownFolder], CutList(limits.MAX_MANAGE_ROOTS)] = []
    folders: Annotated[list[Folder], CutList(limits.MAX_MANAGE_FOLDERS)] = []
    truncated: bool = False
    # add_project: the project and the folder it shares (its real path); remove_project: the project
    project: ProjectName | None = None
    path: ShownFolder | None = None
