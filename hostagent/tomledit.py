"""Editing agent.toml in place with tomlkit, so the user's comments, blank lines and order survive.

`edit(text, old, new)` changes only what differs between `old` (what the file says now, as
plain TOML data) and `new`: a changed value is replaced where it stands, a new key goes
after the table's last key, a new table at the end, and a removed key goes with its line.
A table emptied of its keys is removed unless the user commented in it (the comments stay,
under its header). tomlkit is imported by the commands that edit the file, not at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, Comment, Item, Key, Null, Table, Whitespace

Plain = Mapping[str, Any]


def edit(text: str | None, old: Plain, new: Plain) -> str:
    """The TOML `text` (None: a new file) with its data changed from `old` to `new`."""
    try:
        document = tomlkit.document() if text is None else tomlkit.parse(text)
    except tomlkit.exceptions.ParseError:  # valid TOML that tomlkit misreads: written anew
        document, old = tomlkit.document(), {}
    _sync(document, old, new)
    return document.as_string()


def _sync(table: Container | Table, old: Plain, new: Plain) -> None:
    for key in [key for key in old if key not in new]:
        if key in table:
            _drop(table, key)
    for key, value in new.items():
        if key in old and old[key] == value:
            continue
        current = table.get(key)
        if isinstance(value, Mapping) and isinstance(current, Table):
            _sync(current, old.get(key) or {}, value)  # key by key: [projects], [executors.NAME]
        elif current is not None:
            table[key] = _item(value)
        else:
            _add(table, key, _item(value))


def _drop(table: Container | Table, key: str) -> None:
    current = table[key]
    if isinstance(current, Table) and _commented(current):
        for inner in list(current):
            del current[inner]
        return
    container = table if isinstance(table, Container) else table.value
    last = bool(container.body) and container.body[-1][0] is not None and container.body[-1][0].key == key
    del table[key]
    if last and isinstance(current, Table):
        _trim_blank_line(container.body)


def _trim_blank_line(body: list[tuple[Key | None, Item]]) -> None:
    """tomlkit reads the blank line before a table's header into the table above: when the last
    table goes, that line goes too, so adding and removing a table gives back the same file."""
    items = [i for i, (_, item) in enumerate(body) if not isinstance(item, Null)]  # a removal leaves a Null
    if not items:
        return
    end = items[-1]
    item = body[end][1]
    if isinstance(item, Table):
        _trim_blank_line(item.value.body)
    elif isinstance(item, Whitespace) and item.s.endswith("\n"):
        body[end] = (None, Whitespace(item.s[:-1]) if item.s[:-1] else Null())


def _commented(table: Table) -> bool:
    return any(isinstance(item, Comment) for _, item in table.value.body)


def _add(table: Container | Table, key: str, item: Item) -> None:
    """Put a new key right after the table's last key (before any comment that leads into what
    follows); a new table goes at the end."""
    container = table.value if isinstance(table, Table) else table
    body = container.body
    last = max(
        (i for i, (k, v) in enumerate(body) if k is not None and not isinstance(v, Table | AoT)),
        default=None,
    )
    if isinstance(item, Table) or last is None or last == len(body) - 1:
        table[key] = item
    else:
        container._insert_at(last + 1, key, item)  # tomlkit has no public "insert after"


def _item(value: object) -> Item:
    if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
        tables = tomlkit.table(is_super_table=True)  # written as [executors.NAME] headers
        for name, inner in value.items():
            tables[name] = _item(inner)
        return tables
    if isinstance(value, Mapping):
        table = tomlkit.table()
        for name, inner in value.items():
            table[name] = _item(inner)
        return table
    return tomlkit.item(value)


def string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    return tomlkit.string(value).as_string()
