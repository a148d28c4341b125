"""Mirrors: applying a host's batches, and what the pages read."""

import logging
from dataclasses import dataclass
from operator import attrgetter

from django.db import connection
from django.utils import timezone

from accounts.groups import team_group
from codexhub.errors import ServiceError
from codexhub.events import group_send_on_commit
from devices.handlers import InvalidMessage, handles
from devices.models import Host, HostState
from devices.services import current_batch, host_group
from projects.models import Change, ChangeOp, Entry, EntryKind, Project
from projects.paths import InvalidPath, mirror_path, path_hash
from protocol.mirror import Change as MirrorChange
from protocol.mirror import MirrorBatch, MirrorProjects

logger = logging.getLogger(__name__)
KEEP_CHANGES = 100
CHANGES_PER_BATCH = 20
NO_SUCH_FILE = "No such file."


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


# What a host sends ---------------------------------------------------------------------


@handles(MirrorProjects)
def mirror_projects_apply(*, host_id: int, message: MirrorProjects) -> None:
    names = {project.name for project in message.projects}
    now = timezone.now()
    for name in names:
        Project.objects.update_or_create(host_id=host_id, name=name, defaults={"removed_at": None})
    Project.objects.filter(host_id=host_id, removed_at__isnull=True).exclude(name__in=names).update(
        removed_at=now
    )
    current_batch().forget("projects")
    _notify_team(host_id)


@handles(MirrorBatch)
def mirror_batch_apply(*, host_id: int, message: MirrorBatch) -> None:
    """Apply one batch in the caller's transaction. The whole batch was checked
    before anything is written: one bad path refuses it all."""
    project = _host_project(host_id, message.project)
    changes = message.changes
    if message.reset:
        project.entries.all().delete()
    logger.info("mirror batch: host %s project %s, %d changes", host_id, project.id, len(changes))
    writer = _BatchWriter(project, changes, empty=message.reset)
    applied = [outcome for change in changes if (outcome := writer.apply(change))]
    writer.flush()
    if applied:
        _record(project, applied)


def _host_project(host_id: int, name: str) -> Project:
    project = current_batch().load("projects", _live_projects).get((host_id, name))
    if project is None:
        raise InvalidMessage(f"unknown project {name!r}: send mirror.projects first")
    return project


def _live_projects(messages: list) -> dict[tuple[int, str], Project]:
    """The live projects of the hosts with mirror messages in the batch, by (host, name)."""
    hosts = {m.host_id for m in messages if m.stream == "mirror"}
    projects = Project.objects.filter(host_id__in=hosts, removed_at__isnull=True)
    return {(project.host_id, project.name): project for project in projects}


UPSERT, DELETE = "upsert", "delete"
ENTRY_FIELDS = ("kind", "size", "mtime", "hash", "text", "binary", "too_large", "target_inside")


class _BatchWriter:
    """Applies a batch's changes in order with a handful of queries: the
    entries it touches are loaded at once, and writes go out in bulk."""

    def __init__(self, project: Project, changes: list[MirrorChange], *, empty: bool = False):
        """`empty`: the project has no entries (a reset just deleted them), so none is looked up."""
        self.project = project
        self.keys: dict[str, str] = {}  # path -> path hash, each hashed once
        if not empty:
            keys = [self._key(c.path) for c in changes if c.op == UPSERT]
            self.known: dict[str, Entry | None] = _stored_entries(project.id, keys)
        else:
            self.known = {}
        self.new: dict[str, MirrorChange] = {}  # rows to insert, by path hash (no model instances: a
        self.dirty: dict[int, Entry] = {}  # snapshot inserts thousands, and __init__ costs)
        self.now = timezone.now()

    def apply(self, change: MirrorChange) -> dict | None:
        """Write (or queue) one change; returns what changed, or None if nothing did."""
        if change.op == DELETE:
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
            assert entry is not None  # it was stored before this change, and only what is below it went
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
SMALL_BATCH = 20  # paths: below this, asking which exist first costs more than it saves


def _stored_entries(project_id: int, keys: list[str]) -> dict[str, Entry | None]:
    """The project's entries with these path hashes. Which exist is asked in SQL of
    its own (the ORM prepares each of a snapshot batch's hundreds of values, which
    cost more than the query); only those found are loaded, through the ORM.
    A small batch (a file saved) is loaded in one query."""
    if len(keys) <= SMALL_BATCH:
        return dict(_entries_by_hash(project_id, keys))
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


STORED_COLUMNS = ("id", "project_id", "path", "path_hash", *ENTRY_FIELDS, "updated_at")


def _entries_by_hash(project_id: int, keys: list[str]) -> dict[str, Entry]:
    """The entries with these path hashes, in SQL of its own: for a file saved,
    compiling the ORM's query cost more than the rest of applying the batch.
    (SQLite hands booleans back as 0 and 1, which compare equal.)"""
    if not keys:
        return {}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in STORED_COLUMNS)
    marks = ", ".join(["%s"] * len(keys))
    table = quote(Entry._meta.db_table)
    sql = f"SELECT {columns} FROM {table} WHERE project_id = %s AND path_hash IN ({marks})"  # noqa: S608 (names quoted, values bound)
    with connection.cursor() as cursor:
        cursor.execute(sql, [project_id, *keys])
        entries = [Entry.from_db(connection.alias, STORED_COLUMNS, row) for row in cursor.fetchall()]
    return {entry.path_hash: entry for entry in entries}


def _insert_entries(project_id: int, new: dict[str, MirrorChange], now) -> None:
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
    sql = f"UPDATE {table} SET {columns} WHERE {quote('id')} = %s"  # noqa: S608 (names quoted, values bound)
    with connection.cursor() as cursor:
        if len(rows) == 1:  # a file saved: executemany's pipeline costs more than the statement
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)


def _delete_below(project: Project, path: str) -> int:
    deleted, _ = project.entries.filter(path__startswith=f"{path}/").delete()
    return deleted


def _record(project: Project, applied: list[dict]) -> None:
    """Note the batch's last changes and ring the project's group. The rows of
    every mirror batch of the messages applied together go out in one
    statement, and each project's list is cut once (`_changes_insert`)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # A snapshot of thousands of files is not a list anyone reads: keep the
    # last few of each batch, and the last KEEP_CHANGES of the project.
    batch = current_batch()
    for item in applied[-CHANGES_PER_BATCH:]:
        row = (project.id, item["path"], item["kind"], item["op"], now)
        batch.defer("mirror_changes", row, _changes_insert)
    event = {"type": "mirror.changed", "project": project.id, "changes": applied[:200], "count": len(applied)}
    group_send_on_commit(project_group(project.id), event)


def _changes_insert(rows: list[tuple]) -> None:
    """Three statements of its own SQL for all the batches' changes: through the
    ORM (an update, a bulk_create, a select and a delete per project) this cost
    as much as looking up a snapshot batch's entries."""
    quote = connection.ops.quote_name
    projects, changes = quote(Project._meta.db_table), quote(Change._meta.db_table)
    columns = ", ".join(quote(column) for column in ("project_id", "path", "kind", "op", "at"))
    ids = sorted({row[0] for row in rows})
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        update = f"UPDATE {projects} SET last_change_at = %s WHERE id IN ({marks})"  # noqa: S608 (names quoted, values bound)
        cursor.execute(update, [rows[-1][4], *ids])
        cursor.executemany(f"INSERT INTO {changes} ({columns}) VALUES (%s, %s, %s, %s, %s)", rows)  # noqa: S608 (names quoted, values bound)
        # All but the KEEP_CHANGES newest of each project go.
        cursor.execute(
            f"DELETE FROM {changes} WHERE id IN (SELECT id FROM ("  # noqa: S608 (names quoted, values bound)
            f"SELECT id, ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY id DESC) AS newer "
            f"FROM {changes} WHERE project_id IN ({marks})) AS ranked WHERE newer > %s)",
            [*ids, KEEP_CHANGES],
        )


def _notify_team(host_id: int) -> None:
    team_id = Host.objects.filter(id=host_id).values_list("team_id", flat=True).first()
    if team_id is None:
        return
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


def entry_get(*, project: Project, path: str) -> Entry:
    """A file (or link) of the project; raises ServiceError 404 otherwise."""
    try:
        mirror_path(path)
        return project.entries.exclude(kind=EntryKind.DIR).get(path_hash=path_hash(path))
    except (InvalidPath, Entry.DoesNotExist):
        raise ServiceError(NO_SUCH_FILE, 404) from None


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
