"""Agent sessions (docs/protocol.md, "Agent sessions (ACP)"): the timeline's
items, turns and permission requests the agent reports, and the answers,
follow-ups, interrupts and ends the hub sends.

Everything here but ids, keys and option ids is display text for the phone:
cut to its cap, lists cut to their length, a missing or null field its empty
default; a field of the wrong type or value refuses the whole message.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    SkipValidation,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from protocol import limits
from protocol.base import (
    Choice,
    CutList,
    Display,
    Exact,
    Id,
    ProtocolModel,
    Token,
    reason,
    refuse,
)
from protocol.tasks import TasksMessage

KEY_REFUSED = "key must be 1-80 of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
REQUEST_ID_REFUSED = "request_id must be 1-64 of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
DATA_REFUSED = "data must be an object"
ARTIFACT_REFUSED = "artifact must be step-<n>.png or action-<n>.png"
OPTION_IDS_DIFFER = "option ids must differ"

# Timeline items ----------------------------------------------------------------------------------


class UserData(ProtocolModel):
    """The task's prompt (`message_id` null) or a follow-up."""

    text: Annotated[str, Display(limits.MAX_USER_TEXT, null=True)] = ""
    message_id: Id | None = None


class TextData(ProtocolModel):
    """The agent's message so far, or its thought."""

    text: Annotated[str, Display(limits.MAX_AGENT_TEXT, null=True)] = ""


class PlanEntry(ProtocolModel):
    content: Annotated[str, Display(limits.MAX_PLAN_CONTENT, null=True)] = ""
    status: Annotated[str, Choice(limits.PLAN_STATUSES, "pending")] = "pending"
    priority: Annotated[str, Choice(limits.PRIORITIES, "medium")] = "medium"


class PlanData(ProtocolModel):
    entries: Annotated[list[PlanEntry], CutList(limits.MAX_PLAN_ENTRIES)] = []


class FileDiff(ProtocolModel):
    path: Annotated[str, Display(limits.MAX_LOCATION, null=True)] = ""
    diff: Annotated[str, Display(limits.MAX_DIFF, null=True)] = ""


Location = Annotated[str, Display(limits.MAX_LOCATION)]


class ToolData(ProtocolModel):
    title: Annotated[str, Display(limits.MAX_TITLE, null=True)] = ""
    tool_kind: Annotated[str, Choice(limits.TOOL_KINDS, "other")] = "other"
    status: Annotated[str, Choice(limits.TOOL_STATUSES, "pending")] = "pending"
    # paths relative to the root where inside
    locations: Annotated[list[Location], CutList(limits.MAX_LOCATIONS)] = []
    text: Annotated[str, Display(limits.MAX_TOOL_TEXT, null=True)] = ""
    diffs: Annotated[list[FileDiff], CutList(limits.MAX_DIFFS)] = []
    # a computer task's action: the screenshot after it, uploaded as that artifact (action-<n>.png)
    artifact: Annotated[str, Token(limits.ARTIFACT_NAME, ARTIFACT_REFUSED)] | None = None

    @model_serializer(mode="wrap")
    def _without_no_artifact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("artifact") is None:
            data.pop("artifact", None)  # an agent's tool call: as before computer tasks
        return data


class NoticeData(ProtocolModel):
    """What the host agent itself says, e.g. a refused write."""

    text: Annotated[str, Display(limits.MAX_NOTICE, null=True)] = ""
    level: Annotated[str, Choice(limits.NOTICE_LEVELS, "info")] = "info"


ITEM_DATA: dict[str, type[ProtocolModel]] = {
    "user": UserData,
    "agent": TextData,
    "thought": TextData,
    "plan": PlanData,
    "tool": ToolData,
    "notice": NoticeData,
}
ItemData = UserData | TextData | PlanData | ToolData | NoticeData


class TaskItem(TasksMessage):
    """One entry of the task's timeline, created or replaced whole (by `key`)."""

    type = "task.item"

    key: Annotated[str, Token(limits.ITEM_KEY, KEY_REFUSED)]
    kind: Literal[limits.ITEM_KINDS]  # type: ignore[valid-type]
    data: SkipValidation[ItemData]  # checked by kind, below

    @model_validator(mode="before")
    @classmethod
    def _data_of_kind(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        model = ITEM_DATA.get(raw["kind"]) if isinstance(raw.get("kind"), str) else None
        data = raw.get("data")
        if model is None or isinstance(data, model):
            return raw  # the kind is refused by its own check
        if not isinstance(data, dict):
            raise refuse(DATA_REFUSED)
        try:
            return {**raw, "data": model.model_validate(data)}
        except ValidationError as exc:
            raise refuse(f"data.{reason(exc, 150)}") from None


# Turns and permission requests ---------------------------------------------------------------------


class TaskTurn(TasksMessage):
    """`working` when a turn starts (`message_id`: the follow-up it carries), `waiting` when it ends."""

    type = "task.turn"

    state: Literal[limits.TURN_STATES]  # type: ignore[valid-type]
    message_id: Id | None = None
    stop_reason: Annotated[str, Display(limits.MAX_STOP_REASON)] | None = None  # ACP's, null after an error


class Option(ProtocolModel):
    # never cut: the answer must name it exactly
    option_id: Annotated[str, Exact(limits.MAX_OPTION_ID, "option_id")]
    name: Annotated[str, Display(limits.MAX_OPTION_NAME, null=True)] = ""  # "": the id
    kind: Literal[limits.OPTION_KINDS]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _name_or_id(self) -> "Option":
        self.name = self.name.strip() or self.option_id
        return self


RequestId = Annotated[str, Token(limits.REQUEST_ID, REQUEST_ID_REFUSED)]


class TaskPermission(TasksMessage):
    """The agent asks before it acts; `timeout`: how long the host waits (null: for ever)."""

    type = "task.permission"

    request_id: RequestId
    title: Annotated[str, Display(limits.MAX_TITLE, null=True)] = ""
    tool_kind: Annotated[str, Choice(limits.TOOL_KINDS, "other")] = "other"
    locations: Annotated[list[Location], CutList(limits.MAX_LOCATIONS)] = []
    diffs: Annotated[list[FileDiff], CutList(limits.MAX_DIFFS)] = []
    options: Annotated[list[Option], Field(min_length=1, max_length=limits.MAX_OPTIONS)]
    on_timeout: Literal[limits.ON_TIMEOUT]  # type: ignore[valid-type]
    timeout: Annotated[float, Field(gt=0, le=limits.MAX_PERMISSION_TIMEOUT)] | None = None

    @field_validator("options")
    @classmethod
    def _distinct(cls, options: list[Option]) -> list[Option]:
        if len({option.option_id for option in options}) != len(options):
            raise refuse(OPTION_IDS_DIFFER)
        return options

    @property
    def timeout_seconds(self) -> int | None:
        return None if self.timeout is None else max(1, round(self.timeout))


class TaskPermissionClosed(TasksMessage):
    """The agent got its answer: the phone's, the timeout's, or none (cancelled)."""

    type = "task.permission_closed"

    request_id: RequestId
    outcome: Literal[limits.CLOSE_OUTCOMES]  # type: ignore[valid-type]
    option_id: Annotated[str, Exact(limits.MAX_OPTION_ID, "option_id")] | None = None


# Hub to agent (re-sent on every (re)connect until the agent reports them) -------------------------


class TaskAnswer(ProtocolModel):
    type: Literal["task.answer"] = "task.answer"
    task_id: Id
    request_id: RequestId
    option_id: Annotated[str, Exact(limits.MAX_OPTION_ID, "option_id")]


class FollowUp(ProtocolModel):
    """A follow-up for the session (`task.message`), taken in `message_id` order."""

    type: Literal["task.message"] = "task.message"
    task_id: Id
    message_id: Id
    text: Annotated[str, Field(min_length=1, max_length=limits.MAX_PROMPT)]


class TaskInterrupt(ProtocolModel):
    type: Literal["task.interrupt"] = "task.interrupt"
    task_id: Id


class TaskEnd(ProtocolModel):
    type: Literal["task.end"] = "task.end"
    task_id: Id
