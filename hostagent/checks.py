"""Declared checks for the settings in agent.toml, and building a dataclass from a TOML table.

A dataclass field declares its check with `setting(default, check)`; `build(cls, table)`
runs each key's check and raises Invalid naming the key. A check takes the TOML value and
returns it (or a copy), or raises Invalid. The agent starts without pydantic (its import
costs more than the whole start, tests/protocol/test_agent_builders.py), so the config
model is these dataclasses rather than pydantic models.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from protocol.text import CONTROL

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Check = Callable[[Any], Any]
T = TypeVar("T", bound="DataclassInstance")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class Invalid(Exception):
    """What is wrong with a value, said after where it is: "must be ..." follows the key after a
    space; a message starting with ".", ":" or "[" is glued to it (".command is required")."""

    def __init__(self, message: str, where: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def inside(self, key: str) -> Invalid:
        return Invalid(self.message, (key, *self.where))

    def __str__(self) -> str:
        where = ".".join(name if _BARE_KEY.fullmatch(name) else ascii(name) for name in self.where)
        if not where or self.message[:1] in (".", ":", "["):
            return where + self.message
        return f"{where} {self.message}"


def setting(default: Any = None, check: Check = lambda value: value, *, factory: Any = None) -> Any:
    """A dataclass field whose value in agent.toml passes `check`."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"check": check})
    return dataclasses.field(default=default, metadata={"check": check})


def build(cls: type[T], table: dict[str, Any], keys: Collection[str] | None = None) -> T:
    """`cls(**table)` once each value passed its field's check. `keys`: the fields the table
    may hold (default all of them)."""
    checks = {f.name: f.metadata["check"] for f in dataclasses.fields(cls)}
    known = list(checks) if keys is None else [key for key in checks if key in keys]
    values = {}
    for key, value in table.items():
        if key not in known:
            raise Invalid(f".{key} is not a known key ({', '.join(known)})")
        check = checks[key]
        values[key] = checked(key, check, value)
    return cls(**values)


def checked(key: str, check: Check, value: object) -> Any:
    try:
        return check(value)
    except Invalid as exc:
        raise exc.inside(key) from None


def table(message: str = "must be a table") -> Check:
    def check(value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid(message)
        return value

    return check


def string(message: str = "must be a string") -> Check:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise Invalid(message)
        return value

    return check


def number(
    low: float, high: float, message: str, *, integer: bool = False, out_of_range: str | None = None
) -> Check:
    """An int (or a float unless `integer`) from `low` to `high`; true and false are not numbers."""
    types: tuple[type, ...] = (int,) if integer else (int, float)

    def check(value: object) -> int | float:
        if type(value) not in types:
            raise Invalid(message)
        assert isinstance(value, int | float)
        if not low <= value <= high:  # NaN is never in range
            raise Invalid(out_of_range or message)
        return value

    return check


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def one_of(choices: Iterable[str], message: str) -> Check:
    allowed = tuple(choices)

    def check(value: object) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Invalid(message)
        return value

    return check


def text(low: int, high: int) -> Check:
    """A string of `low` to `high` characters without control characters."""

    def check(value: object) -> str:
        if not isinstance(value, str) or not low <= len(value) <= high or CONTROL.search(value):
            raise Invalid(f"must be {low}-{high} characters without control characters")
        return value

    return check


def strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid("must be a list of strings")
    return list(value)


def absolute_path(what: str) -> Check:
    def check(value: object) -> str:
        if not isinstance(value, str) or not os.path.isabs(value) or "\0" in value:
            raise Invalid(f"must be an absolute path to {what}")
        return value

    return check


def integer(value: object) -> int:
    if type(value) is not int:
        raise Invalid("must be an integer")
    return value
