"""What each sequenced message from a host does. A new message type is one
model in `protocol` and one decorated function here or in its app; the link
and its exactly-once bookkeeping stay the same."""

import functools
from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError

from accounts.groups import team_group
from codexhub.events import group_send_on_commit
from devices.models import Host
from protocol.base import Sequenced, reason
from protocol.link import Hello

Handler = Callable[..., None]  # handler(*, host_id: int, payload: dict) -> None
HANDLERS: dict[tuple[str, str], Handler] = {}
M = TypeVar("M", bound=Sequenced)


class UnknownMessage(Exception):
    pass


class InvalidMessage(Exception):
    pass


def handles(model: type[M]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register `fn(*, host_id, message: model)` for the model's (stream, type).
    The registry holds a wrapper called as `handler(*, host_id, payload)`: it
    checks the payload against the model (InvalidMessage with a short reason
    naming the field if it does not fit) before `fn` runs."""

    model.model_rebuild(force=True)  # the hub builds its validators at start, not on the first message

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def handler(*, host_id: int, payload: dict) -> None:
            try:
                message = model.model_validate(payload)
            except ValidationError as exc:
                raise InvalidMessage(reason(exc)) from None
            fn(host_id=host_id, message=message)

        HANDLERS[(model.stream, model.type)] = handler
        return fn

    return register


def known_streams() -> set[str]:
    """The streams a host may send on: those with a registered message."""
    return {stream for stream, _ in HANDLERS}


def handler_for(stream: str, kind: str) -> Handler:
    try:
        return HANDLERS[(stream, kind)]
    except KeyError:
        raise UnknownMessage(f"unknown message {kind!r} on stream {stream!r}") from None


@handles(Hello)
def hello(*, host_id: int, message: Hello) -> None:
    """What the agent says of itself. When it changed (another version, an executor added to
    agent.toml while it runs), the team's open host pages fetch it again."""
    executors = {executor.name: executor.model_dump() for executor in message.executors}
    said = {
        "agent_version": message.agent_version,
        "protocol_version": message.protocol_version,
        "agent_clis": [cli.model_dump() for cli in message.clis],
        "platform": message.platform,
        "capabilities": sorted(set(message.capabilities)),
        "executors": [executors[name] for name in sorted(executors)],
    }
    host = Host.objects.only("team_id", *said).get(id=host_id)
    if all(getattr(host, field) == value for field, value in said.items()):
        return  # the same agent again, as on every reconnect
    Host.objects.filter(id=host_id).update(**said)
    group_send_on_commit(team_group(host.team_id), {"type": "host.changed", "host": host_id})
