"""Mirrors: applying a host's batches, and what the pages read."""

import logging
import re
from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

from accounts.groups import team_group
from accounts.validators import has_control_characters
from codexhub.events import group_send_on_commit
from devices.handlers import InvalidMessage, handles
from devices.models import Host, HostState
from devices.services import host_group
from projects.models import Change, ChangeOp, Entry, EntryKind, Project
from projects.paths import InvalidPath, mirror_path, path_hash

logger = logging.getLogger(__name__)
MAX_TEXT = 512 * 1024
MAX_CHANGES = 5000
MAX_PROJECTS = 200
KEEP_CHANGES = 100
CHANGES_PER_BATCH = 20
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_KINDS = frozenset(EntryKind.values)


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


# What a host sends ---------------------------------------------------------------------


def _project_name(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64 or "/" in value:
        raise InvalidMessage("a project name is 1-64 characters without '/'")
    if has_control_characters(value):
        raise InvalidMessage("a project name must not contain control characters")
    return value


@handles("mirror", "mirror.projects")
def mirror_projects_apply(*, host_id: int, payload: dict) -> None:
    projects = payload.get("projects")
    if not isinstance(projects, list) or len(projects) > MAX_PROJECTS:
        raise InvalidMessage(f"projects must be a list of at most {MAX_PROJECTS}")
    names = {_project_name(p.get("name") if isinstance(p, dict) else None) for p in projects}
    now = timezone.now()
    for name in names:
        Project.objects.update_or_create(host_id=host_id, name=name, defaults={"removed_at": None})
    Project.objects.filter(host_id=host_id, removed_at__isnull=True).exclude(name__in=names).update(
        removed_at=now
    )
    _notify_team(host_id)


class Upsert(NamedTuple):  # a tuple: a snapshot parses thousands, and a frozen dataclass costs 3x
    path: str
    kind: str
    size: int | None
    mtime: float | None
    hash: str
    text: str | None
    binary: bool
    too_large: bool
    target_inside: bool | None


class Delete(NamedTuple):
    path: str


def _parse_change(raw: object) -> Upsert | Delete:
    if not isinstance(raw, dict):
        raise InvalidMessage("each change must be an object")
    try:
        path = mirror_path(raw.get("path"))
    except InvalidPath as exc:
        raise InvalidMessage(f"refused path {str(raw.get('path'))[:80]!r}: {exc}") from None
    op = raw.get("op")
    if op == "delete":
        return Delete(path)
    if op != "upsert":
        raise InvalidMessage("op must be upsert or delete")
    kind = raw.get("kind")
    if kind not in _KINDS:
        raise InvalidMessage("kind must be file, dir or symlink")
    return Upsert(
        path=path,
        kind=kind,
        size=_optional_int(raw.get("size")),
        mtime=_optional_number(raw.get("mtime")),
        hash=_file_hash(raw.get("hash"), kind),
        text=_text(raw.get("text")),
        binary=raw.get("binary") is True,
        too_large=raw.get("too_large") is True,
        target_inside=raw.get("target_inside") if isinstance(raw.get("target_inside"), bool) else None,
    )


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < 2**62:
        raise InvalidMessage("size must be a non-negative integer")
    return value


def _optional_number(value: object) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not 0 <= value < 1e11:
        raise InvalidMessage("mtime must be a number of seconds")
    return float(value)


def _file_hash(value: object, kind: str) -> str:
    if kind != EntryKind.FILE:
        return ""
    if not isinstance(value, str) or not HASH_RE.match(value):
        raise InvalidMessage("a file needs its SHA-256 as 64 hex digits")
    return value


def _text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage("text must be a string or null")
    if len(value) > MAX_TEXT:
        raise InvalidMessage(f"text over {MAX_TEXT // 1024} KiB: send it as metadata")
    if "\x00" in value:
        raise InvalidMessage("text must not contain NUL: send the file as binary")
    if value.isascii():  # a flag CPython keeps on the string: ASCII is valid UTF-8, no encoding to check
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage("text must be valid UTF-8") from None
    return value


@handles("mirror", "mirror.batch")
def mirror_batch_apply(*, host_id: int, payload: dict) -> None:
    """Apply one batch in the caller's transaction. Everything is checked
    before anything is written: one bad path refuses the whole batch."""
    project = _host_project(host_id, payload.get("project"))
    raw_changes = payload.get("changes")
    if not isinstance(raw_changes, list) or len(raw_changes) > MAX_CHANGES:
        raise InvalidMessage(f"changes must be a list of at most {MAX_CHANGES}")
    changes = [_parse_change(raw) for raw in raw_changes]
    reset = payload.get("reset") is True
    if reset:
        project.entries.all().delete()
    logger.info("mirror batch: host %s project %s, %d changes", host_id, project.id, len(changes))
    writer = _BatchWriter(project, changes, empty=reset)
    applied = [outcome for change in changes if (outcome := writer.apply(change))]
    writer.flush()
    if applied:
        _record(project, applied)


def _host_project(host_id: int, name: object) -> Project:
    name = _project_name(name)
    project = Project.objects.filter(host_id=host_id, name=name, removed_at__isnull=True).first()
    if project is None:
        raise InvalidMessage(f"unknown project {name!r}: send mirror.projects first")
    return project


ENTRY_FIELDS = ("kind", "size", "mtime", "hash", "text", "binary", "too_large", "target_inside")


class _BatchWriter:
    """Applies a batch's changes in order with a handful of queries: the
    entries it touches are loaded at once, and writes go out in bulk."""

    def __init__(self, project: Project, changes: list[Upsert | Delete], *, empty: bool = False):
        """`empty`: the project has no entries (a reset just deleted them), so none is looked up."""
        self.project = project
        self.keys: dict[str, str] = {}  # path -> path hash, each hashed once
        if not empty:
            keys = [self._key(c.path) for c in changes if isinstance(c, Upsert)]
            self.known: dict[str, Entry | None] = _stored_entries(project.id, keys)
        else:
            self.known = {}
        self.new: dict[str, Upsert] = {}  # rows to insert, by path hash (no model instances: a
        self.dirty: dict[int, Entry] = {}  # snapshot inserts thousands, and __init__ costs)
        self.now = timezone.now()

    def apply(self, change: Upsert | Delete) -> dict | None:
        """Write (or queue) one change; returns what changed, or None if nothing did."""
        if isinstance(change, Delete):
            self.flush()
            return self._delete(change.path)
        key = self._key(change.path)
        pending = self.new.get(key)
        if pending is not None:  # created earlier in this batch, not written yet
            if pending == change:
                return None
            if not (pending.kind == EntryKind.DIR and change.kind != EntryKind.DIR):
                self.new[key] = change
                return {"op": ChangeOp.MODIFIED, "path": change.path, "kind": change.kind}
            self.flush()  # a new folder turned into a file: written, then replaced as a stored one
        entry = self._known(key)
        if entry is None:
            self.new[key] = change
            return {"op": ChangeOp.CREATED, "path": change.path, "kind": change.kind}
        fields = {name: getattr(change, name) for name in ENTRY_FIELDS}
        if all(getattr(entry, name) == value for name, value in fields.items()):
            return None  # the same again: nothing written, updated_at untouched
        if entry.kind == EntryKind.DIR and change.kind != EntryKind.DIR:
            self.flush()
            self._forget_below(change.path)
            _delete_below(self.project, change.path)
            entry = self._known(key)  # the stored row, now that it is written
        for name, value in fields.items():
            setattr(entry, name, value)
        entry.updated_at = self.now
        if entry.pk:
            self.dirty[entry.pk] = entry
        return {"op": ChangeOp.MODIFIED, "path": change.path, "kind": change.kind}

    def flush(self) -> None:
        if self.new:
            _insert_entries(self.project.id, self.new, self.now)
            # Reload the new rows only if a later change in this batch needs them.
            self.known.update({key: None for key in self.new})
            self.new = {}
        if self.dirty:
            _update_entries(self.dirty.values(), self.now)
            self.dirty = {}

    def _key(self, path: str) -> str:
        key = self.keys.get(path)
        if key is None:
            key = self.keys[path] = path_hash(path)
        return key

    def _known(self, key: str) -> Entry | None:
        if key in self.known and self.known[key] is None:  # inserted earlier in this batch
            stored = self.project.entries.filter(path_hash=key).first()
            if stored is None:  # deleted since, with a folder above it
                del self.known[key]
                return None
            self.known[key] = stored
        return self.known.get(key)

    def _delete(self, path: str) -> dict | None:
        key = self._key(path)
        entry = self._known(key) or self.project.entries.filter(path_hash=key).first()
        self.known.pop(key, None)
        self._forget_below(path)
        removed_below = _delete_below(self.project, path)
        if entry is None and not removed_below:
            return None
        if entry:
            Entry.objects.filter(id=entry.id).delete()
        return {"op": ChangeOp.DELETED, "path": path, "kind": entry.kind if entry else EntryKind.DIR}

    def _forget_below(self, path: str) -> None:
        prefix = f"{path}/"
        self.known = {k: e for k, e in self.known.items() if e is None or not e.path.startswith(prefix)}


ENTRY_COLUMNS = ("project_id", "path", "path_hash", *ENTRY_FIELDS, "updated_at")
LOOKUP_CHUNK = 900  # bound parameters per query: old SQLite builds allow 999


def _stored_entries(project_id: int, keys: list[str]) -> dict[str, Entry | None]:
    """The project's entries with these path hashes. Which exist is asked in SQL of
    its own (the ORM prepares each of a snapshot batch's hundreds of values, which
    cost more than the query); only those found are loaded, through the ORM."""
    table = connection.ops.quote_name(Entry._meta.db_table)
    found: list[str] = []
    with connection.cursor() as cursor:
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            sql = f"SELECT path_hash FROM {table} WHERE project_id = %s AND path_hash IN ({marks})"  # noqa: S608 (names quoted, values bound)
            cursor.execute(sql, [project_id, *chunk])
            found.extend(key for (key,) in cursor.fetchall())
    stored: dict[str, Entry | None] = {}
    for start in range(0, len(found), LOOKUP_CHUNK):
        chunk = found[start : start + LOOKUP_CHUNK]
        stored.update(
            (e.path_hash, e) for e in Entry.objects.filter(project_id=project_id, path_hash__in=chunk)
        )
    return stored


def _insert_entries(project_id: int, new: dict[str, Upsert], now) -> None:
    """One executemany for the batch's new entries. A snapshot inserts tens of
    thousands of rows, and building ORM bulk inserts cost most of its time."""
    quote = connection.ops.quote_name
    table = quote(Entry._meta.db_table)
    columns = ", ".join(quote(column) for column in ENTRY_COLUMNS)
    marks = ", ".join(["%s"] * len(ENTRY_COLUMNS))
    stamp = connection.ops.adapt_datetimefield_value(now)
    fields = attrgetter(*ENTRY_FIELDS)
    rows = [(project_id, c.path, key, *fields(c), stamp) for key, c in new.items()]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608 (names quoted, values bound)


def _update_entries(entries, now) -> None:
    """One executemany for the batch's changed entries: bulk_update builds a CASE
    expression per field, and cost more than the rest of a one-file batch."""
    quote = connection.ops.quote_name
    table = quote(Entry._meta.db_table)
    columns = ", ".join(f"{quote(column)} = %s" for column in (*ENTRY_FIELDS, "updated_at"))
    stamp = connection.ops.adapt_datetimefield_value(now)
    fields = attrgetter(*ENTRY_FIELDS)
    rows = [(*fields(entry), stamp, entry.pk) for entry in entries]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {columns} WHERE {quote('id')} = %s", rows)  # noqa: S608 (names quoted, values bound)


def _delete_below(project: Project, path: str) -> int:
    deleted, _ = project.entries.filter(path__startswith=f"{path}/").delete()
    return deleted


def _record(project: Project, applied: list[dict]) -> None:
    """Note the batch's last changes and ring the project's group. Three statements
    of its own SQL: through the ORM (an update, a bulk_create, a select and a
    delete) this cost as much as looking up a snapshot batch's entries."""
    now = timezone.now()
    quote = connection.ops.quote_name
    stamp = connection.ops.adapt_datetimefield_value(now)
    projects, changes = quote(Project._meta.db_table), quote(Change._meta.db_table)
    columns = ", ".join(quote(column) for column in ("project_id", "path", "kind", "op", "at"))
    # A snapshot of thousands of files is not a list anyone reads: keep the
    # last few of each batch, and the last KEEP_CHANGES of the project.
    rows = [
        (project.id, item["path"], item["kind"], item["op"], stamp) for item in applied[-CHANGES_PER_BATCH:]
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {projects} SET last_change_at = %s WHERE id = %s", [stamp, project.id])  # noqa: S608 (names quoted, values bound)
        cursor.executemany(f"INSERT INTO {changes} ({columns}) VALUES (%s, %s, %s, %s, %s)", rows)  # noqa: S608 (names quoted, values bound)
        # The KEEP_CHANGES-th newest id, if there are that many; older ones go.
        cursor.execute(
            f"DELETE FROM {changes} WHERE project_id = %s AND id < ("  # noqa: S608 (names quoted, values bound)
            f"SELECT id FROM {changes} WHERE project_id = %s ORDER BY id DESC LIMIT 1 OFFSET %s)",
            [project.id, project.id, KEEP_CHANGES - 1],
        )
    event = {"type": "mirror.changed", "project": project.id, "changes": applied[:200], "count": len(applied)}
    group_send_on_commit(project_group(project.id), event)


def _notify_team(host_id: int) -> None:
    team_id = Host.objects.filter(id=host_id).values_list("team_id", flat=True).first()
    event = {"type": "projects.changed", "host": host_id}
    group_send_on_commit(team_group(team_id), event)


def mirror_resync(*, project: Project) -> None:
    """Ask the host for a full snapshot of the project."""
    event = {"type": "mirror.resync", "project": project.name}
    group_send_on_commit(host_group(project.host_id), event)


# What the pages read -------------------------------------------------------------------


def projects_for_team(*, team_id: int):
    return (
        Project.objects.filter(host__team_id=team_id, host__state=HostState.ACTIVE, removed_at__isnull=True)
        .select_related("host")
        .order_by("host__name", "name")
    )


def project_get(*, user, project_id: int) -> Project:
    """A live project of one of the user's teams, or Project.DoesNotExist."""
    return Project.objects.select_related("host", "host__team").get(
        id=project_id,
        removed_at__isnull=True,
        host__state=HostState.ACTIVE,
        host__team__memberships__user=user,
    )


def entry_get(*, project: Project, path: str) -> Entry:
    try:
        mirror_path(path)
    except InvalidPath:
        raise Entry.DoesNotExist from None
    return project.entries.exclude(kind=EntryKind.DIR).get(path_hash=path_hash(path))


@dataclass
class TreeNode:
    entry: Entry
    children: list["TreeNode"]


def project_tree(*, project: Project) -> list[TreeNode]:
    """Entries as a tree, folders first, then by name."""
    entries = project.entries.only("path", "kind", "size", "binary", "too_large", "target_inside").order_by(
        "path"
    )
    roots: list[TreeNode] = []
    nodes: dict[str, TreeNode] = {}
    for entry in entries:
        node = TreeNode(entry, [])
        nodes[entry.path] = node
        parent_path = entry.path.rpartition("/")[0]
        siblings = nodes[parent_path].children if parent_path in nodes else roots
        siblings.append(node)
    _sort(roots)
    return roots


def _sort(nodes: list[TreeNode]) -> None:
    nodes.sort(key=lambda n: (n.entry.kind != EntryKind.DIR, n.entry.name.lower()))
    for node in nodes:
        _sort(node.children)
