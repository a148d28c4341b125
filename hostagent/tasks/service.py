"""`TaskService`: runs the tasks the hub assigns, through a HostLink (docs/protocol.md, "Tasks").

- `task.assign`: a task id the ledger knows is a duplicate and ignored. A new
  one is recorded, acked with `task.received`, then checked; a bad one
  finishes `failed` at once and runs nothing. A good one waits for a slot (one
  per `[tasks].concurrency`, and one per project unless
  `parallel_per_project`), then: `task.started`, a scan, the run, a scan,
  `task.finished` with the changes.
- Where it runs (docs/protocol.md, "Git"): `workspace: "working_copy"` (or
  none, from an older hub) in the project folder, recording in the ledger what
  it changed so a discard can put it back; `"worktree"` in a new worktree on
  branch `codexhub/<id>-<slug>` from `base` under the agent's data folder, or
  with `worktree_of` in that earlier task's worktree. Worktree tasks take no
  project lock (they are isolated) but one lock per worktree, so the tasks of
  one worktree never run at once. A worktree that cannot be made or found
  fails the task before `task.started`.
- `task.cancel`: a running task's group is killed, a waiting one never
  starts; both finish `cancelled`. An unknown id is recorded as cancelled and
  answered; a finished one is ignored.
- After each `welcome`: a task the ledger says `running` but this process
  does not run was cut short by a restart and finishes `failed`; one only
  `received` was never started and runs now.
- A `browser` executor's task carries `steps` (docs/protocol.md, "Browser
  tasks"): checked here like the rest of the assignment, then run by
  `browser.run_browser`; no project scan (`changes: []`); each step's result
  goes out as `task.step` as it ends, and `task.finished` carries them all. A
  `computer` executor's task carries `computer_steps` (docs/protocol.md,
  "Computer tasks"), run by `computer.run_computer` the same way, one task at a
  time per display.
- An `acp` executor's task is a session with a coding agent (docs/protocol.md,
  "Agent sessions (ACP)"; acp_session), a `codex` executor's a Codex thread
  ("Codex threads"; codex_session): `task.message`, `task.answer`,
  `task.interrupt` and `task.end` go to its session, queued while it waits for
  its slot; for any other task they are ignored.

- A live edit of agent.toml (hostagent/liveconfig.py) calls `set_projects` and
  `set_executors`: a task already accepted keeps the executor it was accepted
  with; one still waiting for its slot whose project is no longer shared fails.

Everything goes out with `link.send` on stream `tasks` (outbox-backed, sequenced).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hostagent import git as gitops
from hostagent.config import TasksConfig
from hostagent.git import names
from hostagent.git.worktrees import WORKTREES_NAME, current_branch
from hostagent.link import HostLink
from hostagent.mirror.scan import RootMissing, Scanner, Scope, is_within
from hostagent.tasks.browser import hub_uploader, run_browser
from hostagent.tasks.changes import compare_recorded, take_snapshot
from hostagent.tasks.computer_live import LiveView, Watches
from hostagent.tasks.executors import Executor, RunResult, run_command
from hostagent.tasks.ledger import (
    CANCELLED,
    FINISHED,
    RECEIVED,
    RUNNING,
    WORKING_COPY,
    WORKTREE,
    Ledger,
    Workspace,
)
from hostagent.tasks.openai_backend import run_openai
from hostagent.tasks.output import TaskLog
from hostagent.tasks.sites import SiteList
from protocol import limits, paths
from protocol.branches import branch_error
from protocol.paths import path_error

if TYPE_CHECKING:  # the acp package costs 0.3 s to import: only hosts with a session pay it
    from hostagent.tasks.acp_session import AcpSession
    from hostagent.tasks.codex_session import CodexSession
    from hostagent.tasks.computer_agent import ComputerAgent

log = logging.getLogger("hostagent.tasks")

STREAM = "tasks"
MAX_PROMPT = limits.MAX_PROMPT
INTERRUPTED = "interrupted: the agent stopped during the task"
NOT_A_REPOSITORY = "project {project!r} is not a git repository, so the task cannot run in a worktree"
NO_WORKTREE = "the worktree of task {task_id} is gone (merged or discarded): start a new task"
WORKTREE_FAILED = "could not make the task's worktree: {error}"
NO_LONGER_SHARED = "project {project!r} is no longer shared by this host"
ASSIGNMENT_KEYS = (
    "project",
    "executor",
    "prompt",
    "target",
    "workspace",
    "base",
    "worktree_of",
    "resume_thread",
    "model",
    "effort",
)


class InvalidReport(RuntimeError):
    """The agent built a message the hub would refuse: a bug, never sent."""


def checked(type_: str, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` as the protocol's model of `type_` (stream `tasks`) makes it: display text cut
    and cleaned as the hub would. Raises InvalidReport for what the hub would refuse.

    The models are imported on the first task, not at start: pydantic and the models cost
    ~0.1 s to import, and the agent syncs the mirror before any task comes."""
    from pydantic import ValidationError

    from protocol import sequenced
    from protocol.base import payload as as_payload
    from protocol.base import reason

    model = sequenced()[(STREAM, type_)]
    try:
        return as_payload(model.model_validate(payload))
    except ValidationError as exc:
        raise InvalidReport(f"{type_}: {reason(exc)}") from None


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def target_error(root: str, target: str, exclude: Iterable[str] = ()) -> str | None:
    """Why `target` cannot be a task's file in the project at `root` (realpath'd), or None.

    It must be a protocol path naming a regular file the mirror shares: not
    ignored, not in .git, not a symlink, with no symlinked folder on the way
    out of the root. Blocks (it hashes the file): call it in a worker thread.
    """
    if target == "":
        return None
    error = path_error(target)
    if error is not None:
        if error == paths.NOT_RELATIVE or ".." in target.split("/"):
            return "target file is outside the project"
        return f"target is not a valid path: {error}"
    scanner = Scanner(root, exclude)
    try:
        entries = scanner.scan([Scope(target, recursive=False)]).entries
    except RootMissing:
        return "the project folder is missing"
    full = scanner.abspath(target)
    if not is_within(os.path.realpath(full), scanner.root):
        return "target file is outside the project"
    entry = entries.get(target)
    if entry is None:
        if not os.path.lexists(full):
            return "target file does not exist in the project"
        return "target file is not shared (ignored by .gitignore, inside .git, or not a regular file)"
    if entry.kind == "symlink":
        return "target file is a symlink"
    if entry.kind != "file":
        return "target is not a regular file"
    return None


@dataclass
class _Job:
    id: int
    project: str
    executor: Executor
    prompt: str
    target: str
    steps: list[dict[str, Any]] | None = None  # a browser or a computer task's
    results: list[dict[str, Any]] = field(default_factory=list)  # what each step that ran gave
    session: AcpSession | CodexSession | ComputerAgent | None = None  # acp, codex, a model's computer
    workspace: str = WORKING_COPY
    base: str | None = None  # a new worktree's base branch (None: the working copy's)
    worktree_of: int | None = None  # a continuation: the task whose worktree it runs in
    root: str = ""  # where it runs, once its workspace is ready
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_requested: bool = False
    started: bool = False  # the ledger says running: never waiting again
    stopping: bool = False  # the agent shuts down
    task: asyncio.Task[None] | None = None


def _computer_error(assignment: dict[str, Any], executor: Executor) -> str | None:
    """Why a computer task cannot run (its steps are checked before any input), or None."""
    if assignment.get("workspace") == WORKTREE:
        return "a computer task uses no project files, so it cannot run in a worktree"
    if executor.drives_itself:  # a model drives it: the prompt is its goal
        if assignment.get("steps") or assignment.get("computer_steps"):
            return f"executor {executor.name!r} takes a goal in words (a model drives it), not steps"
        return None
    if assignment.get("steps"):
        return f"executor {executor.name!r} takes computer steps, not browser steps"
    from hostagent.tasks.computer import steps_error  # pydantic: on the first computer task

    return steps_error(executor, assignment.get("computer_steps"))


def _job_steps(assignment: dict[str, Any], executor: Executor) -> list[dict[str, Any]] | None:
    if executor.kind == "browser":
        steps: list[dict[str, Any]] | None = assignment.get("steps")
        return steps
    if executor.kind == "computer" and not executor.drives_itself:
        steps = assignment.get("computer_steps")
        return steps
    return None


class _NoWorkspace(Exception):
    """The task's worktree cannot be made or found: the task fails with this reason."""


def _workspace_error(assignment: dict[str, Any]) -> str | None:
    """Why the assignment's `workspace`, `base` and `worktree_of` cannot be, or None."""
    workspace, base, worktree_of = (assignment.get(k) for k in ("workspace", "base", "worktree_of"))
    if workspace is not None and workspace not in limits.WORKSPACES:
        return f"workspace must be one of {', '.join(limits.WORKSPACES)}"
    if workspace != WORKTREE and (base is not None or worktree_of is not None):
        return "base and worktree_of are for a task in a worktree"
    if base is not None and (error := branch_error(base)) is not None:
        return f"the base is not a branch name: {error}"
    if worktree_of is not None and not _is_id(worktree_of):
        return "worktree_of must be a task id"
    if worktree_of is not None and base is not None:
        return "a task continuing in a worktree takes no base"
    return None


def _resume_error(thread: object, executor: Executor) -> str | None:
    """Why the assignment's `resume_thread` cannot be, or None."""
    if thread is None:
        return None
    if executor.kind != "codex":
        return f"executor {executor.name!r} is not a codex executor: it cannot resume a Codex thread"
    if not isinstance(thread, str) or not limits.THREAD_ID.fullmatch(thread):
        return "resume_thread is not a Codex thread id"
    return None


def _model_error(assignment: dict[str, Any], executor: Executor) -> str | None:
    """Why the assignment's `model` and `effort` cannot be, or None: a codex executor's only, a
    model among those its Codex listed, an effort that model takes."""
    model, effort = assignment.get("model"), assignment.get("effort")
    if model is None and effort is None:
        return None
    if executor.kind != "codex":
        return f"executor {executor.name!r} is not a codex executor: it takes no model or effort"
    offered = {m["id"]: m for m in executor.models}
    if model is not None and model not in offered:
        names = ", ".join(offered) or "none listed"
        return f"model {str(model)[:100]!r} is not one this host's Codex offers ({names})"
    efforts = (
        offered[model]["efforts"]
        if model is not None
        else sorted({e for m in executor.models for e in m["efforts"]})
    )
    if effort is not None and effort not in efforts:
        return f"reasoning effort {str(effort)[:16]!r} is not one of {', '.join(efforts) or 'none'}"
    return None


class TaskService:
    def __init__(
        self,
        config_tasks: TasksConfig,
        executors: dict[str, Executor],
        projects: dict[str, str],
        ledger: Ledger,
        *,
        exclude: Iterable[str] = (),
        hub: str = "",
        token: str = "",
        worktrees: Path | None = None,
    ):
        """`worktrees`: the folder task worktrees go in (default: `worktrees` beside the ledger,
        which is beside agent.toml)."""
        self.config = config_tasks
        self.hub = hub  # browser tasks upload their screenshots and PDFs there, with the host token
        self.token = token
        self.executors = dict(sorted(executors.items()))
        self.projects = dict(projects)
        self.ledger = ledger
        self.exclude = list(exclude)
        self.link: Any = None  # a HostLink, or anything with `async send(stream, type, payload)`
        self.slots = asyncio.Semaphore(config_tasks.concurrency)
        self.locks: dict[str, asyncio.Lock] = {}
        self.worktree_locks: dict[int, asyncio.Lock] = {}
        self.display_locks: dict[str, asyncio.Lock] = {}  # computer tasks: one at a time per display
        self.watches = Watches()  # computer tasks someone watches live (computer.watch)
        self.worktrees = worktrees if worktrees is not None else ledger.path.parent / WORKTREES_NAME
        self.jobs: dict[int, _Job] = {}
        self.threads: Any = None  # a codex_threads.ThreadLister, when the host offers codex

    # Wiring --------------------------------------------------------------------

    async def learn_models(self) -> None:
        """Ask each codex executor's Codex which models it offers, for hello (codex_models)."""
        if not any(executor.kind == "codex" for executor in self.executors.values()):
            return
        from hostagent.tasks.codex_models import with_models

        self.executors = await with_models(self.executors)
        if self.link is not None:
            self.link.executors = [executor.describe() for executor in self.executors.values()]

    async def set_executors(self, executors: dict[str, Executor]) -> None:
        """Offer `executors` from now on (a live config edit); the caller sends hello. A codex
        executor that did not change keeps the models it listed; a new or changed one is asked."""
        ask = {}
        kept = {}
        for name, executor in executors.items():
            old = self.executors.get(name)
            if old is not None and dataclasses.replace(executor, models=old.models) == old:
                kept[name] = old
            elif executor.kind == "codex":
                ask[name] = executor
            else:
                kept[name] = executor
        if ask:
            from hostagent.tasks.codex_models import with_models

            kept.update(await with_models(ask))
        self.executors = dict(sorted(kept.items()))
        if self.threads is not None:
            self.threads.executors = self.executors
        self._offer()

    def set_projects(self, projects: dict[str, str]) -> None:
        """Take tasks for `projects` from now on (a live config edit); running tasks go on."""
        self.projects = dict(projects)
        if self.threads is not None:
            from hostagent.tasks.codex_threads import thread_places

            self.threads.places = thread_places(self.projects, self.worktrees)

    def _offer(self) -> None:
        """What hello says of this service: the executors, and the capabilities they make."""
        self.link.offer("agent", bool(self.executors))
        self.link.offer("browser", any(executor.kind == "browser" for executor in self.executors.values()))
        self.link.executors = [executor.describe() for executor in self.executors.values()]

    def attach(self, link: HostLink) -> None:
        """Hook into `link`: task.assign, task.cancel and the sessions' messages, and the ledger's
        report after each welcome."""
        handlers = {
            "task.assign": self.on_assign,
            "task.cancel": self.on_cancel,
            "task.message": self.on_message,
            "task.answer": self.on_answer,
            "task.interrupt": self.on_interrupt,
            "task.end": self.on_end,
            "codex.threads": self.on_threads,
            "computer.watch": self.on_watch,
        }
        link.extend(handlers, after_welcome=self.on_welcome)
        self.link = link
        self._offer()

    async def stop(self) -> None:
        """Kill the running tasks' groups (they finish failed: interrupted); waiting ones stay for
        the next start."""
        jobs = list(self.jobs.values())
        for job in jobs:
            if job.started:
                job.stopping = True
                job.cancel.set()
            elif job.task is not None:
                job.task.cancel()
        await asyncio.gather(*(job.task for job in jobs if job.task is not None), return_exceptions=True)
        if self.threads is not None:
            await self.threads.stop()

    async def idle(self) -> None:
        """Wait until no task waits or runs (for tests)."""
        while self.jobs:
            await asyncio.gather(
                *(j.task for j in list(self.jobs.values()) if j.task), return_exceptions=True
            )

    async def _send(self, type_: str, payload: dict[str, Any]) -> None:
        """Send on stream `tasks`, through the protocol's model of `type_`."""
        await self.link.send(STREAM, type_, checked(type_, payload))

    def _step_sender(self, task_id: int) -> Callable[[dict[str, Any]], Awaitable[None]]:
        """What a browser or computer run calls with each step's result as it ends."""
        return lambda step: self._send("task.step", {"task_id": task_id, "step": step})

    # Hub messages ----------------------------------------------------------------

    async def on_welcome(self) -> None:
        for task_id, _, _ in self.ledger.entries(RUNNING):
            if task_id not in self.jobs:
                log.warning("task %d was running when the agent stopped: reporting it failed", task_id)
                await self._finish(task_id, RunResult("failed", error=INTERRUPTED))
        for task_id, assignment, acked in self.ledger.entries(RECEIVED):
            if task_id in self.jobs:
                continue
            if not acked:
                await self._send("task.received", {"task_id": task_id})
                self.ledger.mark_acked(task_id)
            await self._accept(task_id, assignment or {})

    async def on_assign(self, message: dict[str, Any]) -> None:
        task = message.get("task")
        task_id = task.get("id") if isinstance(task, dict) else None
        if not isinstance(task, dict) or not _is_id(task_id):
            log.warning("ignoring a task.assign without a task id")
            return
        assert isinstance(task_id, int)
        assignment = {key: task.get(key) for key in ASSIGNMENT_KEYS}
        for key in ("steps", "computer_steps"):  # a browser or a computer task's
            if key in task:
                assignment[key] = task[key]
        if not self.ledger.add(task_id, RECEIVED, assignment):
            return  # a copy of one we have: started at most once
        await self._send("task.received", {"task_id": task_id})
        self.ledger.mark_acked(task_id)
        await self._accept(task_id, assignment)

    async def on_watch(self, message: dict[str, Any]) -> None:
        """Someone watches a computer task live: its frames go for `seconds` more, from when it
        runs (only a computer task this agent holds; anything else is ignored)."""
        task_id, seconds = message.get("task_id"), message.get("seconds")
        job = self.jobs.get(task_id) if _is_id(task_id) else None  # type: ignore[arg-type]
        if job is None or job.executor.kind != "computer":
            return
        if type(seconds) is not int or not 1 <= seconds <= limits.LIVE_WATCH:
            seconds = limits.LIVE_WATCH
        self.watches.watch(job.id, seconds)

    def live_view(self, task_id: int, executor: Executor, task_log: TaskLog) -> LiveView:
        """The live view of a computer task (computer_live): its frames go out on the link."""
        from hostagent.tasks.computer import display_of

        return LiveView(
            display_of(executor),
            task_id,
            self.link.send_live,
            self.watches,
            fps=executor.live_fps,
            max_bytes=executor.live_max_bytes,
            note=task_log.note,
            monitor=executor.monitor,
        )

    async def on_threads(self, message: dict[str, Any]) -> None:
        """The hub asks for a codex executor's threads (the lister, and its imports, on the first ask)."""
        if self.threads is None:
            from hostagent.tasks.codex_threads import ThreadLister, thread_places

            self.threads = ThreadLister(self.executors, thread_places(self.projects, self.worktrees))
            self.threads.link = self.link
        await self.threads.on_request(message)

    async def on_cancel(self, message: dict[str, Any]) -> None:
        task_id = message.get("task_id")
        if not _is_id(task_id):
            log.warning("ignoring a task.cancel without a task id")
            return
        assert isinstance(task_id, int)
        job = self.jobs.get(task_id)
        if job is not None:
            if job.cancel_requested:
                return
            job.cancel_requested = True
            if job.started:
                job.cancel.set()  # the run kills the group and finishes cancelled
                return
            if job.task is not None:
                job.task.cancel()  # waiting for a slot: never starts
            await self._finish(task_id, RunResult("cancelled"), state=CANCELLED)
            return
        state = self.ledger.state(task_id)
        if state is None:
            self.ledger.add(task_id, CANCELLED)
            await self._send("task.received", {"task_id": task_id})
            await self._finish(task_id, RunResult("cancelled"), state=CANCELLED)
        elif state == RECEIVED:
            await self._finish(task_id, RunResult("cancelled"), state=CANCELLED)
        # running (reported at the next welcome), finished or cancelled: nothing to do

    def _session(self, message: dict[str, Any]) -> AcpSession | CodexSession | ComputerAgent | None:
        """The session a session message is for, or None (logged) if it is not one this agent holds."""
        task_id = message.get("task_id")
        job = self.jobs.get(task_id) if _is_id(task_id) else None  # type: ignore[arg-type]
        if job is None or job.session is None:
            log.info(
                "ignoring a %s for task %r: not an agent session here", message["type"], str(task_id)[:32]
            )
            return None
        return job.session

    async def on_message(self, message: dict[str, Any]) -> None:
        session = self._session(message)
        message_id, text = message.get("message_id"), message.get("text")
        if session is None:
            return
        if (
            not _is_id(message_id)
            or not isinstance(text, str)
            or not 1 <= len(text) <= MAX_PROMPT
            or "\0" in text
        ):
            log.warning(
                "ignoring a task.message without a message id and 1-%d characters of text", MAX_PROMPT
            )
            return
        assert isinstance(message_id, int)
        session.message(message_id, text)

    async def on_answer(self, message: dict[str, Any]) -> None:
        session = self._session(message)
        request_id, option_id = message.get("request_id"), message.get("option_id")
        if session is not None and isinstance(request_id, str) and isinstance(option_id, str):
            session.answer(request_id, option_id)

    async def on_interrupt(self, message: dict[str, Any]) -> None:
        session = self._session(message)
        if session is not None:
            await session.interrupt()

    async def on_end(self, message: dict[str, Any]) -> None:
        session = self._session(message)
        if session is None:
            return
        if self.jobs[message["task_id"]].started:
            session.end()
        else:  # still waiting for its slot: it never starts
            await self.on_cancel(message)

    # Running -----------------------------------------------------------------------

    def _check(self, assignment: dict[str, Any]) -> str | None:
        """Why the assignment cannot run (all but the target), or None."""
        project, name, prompt, target = (
            assignment.get(k) for k in ("project", "executor", "prompt", "target")
        )
        if not isinstance(project, str) or project not in self.projects:
            return f"project {str(project)[:64]!r} is not shared by this host"
        if not isinstance(name, str) or name not in self.executors:
            offered = ", ".join(self.executors) or "none"
            return f"executor {str(name)[:32]!r} is not offered by this host (it offers: {offered})"
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= MAX_PROMPT:
            return f"the prompt must be 1-{MAX_PROMPT} characters"
        if "\0" in prompt:
            return "the prompt must not contain NUL"
        if not isinstance(target, str):
            return "target must be a string"
        executor = self.executors[name]
        if executor.needs_file and not target:
            return f"executor {name!r} needs a target file"
        error = _workspace_error(assignment)
        if error is not None:
            return error
        if executor.kind == "browser":
            if assignment.get("workspace") == WORKTREE:
                return "a browser task uses no project files, so it cannot run in a worktree"
            from hostagent.tasks.browser_steps import steps_error  # pydantic: on the first browser task

            return steps_error(assignment.get("steps"), SiteList(executor.allowed_sites))
        if executor.kind == "computer":
            return _computer_error(assignment, executor)
        if assignment.get("steps"):
            return f"executor {name!r} takes a prompt, not browser steps"
        if assignment.get("computer_steps"):
            return f"executor {name!r} takes a prompt, not computer steps"
        return _resume_error(assignment.get("resume_thread"), executor) or _model_error(assignment, executor)

    async def _accept(self, task_id: int, assignment: dict[str, Any]) -> None:
        error = self._check(assignment)
        workspace = assignment.get("workspace") or WORKING_COPY
        if error is None and workspace == WORKING_COPY:  # a worktree's target is checked in it
            root = os.path.realpath(self.projects[assignment["project"]])
            error = await asyncio.to_thread(target_error, root, assignment["target"], self.exclude)
        if error is not None:
            log.warning("refusing task %d: %s", task_id, error)
            await self._finish(task_id, RunResult("failed", error=error))
            return
        executor = self.executors[assignment["executor"]]
        job = _Job(
            task_id,
            assignment["project"],
            executor,
            assignment["prompt"],
            assignment["target"],
            steps=_job_steps(assignment, executor),
            workspace=workspace,
            base=assignment.get("base"),
            worktree_of=assignment.get("worktree_of"),
        )
        if executor.kind == "acp":
            from hostagent.tasks.acp_session import AcpSession

            job.session = AcpSession(executor, task_id, job.prompt, job.target, self._send, job.cancel)
        if executor.kind == "codex":
            from hostagent.tasks.codex_session import CodexSession
            from hostagent.tasks.codex_threads import thread_places

            places = thread_places({job.project: self.projects[job.project]}, self.worktrees)[job.project]
            chosen = {k: assignment[k] for k in ("model", "effort") if assignment.get(k) is not None}
            job.session = CodexSession(
                dataclasses.replace(executor, **chosen),
                task_id,
                job.prompt,
                job.target,
                self._send,
                job.cancel,
                resume=assignment.get("resume_thread"),
                places=tuple(places),
                project=job.project,
            )
        if executor.drives_itself:
            from hostagent.tasks.computer import display_of
            from hostagent.tasks.computer_agent import ComputerAgent

            upload = hub_uploader(self.hub, self.token, task_id)
            lock = self.display_locks.setdefault(display_of(executor), asyncio.Lock())
            job.session = ComputerAgent(executor, task_id, job.prompt, self._send, job.cancel, upload, lock)
        self.jobs[task_id] = job
        job.task = asyncio.create_task(self._run_job(job))

    def _project_lock(self, project: str) -> contextlib.AbstractAsyncContextManager[Any]:
        if self.config.parallel_per_project:
            return contextlib.nullcontext()
        return self.locks.setdefault(project, asyncio.Lock())

    def worktree_lock(self, task_id: int) -> asyncio.Lock:
        """Held while a task runs in the worktree of task `task_id` (or git works in it)."""
        return self.worktree_locks.setdefault(task_id, asyncio.Lock())

    def running_in_working_copy(self, project: str) -> bool:
        """Whether a task is running in `project`'s working copy now."""
        return any(
            job.started
            and job.project == project
            and job.workspace == WORKING_COPY
            and job.steps is None
            and job.executor.kind != "computer"
            for job in self.jobs.values()
        )

    def _lock(self, job: _Job) -> contextlib.AbstractAsyncContextManager[Any]:
        if job.workspace == WORKTREE:
            return self.worktree_lock(job.worktree_of or job.id)
        return self._project_lock(job.project)

    async def _run_job(self, job: _Job) -> None:
        try:
            async with self._lock(job), self.slots:
                if job.cancel_requested or not self.ledger.start(job.id):
                    return
                job.started = True
                await self._execute(job)
        except asyncio.CancelledError:
            if job.started:
                raise
        finally:
            self.jobs.pop(job.id, None)

    async def _execute(self, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        task_log = TaskLog(lambda payload: self._send("task.log", payload), job.id, self.config.output_cap)
        changes: list[dict[str, Any]] = []
        try:
            started_payload = await self._prepare(job)
        except _NoWorkspace as exc:
            log.warning("task %d: %s", job.id, exc)
            await self._finish(job.id, RunResult("failed", error=str(exc)))
            return
        except Exception as exc:  # the hub must hear how it ended, whatever broke
            log.exception("task %d: its workspace failed inside the agent", job.id)
            await self._finish(job.id, RunResult("failed", error=f"the agent failed: {type(exc).__name__}"))
            return
        try:
            await self._send("task.started", started_payload)
            log.info("task %d: running %s on %s", job.id, job.executor.name, job.project)
            result, changes = await self._run(job, task_log)
        except Exception as exc:  # the hub must hear how it ended, whatever broke
            log.exception("task %d failed inside the agent", job.id)
            result = RunResult("failed", error=f"the agent failed: {type(exc).__name__}")
        if job.stopping:
            result = RunResult("failed", error=INTERRUPTED)
        log.info("task %d: %s%s", job.id, result.outcome, f" ({result.error})" if result.error else "")
        await self._finish(
            job.id,
            result,
            duration=loop.time() - started,
            truncated=task_log.truncated,
            changes=changes,
            steps=job.results if job.steps is not None else None,
        )

    async def _prepare(self, job: _Job) -> dict[str, Any]:
        """Make or find the job's workspace and record it; `task.started`'s payload. Raises
        _NoWorkspace with the reason the task fails."""
        if job.project not in self.projects:  # removed from agent.toml while the task waited
            raise _NoWorkspace(NO_LONGER_SHARED.format(project=job.project))
        project_root = os.path.realpath(self.projects[job.project])
        if job.workspace != WORKTREE:
            job.root = project_root
            if job.steps is None:
                self.ledger.set_workspace(Workspace(job.id, job.project, WORKING_COPY))
            return {"task_id": job.id}
        if not os.path.lexists(os.path.join(project_root, ".git")):
            raise _NoWorkspace(NOT_A_REPOSITORY.format(project=job.project))
        if job.worktree_of is not None:
            workspace = await self._continue_in(job, project_root)
        else:
            workspace = await self._new_worktree(job, project_root)
        self.ledger.set_workspace(workspace)
        return {
            "task_id": job.id,
            "branch": workspace.branch,
            "base": workspace.base,
            "base_commit": workspace.base_commit,
        }

    async def _new_worktree(self, job: _Job, project_root: str) -> Workspace:
        base = job.base
        try:
            if base is None:
                base = await asyncio.to_thread(current_branch, project_root)
            tree = await asyncio.to_thread(
                gitops.worktree_create,
                project_root,
                job.id,
                names.slugify(job.prompt),
                base,
                data_dir=self.worktrees,
            )
        except (gitops.GitError, gitops.Refused) as exc:
            raise _NoWorkspace(WORKTREE_FAILED.format(error=exc)) from None
        except OSError as exc:  # its folder under the agent's data folder
            raise _NoWorkspace(WORKTREE_FAILED.format(error=exc.strerror or exc)) from None
        job.root = os.path.realpath(tree.path)
        return Workspace(job.id, job.project, WORKTREE, None, tree.branch, base, tree.head or None)

    async def _continue_in(self, job: _Job, project_root: str) -> Workspace:
        assert job.worktree_of is not None
        try:
            trees = await asyncio.to_thread(gitops.worktrees, project_root)
        except (gitops.GitError, gitops.Refused) as exc:
            raise _NoWorkspace(WORKTREE_FAILED.format(error=exc)) from None
        tree = next((t for t in trees if t.task_id == job.worktree_of and not t.prunable), None)
        if tree is None:
            raise _NoWorkspace(NO_WORKTREE.format(task_id=job.worktree_of))
        job.root = os.path.realpath(tree.path)
        first = self.ledger.workspace(job.worktree_of)
        base, base_commit = (first.base, first.base_commit) if first is not None else (None, None)
        return Workspace(job.id, job.project, WORKTREE, job.worktree_of, tree.branch, base, base_commit)

    async def _run(self, job: _Job, task_log: TaskLog) -> tuple[RunResult, list[dict[str, Any]]]:
        if job.steps is not None and job.executor.kind == "computer":  # a desktop: no project scan
            from hostagent.tasks.computer import display_of, run_computer

            upload = hub_uploader(self.hub, self.token, job.id)
            lock = self.display_locks.setdefault(display_of(job.executor), asyncio.Lock())
            result = await run_computer(
                job.executor,
                job.steps,
                task_log,
                job.cancel,
                upload,
                job.results,
                display_lock=lock,
                live=self.live_view(job.id, job.executor, task_log),
                on_step=self._step_sender(job.id),
            )
            return result, []
        if job.executor.drives_itself and job.session is not None:  # the desktop: no project scan
            from hostagent.tasks.computer_agent import ComputerAgent

            if isinstance(job.session, ComputerAgent):
                job.session.live = self.live_view(job.id, job.executor, task_log)
            return await job.session.run(job.root, task_log), []
        if job.steps is not None:  # a browser drives web sites: nothing in the project to compare
            upload = hub_uploader(self.hub, self.token, job.id)
            result = await run_browser(
                job.executor,
                job.steps,
                task_log,
                job.cancel,
                upload,
                job.results,
                on_step=self._step_sender(job.id),
            )
            return result, []
        root = job.root
        # Checked again: the file may have gone or changed while the task waited.
        error = await asyncio.to_thread(target_error, root, job.target, self.exclude)
        if error is not None:
            return RunResult("failed", error=error), []
        try:
            before = await asyncio.to_thread(take_snapshot, root, self.exclude)
        except RootMissing:
            return RunResult("failed", error="the project folder is missing"), []
        if job.cancel.is_set():
            return RunResult("cancelled"), []
        if job.session is not None:
            result = await job.session.run(root, task_log)
        elif job.executor.output:
            result = await self._run_structured(job, root, task_log)
        else:
            run = run_openai if job.executor.kind == "openai" else run_command
            result = await run(job.executor, root, job.prompt, job.target, task_log, job.cancel)
        try:
            changes, total, record = await asyncio.to_thread(compare_recorded, before)
        except RootMissing:
            return result, []
        if job.workspace == WORKING_COPY:  # before task.finished: a discard may follow at once
            self.ledger.record_changes(job.id, record)
        if total > len(changes):
            await task_log.note(f"[{total} files changed; the task lists the first {len(changes)}]\n")
        return result, changes

    async def _run_structured(self, job: _Job, root: str, task_log: TaskLog) -> RunResult:
        """A command whose stdout is a structured format: its events on the timeline, its stderr the log."""
        from hostagent.tasks.cli_output import StructuredOutput  # the acp package: only for such tasks

        output = StructuredOutput(job.executor.output, job.id, root, self._send, task_log)
        output.prompt(job.prompt)
        try:
            return await run_command(
                job.executor, root, job.prompt, job.target, task_log, job.cancel, stdout=output.read
            )
        finally:
            await output.close()

    async def _finish(
        self,
        task_id: int,
        result: RunResult,
        *,
        state: str = FINISHED,
        duration: float = 0.0,
        truncated: bool = False,
        changes: list[dict[str, Any]] | None = None,
        steps: list[dict[str, Any]] | None = None,
    ) -> None:
        """Send `task.finished` (dropping diffs, largest first, then halving the longest step text,
        until it fits one frame), then record the end: a crash in between sends it again after the
        restart, never loses it."""
        payload: dict[str, Any] = {
            "task_id": task_id,
            "outcome": result.outcome,
            "exit_code": result.exit_code,
            "error": result.error,
            "duration": round(duration, 3),
            "log_truncated": truncated,
            "changes": changes or [],
        }
        if steps is not None:
            payload["steps"] = [dict(step) for step in steps]
        while True:
            try:
                await self._send("task.finished", payload)
                break
            except InvalidReport as exc:  # a bug of ours: the hub must still hear that it ended
                log.error("task %d: %s", task_id, exc)
                error = f"the agent could not report how the task ended ({exc})"
                payload = {"task_id": task_id, "outcome": "failed", "error": error, "changes": []}
            except ValueError:
                diffs = [c for c in payload["changes"] if c.get("diff")]
                texts = [s for s in payload.get("steps", []) if s.get("text")]
                if diffs:
                    largest = max(diffs, key=lambda c: len(c["diff"]))
                    largest["diff"], largest["too_large"] = None, True
                elif texts:
                    longest = max(texts, key=lambda s: len(s["text"]))
                    longest["text"] = longest["text"][: len(longest["text"]) // 2]
                else:
                    raise
        self.ledger.end(task_id, state)
