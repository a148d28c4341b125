"""Git on the host (docs/protocol.md, "Git"): where a task runs (its own branch and worktree,
or the working copy), the requests the phone's decisions become (commit, merge, push, open a
pull request, discard, the repository's state), and their results.

A `git.request` is not sequenced: the hub sends it again on every (re)connect until the agent
reports its `git.result` on stream `git`, and the agent runs each request id at most once.
"""

from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StrictInt, model_validator

from protocol import limits
from protocol.base import CutList, Display, Id, Name, ProtocolModel, Sequenced, Token, refuse
from protocol.branches import branch_error, remote_error

GIT_REQUEST_REFUSED = "a request is 16-64 of A-Z, a-z, 0-9, - and _"
COMMIT_REFUSED = "a commit is 40 or 64 lowercase hex digits"


def _branch(value: str) -> str:
    error = branch_error(value)
    if error is not None:
        raise refuse(f"not a branch name: {error}")
    return value


def _remote(value: str) -> str:
    error = remote_error(value)
    if error is not None:
        raise refuse(error)
    return value


def _message(value: str) -> str:
    if not value.strip():
        raise refuse("the commit message is empty")
    if "\x00" in value:
        raise refuse("the commit message contains a NUL character")
    return value


def _url(value: str) -> str:
    if urlsplit(value).scheme not in ("http", "https") or any(c.isspace() for c in value):
        raise refuse("a pull request's address is an http or https URL")
    return value


Branch = Annotated[str, AfterValidator(_branch)]
Remote = Annotated[str, AfterValidator(_remote)]
Commit = Annotated[str, Token(limits.COMMIT_ID, COMMIT_REFUSED)]
RequestId = Annotated[str, Token(limits.GIT_REQUEST, GIT_REQUEST_REFUSED)]
CommitMessage = Annotated[
    str, Field(min_length=1, max_length=limits.MAX_COMMIT_MESSAGE), AfterValidator(_message)
]
Url = Annotated[str, Field(min_length=1, max_length=limits.MAX_URL), AfterValidator(_url)]


class GitUser(ProtocolModel):
    """The hub user who asked: named in a commit's `Requested-by:` trailer (the author is whoever
    the host's git config says)."""

    name: Annotated[str, Name(limits.MAX_GIT_USER, "a user's name")]
    email: Annotated[str, Name(limits.MAX_EMAIL, "an email")]

    @model_validator(mode="after")
    def _trailer_safe(self) -> "GitUser":
        if "<" in self.name or ">" in self.name:
            raise refuse("a user's name must not contain < or >")
        if self.email.count("@") != 1 or any(c in self.email for c in " <>"):
            raise refuse("an email looks like name@example.com")
        return self


# Hub to agent ------------------------------------------------------------------------------------

# What each action needs besides `project`; `task_id` names the task whose worktree (or working
# copy changes) it acts on.
ACTION_FIELDS: dict[str, frozenset[str]] = {
    "state": frozenset(),
    "commit": frozenset({"task_id", "message", "requested_by"}),
    "merge": frozenset({"task_id", "branch", "into"}),
    "push": frozenset({"task_id", "branch"}),
    "pull_request": frozenset({"task_id", "branch", "into", "title"}),
    "discard": frozenset({"task_id", "workspace"}),
}


class GitRequest(ProtocolModel):
    type: Literal["git.request"] = "git.request"
    request: RequestId
    action: Literal[limits.GIT_ACTIONS]  # type: ignore[valid-type]
    project: Annotated[str, Name(limits.MAX_PROJECT_NAME, "a project name")]
    task_id: Id | None = None
    workspace: Literal[limits.WORKSPACES] | None = None  # type: ignore[valid-type]
    branch: Branch | None = None  # merge, push, pull_request: the branch acted on
    into: Branch | None = None  # merge: the branch merged into; pull_request: the PR's base
    remote: Remote | None = None  # push, pull_request; null: the branch's upstream, else origin
    message: CommitMessage | None = None
    requested_by: GitUser | None = None
    title: Annotated[str, Name(limits.MAX_PR_TITLE, "a title")] | None = None
    body: Annotated[str, Field(max_length=limits.MAX_PR_BODY)] | None = None

    @model_validator(mode="after")
    def _fields_of_action(self) -> "GitRequest":
        for field in sorted(ACTION_FIELDS[self.action]):
            if getattr(self, field) is None:
                raise refuse(f"{self.action} needs {field}")
        if self.body is not None and "\x00" in self.body:
            raise refuse("the body contains a NUL character")
        return self

    def wire(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# Agent to hub (stream "git") ---------------------------------------------------------------------


class DirtyFile(ProtocolModel):
    path: Annotated[str, Display(limits.MAX_PATH_BYTES)]
    status: Annotated[str, Display(2)]  # porcelain v2's XY, "?" for untracked


class RepoState(ProtocolModel):
    """A repository's state as `git status` says it, and its uncommitted diff."""

    branch: Branch | None = None  # null: a detached HEAD
    head: Commit | None = None  # null: no commit yet
    upstream: Annotated[str, Display(limits.MAX_BRANCH)] | None = None
    ahead: Annotated[StrictInt, Field(ge=0, lt=limits.MAX_SEQ)] = 0
    behind: Annotated[StrictInt, Field(ge=0, lt=limits.MAX_SEQ)] = 0
    dirty: Annotated[list[DirtyFile], CutList(limits.MAX_DIRTY)] = []
    dirty_count: Annotated[StrictInt, Field(ge=0, lt=limits.MAX_SEQ)] = 0
    diff: Annotated[str, Display(limits.MAX_REPO_DIFF)] = ""
    diff_truncated: bool = False
    branches: Annotated[list[Branch], CutList(limits.MAX_BRANCHES)] = []
    remotes: Annotated[list[Remote], CutList(limits.MAX_REMOTES)] = []


class GitMessage(Sequenced):
    stream: ClassVar[str] = "git"


class GitResult(GitMessage):
    """The outcome of one `git.request`: `ok`, or `error` with git's own words (verbatim, cut)
    and the `files` it names (a conflict's, the changed-since files of a discard)."""

    type = "git.result"

    request: RequestId
    ok: bool
    error: Annotated[str, Display(limits.MAX_GIT_ERROR)] | None = None
    files: Annotated[list[Annotated[str, Display(limits.MAX_PATH_BYTES)]], CutList(limits.MAX_GIT_FILES)] = []
    commit: Commit | None = None  # commit: the new commit; merge: `into`'s commit after it
    merge: Literal["fast-forward", "merge", "up-to-date"] | None = None
    pr_url: Url | None = None
    restored: Annotated[
        list[Annotated[str, Display(limits.MAX_PATH_BYTES)]], CutList(limits.MAX_GIT_FILES)
    ] = []
    state: RepoState | None = None  # action "state"
