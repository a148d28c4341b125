"""The tasks stream (docs/protocol.md, "Tasks" and "Browser tasks"): what the
agent reports about a task, and the assignments and cancels the hub sends."""

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StrictInt, ValidationError, model_validator

from protocol import limits
from protocol.base import Display, Id, MirrorPath, ProtocolModel, Sequenced, Token, refuse
from protocol.computer import steps_refused
from protocol.git import Branch, Commit
from protocol.link import Effort, ModelId
from protocol.steps import SHOWN, STEP_FIELDS, quoted

# Browser steps ----------------------------------------------------------------------------------

URL_SCHEME = "url must be an http or https address"


def _step_text(limit: int, field: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not 0 < len(value) <= limit or "\x00" in value:
            raise refuse(f"{field} must be text of 1-{limit} characters")
        return value

    return check


def StepText(field: str) -> AfterValidator:  # noqa: N802 (names a kind)
    """As `Annotated[str, StepText(field)]`."""
    limit = limits.MAX_SELECTOR if field == "selector" else limits.MAX_STEP_TEXT
    return AfterValidator(_step_text(limit, field))


class BrowserStep(ProtocolModel):
    """One step of a browser task. Unknown fields are refused: a step the agent
    does not understand must not run as something else."""

    model_config = {**ProtocolModel.model_config, "extra": "forbid"}

    action: Literal[tuple(STEP_FIELDS)]  # type: ignore[valid-type]
    url: Annotated[str, StepText("url")] | None = None
    selector: Annotated[str, StepText("selector")] | None = None
    value: Annotated[str, StepText("value")] | None = None
    key: Annotated[str, StepText("key")] | None = None
    text: Annotated[str, StepText("text")] | None = None
    attribute: Annotated[str, StepText("attribute")] | None = None
    full_page: bool | None = None
    timeout: Annotated[float, Field(ge=limits.MIN_STEP_TIMEOUT, le=limits.MAX_STEP_TIMEOUT)] | None = None

    @model_validator(mode="after")
    def _fields_of_action(self) -> "BrowserStep":
        given = self.model_fields_set - {"action"}
        for field in sorted(given):
            if getattr(self, field) is None:  # sent as null
                raise refuse(_null_refused(field))
        required, optional = STEP_FIELDS[self.action]
        unknown = sorted(given - required - optional - {"timeout"})
        if unknown:
            raise refuse(f"unknown field {quoted(unknown[0])}")
        missing = sorted(required - given)
        if missing:
            raise refuse(f"{missing[0]} is required")
        if self.action == "wait" and not {"selector", "text"} & given:
            raise refuse("selector or text is required")
        if self.action == "open" and urlsplit(self.url or "").scheme not in ("http", "https"):
            raise refuse(URL_SCHEME)
        return self

    def wire(self) -> dict[str, Any]:
        """The step as sent: only the fields it has."""
        return self.model_dump(exclude_unset=True)


def _null_refused(field: str) -> str:
    if field == "full_page":
        return "full_page must be true or false"
    if field == "timeout":
        return TIMEOUT_REFUSED
    limit = limits.MAX_SELECTOR if field == "selector" else limits.MAX_STEP_TEXT
    return f"{field} must be text of 1-{limit} characters"


TIMEOUT_REFUSED = f"timeout must be {limits.MIN_STEP_TIMEOUT}-{limits.MAX_STEP_TIMEOUT} seconds"


def step_error(index: int, raw: object) -> str | None:
    """Why the step at `index` (from 0) cannot run, naming it as people count
    (`step 3 (click): selector is required`), or None."""
    n = index + 1
    if not isinstance(raw, dict):
        return f'step {n}: not an object like {{"action": "click", "selector": "#buy"}}'
    action = raw.get("action")
    if not isinstance(action, str) or action not in STEP_FIELDS:
        shown = quoted(action) if isinstance(action, str) else repr(action)[:SHOWN]
        return f"step {n}: unknown action {shown} (use one of {', '.join(STEP_FIELDS)})"
    try:
        BrowserStep.model_validate(raw)
    except ValidationError as exc:
        return f"step {n} ({action}): {_step_problem(exc)}"
    return None


def _step_problem(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:  # as the agent always said: unknown fields first
        return f"unknown field {quoted(str(unknown[0]['loc'][-1]))}"
    error = errors[0]
    if error["type"] == "protocol":
        return error["msg"]
    field = str(error["loc"][0]) if error["loc"] else ""
    if field == "timeout":
        return TIMEOUT_REFUSED
    return _null_refused(field)


def steps_error(steps: object) -> str | None:
    """Why a browser task's `steps` cannot run (naming the first bad step), or None."""
    if not isinstance(steps, list) or not steps:
        return f"a browser task needs a list of 1-{limits.MAX_STEPS} steps"
    if len(steps) > limits.MAX_STEPS:
        return f"a browser task has at most {limits.MAX_STEPS} steps (this one has {len(steps)})"
    for index, step in enumerate(steps):
        error = step_error(index, step)
        if error is not None:
            return error
    return None


def _steps(value: list[Any]) -> list[Any]:
    error = steps_error(value)
    if error is not None:
        raise refuse(error)
    return value


# Hub to agent ------------------------------------------------------------------------------------

THREAD_REFUSED = "a thread id is 1-64 of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
ThreadId = Annotated[str, Token(limits.THREAD_ID, THREAD_REFUSED)]


class Assignment(ProtocolModel):
    id: Id
    project: str
    executor: str
    prompt: Annotated[str, Field(min_length=1, max_length=limits.MAX_PROMPT)]
    target: str = ""  # "" or a mirror path
    steps: Annotated[list[dict[str, Any]], AfterValidator(_steps)] | None = None  # a browser task's
    # A computer task's steps (docs/protocol.md, "Computer tasks").
    computer_steps: Annotated[list[dict[str, Any]], AfterValidator(steps_refused)] | None = None
    # Where it runs (docs/protocol.md, "Git"): the project's working copy, or a branch of its own
    # in a worktree, from `base` (null: the working copy's branch), or in the worktree of the
    # earlier task `worktree_of` (a continuation).
    workspace: Literal[limits.WORKSPACES] = "working_copy"  # type: ignore[valid-type]
    base: Branch | None = None
    worktree_of: Id | None = None
    # A codex task that continues this Codex thread (docs/protocol.md, "Codex threads").
    resume_thread: ThreadId | None = None
    # A codex task's model and reasoning effort, among those its executor offers (null: its own).
    model: ModelId | None = None
    effort: Effort | None = None


class TaskAssign(ProtocolModel):
    """Re-sent until the agent acks it with `task.received`; the agent dedupes by id."""

    type: Literal["task.assign"] = "task.assign"
    task: Assignment


class TaskCancel(ProtocolModel):
    type: Literal["task.cancel"] = "task.cancel"
    task_id: Id


# Agent to hub (stream "tasks") -------------------------------------------------------------------


class TasksMessage(Sequenced):
    stream: ClassVar[str] = "tasks"

    task_id: Id


class TaskReceived(TasksMessage):
    """The ack of an assignment."""

    type = "task.received"


class TaskStarted(TasksMessage):
    """`branch`, `base` and `base_commit`: where a task in a worktree runs (null otherwise)."""

    type = "task.started"

    branch: Branch | None = None
    base: Branch | None = None
    base_commit: Commit | None = None


class TaskLog(TasksMessage):
    """The next piece of the task's merged stdout and stderr; `seq` counts from 1 per task."""

    type = "task.log"

    seq: Annotated[StrictInt, Field(gt=0, lt=limits.MAX_LOG_SEQ)]
    text: Annotated[str, Display(limits.MAX_LOG_TEXT)]


class FileChange(ProtocolModel):
    path: MirrorPath
    op: Literal[limits.FILE_OPS]  # type: ignore[valid-type]
    diff: Annotated[str, Display(limits.MAX_DIFF_KEPT)] | None = None  # null for binary or large files
    binary: bool = False
    too_large: bool = False


ARTIFACT_REFUSED = "artifact must be step-<n>.png or step-<n>.pdf"


class StepResult(ProtocolModel):
    index: Annotated[StrictInt, Field(ge=0, lt=limits.MAX_STEPS)]
    action: Annotated[str, Display(limits.MAX_STEP_ACTION, null=True)] = ""
    ok: bool = False
    error: Annotated[str, Display(limits.MAX_STEP_ERROR, null=True)] = ""
    text: Annotated[str, Display(limits.MAX_RESULT_TEXT)] | None = None
    artifact: Annotated[str, Token(limits.ARTIFACT_NAME, ARTIFACT_REFUSED)] | None = None


class TaskStep(TasksMessage):
    """A step of a computer or browser task ran: its result at once, so the page fills in while
    the task runs (`task.finished` still carries them all)."""

    type = "task.step"

    step: StepResult


class TaskFinished(TasksMessage):
    type = "task.finished"

    outcome: Literal[limits.OUTCOMES]  # type: ignore[valid-type]
    exit_code: Annotated[StrictInt, Field(gt=-limits.MAX_EXIT_CODE, lt=limits.MAX_EXIT_CODE)] | None = None
    error: Annotated[str, Display(limits.MAX_ERROR)] | None = None  # null or "": none
    duration: Annotated[float, Field(ge=0, lt=limits.MAX_DURATION)] | None = None
    log_truncated: bool = False
    changes: Annotated[list[FileChange], Field(max_length=limits.MAX_FILE_CHANGES)] | None = None
    steps: Annotated[list[StepResult], Field(max_length=limits.MAX_STEPS)] | None = None  # browser tasks
