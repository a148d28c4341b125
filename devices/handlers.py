"""What each sequenced message from a host does. A new message type is one
decorated function; the link and its exactly-once bookkeeping stay the same."""

from collections.abc import Callable

from accounts.validators import has_control_characters
from devices.models import Host

Handler = Callable[..., None]
HANDLERS: dict[tuple[str, str], Handler] = {}
KNOWN_CAPABILITIES = {"agent", "browser", "shell", "mirror"}


class UnknownMessage(Exception):
    pass


class InvalidMessage(Exception):
    pass


def handles(stream: str, kind: str):
    def register(fn: Handler) -> Handler:
        HANDLERS[(stream, kind)] = fn
        return fn

    return register


def handler_for(stream: str, kind: str) -> Handler:
    try:
        return HANDLERS[(stream, kind)]
    except KeyError:
        raise UnknownMessage(f"unknown message {kind!r} on stream {stream!r}") from None


def _short_text(payload: dict, key: str, limit: int) -> str:
    value = payload.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidMessage(f"{key} must be text of at most {limit} characters")
    if has_control_characters(value):
        raise InvalidMessage(f"{key} has control characters")
    return value


@handles("host", "hello")
def hello(*, host_id: int, payload: dict) -> None:
    capabilities = payload.get("capabilities", [])
    if not isinstance(capabilities, list) or len(capabilities) > 16:
        raise InvalidMessage("capabilities must be a list of at most 16 names")
    unknown = [c for c in capabilities if not isinstance(c, str) or c not in KNOWN_CAPABILITIES]
    if unknown:
        raise InvalidMessage(f"unknown capabilities: {unknown!r}"[:200])
    Host.objects.filter(id=host_id).update(
        agent_version=_short_text(payload, "agent_version", 32),
        platform=_short_text(payload, "platform", 64),
        capabilities=sorted(set(capabilities)),
    )
