"""The host link's frames (docs/protocol.md, "The host link"): the sequenced
envelope, what the hub answers, heartbeats, and `hello`."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictInt, field_validator, model_validator

from protocol import limits
from protocol.base import CutList, Display, Name, ProtocolModel, Sequenced, Token, refuse
from protocol.version import PROTOCOL_VERSION, accepted, accepted_range

SeqNumber = Annotated[StrictInt, Field(gt=0, lt=limits.MAX_SEQ)]
Position = Annotated[StrictInt, Field(ge=0, lt=limits.MAX_SEQ)]
StreamName = Annotated[str, Field(min_length=1, max_length=limits.MAX_STREAM_NAME)]
TypeName = Annotated[str, Field(min_length=1, max_length=limits.MAX_TYPE_NAME)]


class Envelope(ProtocolModel):
    """A sequenced frame from the agent: `{"type", "stream", "seq", "payload"}`;
    the payload is checked by the model registered for (stream, type)."""

    type: TypeName
    stream: StreamName
    seq: SeqNumber
    payload: dict[str, Any]


# The hub's answers ----------------------------------------------------------------------------


class Welcome(ProtocolModel):
    type: Literal["welcome"] = "welcome"
    host_id: StrictInt
    heartbeat_interval: Annotated[float, Field(gt=0)]
    streams: dict[str, Position]  # per stream, the last seq the hub applied


class Ack(ProtocolModel):
    type: Literal["ack"] = "ack"
    stream: StreamName
    seq: SeqNumber


class Error(ProtocolModel):
    """A frame the hub could not use (the link stays up); `gap` names where to resend from."""

    type: Literal["error"] = "error"
    error: str
    stream: str | None = None
    seq: StrictInt | None = None
    expected: StrictInt | None = None


class Heartbeat(ProtocolModel):
    type: Literal["heartbeat"] = "heartbeat"


class HeartbeatAck(ProtocolModel):
    type: Literal["heartbeat_ack"] = "heartbeat_ack"


# hello ------------------------------------------------------------------------------------------

EXECUTOR_NAME_REFUSED = "an executor name is 1-32 of a-z, 0-9, - and _"
ENV_NAME_REFUSED = "a variable name is 1-64 of A-Z, a-z, 0-9 and _, not starting with a digit"
EnvNames = Annotated[
    list[Annotated[str, Token(limits.ENV_NAME, ENV_NAME_REFUSED)]], CutList(limits.MAX_EXECUTOR_ENV)
]


EFFORT_REFUSED = "a reasoning effort is 1-16 of a-z"
Effort = Annotated[str, Token(limits.EFFORT, EFFORT_REFUSED)]
ModelId = Annotated[str, Name(limits.MAX_MODEL_ID, "a model id")]


MAX_ACTION_NAMES = 32
ActionName = Annotated[str, Field(max_length=limits.MAX_STEP_ACTION)]


def _known_actions(actions: list[str]) -> list[str]:
    return [action for action in actions if action in limits.COMPUTER_ACTIONS]


class Model(ProtocolModel):
    """A model a codex executor offers, with the reasoning efforts it takes."""

    id: ModelId
    label: Annotated[str, Display(limits.MAX_MODEL_LABEL, null=True)] = ""  # "": the id
    efforts: Annotated[list[Effort], CutList(limits.MAX_EFFORTS)] = []
    default_effort: Effort | None = None


class Executor(ProtocolModel):
    name: Annotated[str, Token(limits.EXECUTOR_NAME, EXECUTOR_NAME_REFUSED)]
    label: Annotated[str, Name(limits.MAX_EXECUTOR_LABEL, "a label", empty=True)] = ""  # "": the name
    kind: Literal[limits.EXECUTOR_KINDS]  # type: ignore[valid-type]
    needs_file: bool = False
    env: EnvNames = []  # its own variables that pass to it (names, never values)
    env_missing: EnvNames = []  # it needs one of these and none is set on the host
    models: Annotated[list[Model], CutList(limits.MAX_MODELS)] = []  # a codex executor's; [] unknown
    # a computer executor's actions (docs/protocol.md, "Computer tasks"); one this hub does not know
    # is left out, so a newer agent's hello still passes
    actions: Annotated[list[ActionName], CutList(MAX_ACTION_NAMES), AfterValidator(_known_actions)] = []
    # a computer executor a model drives ("Computer tasks: the agent loop"): it takes a goal in words
    # (the prompt), not steps
    goal: bool = False

    @model_validator(mode="after")
    def _label_or_name(self) -> "Executor":
        if not self.label:
            self.label = self.name
        return self


CLI_NAME_REFUSED = "a CLI name is 1-32 of a-z, 0-9, - and _, starting with a letter"


class Cli(ProtocolModel):
    """An agent CLI on the host's PATH and the first line of its `--version`."""

    name: Annotated[str, Token(limits.CLI_NAME, CLI_NAME_REFUSED)]
    version: Annotated[str, Name(limits.MAX_CLI_VERSION, "a CLI version")]


class Hello(Sequenced):
    """Sent after each `welcome`: what the agent is and offers."""

    stream = "host"
    type = "hello"

    agent_version: Annotated[str, Name(limits.MAX_AGENT_VERSION, "agent_version", empty=True)] = ""
    # Left out by agents from before it: they speak the current protocol.
    protocol_version: StrictInt = PROTOCOL_VERSION
    clis: Annotated[list[Cli], Field(max_length=limits.MAX_CLIS)] = []
    platform: Annotated[str, Name(limits.MAX_PLATFORM, "platform", empty=True)] = ""
    capabilities: Annotated[list[str], Field(max_length=limits.MAX_CAPABILITIES)] = []
    executors: Annotated[list[Executor], Field(max_length=limits.MAX_EXECUTORS)] = []

    @field_validator("capabilities")
    @classmethod
    def _known(cls, capabilities: list[str]) -> list[str]:
        unknown = [name for name in capabilities if name not in limits.CAPABILITIES]
        if unknown:
            raise refuse(f"unknown capabilities: {ascii(unknown)}"[:120])
        return capabilities

    @field_validator("protocol_version")
    @classmethod
    def _compatible(cls, protocol_version: int) -> int:
        if not accepted(protocol_version):
            raise refuse(f"this hub takes agent protocol {accepted_range()}, not {protocol_version}"[:120])
        return protocol_version

    @field_validator("clis")
    @classmethod
    def _once_each(cls, clis: list[Cli]) -> list[Cli]:
        if len({cli.name for cli in clis}) != len(clis):
            raise refuse("each CLI is named once")
        return clis
