"""What each sequenced message from a host does. A new message type is one
decorated function; the link and its exactly-once bookkeeping stay the same."""

import re
from collections.abc import Callable

from accounts.validators import has_control_characters
from devices.models import Host

Handler = Callable[..., None]
HANDLERS: dict[tuple[str, str], Handler] = {}
KNOWN_CAPABILITIES = {"agent", "browser", "shell", "mirror"}
EXECUTOR_KINDS = {"command", "openai", "browser", "acp"}
EXECUTOR_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_EXECUTORS = 32


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
        executors=_executors(payload.get("executors", [])),
    )


def _executors(raw: object) -> list[dict]:
    if not isinstance(raw, list) or len(raw) > MAX_EXECUTORS:
        raise InvalidMessage(f"executors must be a list of at most {MAX_EXECUTORS}")
    executors: dict[str, dict] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidMessage("each executor must be an object")
        name = item.get("name")
        if not isinstance(name, str) or not EXECUTOR_NAME.match(name):
            raise InvalidMessage("an executor name is 1-32 of a-z, 0-9, - and _")
        if item.get("kind") not in EXECUTOR_KINDS:
            raise InvalidMessage(f"executor {name}: kind must be one of {sorted(EXECUTOR_KINDS)}")
        label = _short_text(item, "label", 64) or name
        executors[name] = {
            "name": name,
            "label": label,
            "kind": item["kind"],
            "needs_file": item.get("needs_file") is True,
        }
    return sorted(executors.values(), key=lambda e: e["name"])
