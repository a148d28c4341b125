"""What an agent session's host sends for the timeline and its permission
requests (docs/protocol.md, "Agent sessions"): checked and cut to size here,
before anything is written. The host is untrusted: a field that is missing
takes its empty default, a field of the wrong type or value refuses the whole
message, and text is cut to its cap, never refused for its length."""

import re

from devices.handlers import InvalidMessage
from tasks.models import ItemKind, OnTimeout

KEY = re.compile(r"[A-Za-z0-9._:-]{1,80}")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_ITEMS = 2000
MAX_USER_TEXT = 64 * 1024
MAX_AGENT_TEXT = 32 * 1024
MAX_PLAN_ENTRIES = 50
MAX_PLAN_CONTENT = 500
MAX_TITLE = 200
MAX_LOCATIONS = 20
MAX_LOCATION = 1000
MAX_TOOL_TEXT = 8 * 1024
MAX_DIFFS = 10
MAX_DIFF = 64 * 1024
MAX_NOTICE = 500
MAX_OPTIONS = 8
MAX_OPTION_ID = 64
MAX_OPTION_NAME = 64
MAX_TIMEOUT = 7 * 24 * 3600
PLAN_STATUSES = ("pending", "in_progress", "completed")
PRIORITIES = ("high", "medium", "low")
TOOL_KINDS = ("read", "edit", "delete", "move", "search", "execute", "think", "fetch", "switch_mode", "other")
TOOL_STATUSES = ("pending", "in_progress", "completed", "failed")
NOTICE_LEVELS = ("info", "error")
OPTION_KINDS = ("allow_once", "allow_always", "reject_once", "reject_always")
TURN_STATES = ("working", "waiting")
STOP_REASONS = ("end_turn", "max_tokens", "max_turn_requests", "refusal", "cancelled")
OUTCOMES = ("selected", "timed_out", "cancelled")


def text(value: object, limit: int, field: str) -> str:
    """Display text: cut to `limit`, with what Postgres text cannot hold replaced."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidMessage(f"{field} must be a string")
    return value[:limit].replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def choice(value: object, allowed: tuple[str, ...], field: str, default: str) -> str:
    if value is None:
        return default
    if value not in allowed:
        raise InvalidMessage(f"{field} must be one of {', '.join(allowed)}")
    return value


def positive_id(value: object, field: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 < value < 2**62:
        raise InvalidMessage(f"{field} must be a positive integer or null")
    return value


def _object(value: object, field: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidMessage(f"{field} must be an object")
    return value


def _list(value: object, field: str, limit: int) -> list:
    """A list, cut to `limit` entries."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidMessage(f"{field} must be a list")
    return value[:limit]


def item_key(value: object) -> str:
    if not isinstance(value, str) or not KEY.fullmatch(value):
        raise InvalidMessage("key must be 1-80 of A-Z, a-z, 0-9, '.', '_', ':' and '-'")
    return value


def item_kind(value: object) -> str:
    if value not in ItemKind.values:
        raise InvalidMessage(f"kind must be one of {', '.join(ItemKind.values)}")
    return value


def item_data(kind: str, raw: object) -> dict:
    """The data of one timeline entry, rebuilt from the fields its kind has."""
    data = _object(raw, "data")
    return ITEM_DATA[kind](data)


def _user(data: dict) -> dict:
    return {
        "text": text(data.get("text"), MAX_USER_TEXT, "text"),
        "message_id": positive_id(data.get("message_id"), "message_id"),
    }


def _agent_text(data: dict) -> dict:
    return {"text": text(data.get("text"), MAX_AGENT_TEXT, "text")}


def _plan(data: dict) -> dict:
    entries = []
    for entry in _list(data.get("entries"), "entries", MAX_PLAN_ENTRIES):
        entry = _object(entry, "a plan entry")
        entries.append(
            {
                "content": text(entry.get("content"), MAX_PLAN_CONTENT, "content"),
                "status": choice(entry.get("status"), PLAN_STATUSES, "status", "pending"),
                "priority": choice(entry.get("priority"), PRIORITIES, "priority", "medium"),
            }
        )
    return {"entries": entries}


def _tool(data: dict) -> dict:
    return {
        "title": text(data.get("title"), MAX_TITLE, "title"),
        "tool_kind": choice(data.get("tool_kind"), TOOL_KINDS, "tool_kind", "other"),
        "status": choice(data.get("status"), TOOL_STATUSES, "status", "pending"),
        "locations": locations(data.get("locations")),
        "text": text(data.get("text"), MAX_TOOL_TEXT, "text"),
        "diffs": diffs(data.get("diffs")),
    }


def _notice(data: dict) -> dict:
    return {
        "text": text(data.get("text"), MAX_NOTICE, "text"),
        "level": choice(data.get("level"), NOTICE_LEVELS, "level", "info"),
    }


ITEM_DATA = {
    ItemKind.USER: _user,
    ItemKind.AGENT: _agent_text,
    ItemKind.THOUGHT: _agent_text,
    ItemKind.PLAN: _plan,
    ItemKind.TOOL: _tool,
    ItemKind.NOTICE: _notice,
}


def locations(raw: object) -> list[str]:
    places = _list(raw, "locations", MAX_LOCATIONS)
    if not all(isinstance(place, str) for place in places):
        raise InvalidMessage("locations must be strings")
    return [text(place, MAX_LOCATION, "a location") for place in places]


def diffs(raw: object) -> list[dict]:
    cleaned = []
    for diff in _list(raw, "diffs", MAX_DIFFS):
        diff = _object(diff, "a diff")
        cleaned.append(
            {
                "path": text(diff.get("path"), MAX_LOCATION, "path"),
                "diff": text(diff.get("diff"), MAX_DIFF, "diff"),
            }
        )
    return cleaned


def request_id(value: object) -> str:
    if not isinstance(value, str) or not REQUEST_ID.fullmatch(value):
        raise InvalidMessage("request_id must be 1-64 of A-Z, a-z, 0-9, '.', '_', ':' and '-'")
    return value


def options(raw: object) -> list[dict]:
    """1-8 distinct options; an id is never cut (the answer must name it exactly)."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_OPTIONS:
        raise InvalidMessage(f"options must be a list of 1-{MAX_OPTIONS}")
    cleaned = []
    for option in raw:
        option = _object(option, "an option")
        option_id = option.get("option_id")
        if not isinstance(option_id, str) or not 0 < len(option_id) <= MAX_OPTION_ID or "\x00" in option_id:
            raise InvalidMessage(f"option_id must be text of 1-{MAX_OPTION_ID} characters")
        if option.get("kind") not in OPTION_KINDS:
            raise InvalidMessage(f"an option's kind must be one of {', '.join(OPTION_KINDS)}")
        name = text(option.get("name"), MAX_OPTION_NAME, "name").strip() or option_id
        cleaned.append({"option_id": option_id, "name": name, "kind": option["kind"]})
    if len({option["option_id"] for option in cleaned}) != len(cleaned):
        raise InvalidMessage("option ids must differ")
    return cleaned


def permission(payload: dict) -> dict:
    """The fields of a PermissionRequest from a `task.permission` payload."""
    on_timeout = payload.get("on_timeout")
    if on_timeout not in OnTimeout.values:
        raise InvalidMessage("on_timeout must be reject or wait")
    timeout = payload.get("timeout")
    if timeout is not None and (type(timeout) not in (int, float) or not 0 < timeout <= MAX_TIMEOUT):
        raise InvalidMessage("timeout must be a number of seconds or null")
    return {
        "request_id": request_id(payload.get("request_id")),
        "title": text(payload.get("title"), MAX_TITLE, "title"),
        "tool_kind": choice(payload.get("tool_kind"), TOOL_KINDS, "tool_kind", "other"),
        "locations": locations(payload.get("locations")),
        "diffs": diffs(payload.get("diffs")),
        "options": options(payload.get("options")),
        "on_timeout": on_timeout,
        "timeout_seconds": max(1, round(timeout)) if timeout is not None else None,
    }
