"""Codex threads (docs/protocol.md, "Codex threads"): the thread a codex task runs (so a later
task can resume it), and the host's list of recent threads the phone asks for.

`codex.threads` from the hub is not sequenced: a request that gets no answer is asked again
by a later page. Its answer is sequenced on stream `codex`.
"""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StrictInt

from protocol import limits
from protocol.base import CutList, Display, Name, ProtocolModel, Sequenced, Token
from protocol.git import RequestId
from protocol.tasks import TasksMessage, ThreadId

EXECUTOR_REFUSED = "an executor name is 1-32 of a-z, 0-9, _ and -, starting with a letter or digit"


class TaskThread(TasksMessage):
    """The Codex thread a codex task runs, once codex started (or resumed) it."""

    type = "task.thread"

    thread_id: ThreadId


# Hub to agent ------------------------------------------------------------------------------------


class CodexThreadsRequest(ProtocolModel):
    """List the recent Codex threads of the host, with the codex of `executor`."""

    type: Literal["codex.threads"] = "codex.threads"
    request: RequestId
    executor: Annotated[str, Token(limits.EXECUTOR_NAME, EXECUTOR_REFUSED)]


# Agent to hub (stream "codex") -------------------------------------------------------------------


class CodexThread(ProtocolModel):
    """One thread: `project` is the shared project whose folder (or one of its task worktrees)
    holds the thread's `cwd`, null when none does (the thread cannot be resumed from the hub)."""

    id: ThreadId
    cwd: Annotated[str, Display(limits.MAX_PATH_BYTES, null=True)] = ""
    preview: Annotated[str, Display(limits.MAX_THREAD_PREVIEW, null=True)] = ""
    updated_at: Annotated[StrictInt, Field(ge=0, lt=limits.MAX_SEQ)] = 0  # unix seconds
    source: Annotated[str, Display(limits.MAX_THREAD_SOURCE, null=True)] = ""
    project: Annotated[str, Name(limits.MAX_PROJECT_NAME, "a project name")] | None = None


class CodexMessage(Sequenced):
    stream: ClassVar[str] = "codex"


class CodexThreads(CodexMessage):
    """The answer to one `codex.threads`: `ok` and the threads (newest first), or `error`."""

    type = "codex.threads"

    request: RequestId
    ok: bool
    error: Annotated[str, Display(limits.MAX_GIT_ERROR)] | None = None
    threads: Annotated[list[CodexThread], CutList(limits.MAX_CODEX_THREADS)] = []
