"""Mirrors: applying a host's batches, and what the pages read."""

import json
import logging
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from operator import attrgetter

from django.db import connection, models
from django.utils import timezone

from accounts.groups import team_group
from codexhub.errors import ServiceError
from codexhub.events import group_send_on_commit
from devices.handlers import InvalidMessage, handles
from devices.models import Host, HostState
from devices.services import current_batch, host_group
from projects.models import Change, ChangeOp, Entry, EntryKind, FileFetch, Project
from projects.paths import InvalidPath, mirror_path, path_hash
from protocol.mirror import Change as MirrorChange
from protocol.mirror import MirrorBatch, MirrorProjects
from protocol.paths import path_error

logger = logging.getLogger(__name__)
KEEP_CHANGES = 100
CHANGES_PER_BATCH = 20
NO_SUCH_FILE = "No such file."


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


# What a host sends ---------------------------------------------------------------------


@handles(MirrorProjects)
def mirror_projects_apply(*, host_id: int, message: MirrorProjects) -> None:
    is_git = {project.name: project.git for project in message.projects}
    names = set(is_git)
    now = timezone.now()
    for name in names:
        Project.objects.update_or_create(
            host_id=host_id, name=name, defaults={"removed_at": None, "is_git": is_git[name]}
        )
    gone = Project.objects.filter(host_id=host_id, removed_at__isnull=True).exclude(name__in=names)
    removed = list(gone.values_list("id", flat=True))
    if removed:
        Project.objects.filter(id__in=removed).update(removed_at=now)
        _drop_mirror(removed)
    current_batch().forget("projects")
    _notify_team(host_id)


def _drop_mirror(project_ids: list[int]) -> None:
    """A project its host no longer shares leaves none of its files on the hub (each a single
    DELETE: nothing refers to them). Shared again, it comes back as a whole snapshot."""
    if project_ids:
        Entry.objects.filter(project_id__in=project_ids).delete()
        Change.objects.filter(project_id__in=project_ids).delete()
        FileFetch.objects.filter(project_id__in=project_ids).delete()


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
    for change in changes:
        writer.apply(change)
    applied = writer.finish()
    if applied:
        _record(project, applied, writer.moved())


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


def _ancestors(path: str) -> Iterator[str]:
    """The folders above `path`, nearest first ("a/b/c" -> "a/b", "a")."""
    while "/" in path:
        path = path.rpartition("/")[0]
        yield path


Removed = tuple[str, str, str]  # (path, kind, hash) of a deleted entry


def _at_or_below(path: str, paths: Container[str]) -> bool:
    return path in paths or any(folder in paths for folder in _ancestors(path))


class _BatchWriter:
    """Applies a batch's changes in order with a handful of queries: the
    entries it touches are loaded at once, and writes go out in bulk.

    Deletes are set-based: they wait in `doomed` and go out together in one
    statement that also takes everything below them (`_delete_entries`), so a
    delete costs about what a modification does. The order of the batch is
    kept where it matters: a change to a path at or below a waiting delete
    first sends the deletes, and a delete at or above a waiting write first
    sends the writes."""

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
        self.written: set[str] | None = None  # paths of new and dirty, and the folders above them
        self.doomed: dict[str, int] = {}  # path -> its slot in outcomes, deletes not sent yet
        self.outcomes: list[dict | None] = []  # what each change changed, in order
        self.removed: list[Removed] = []  # (path, kind, hash) of each row deleted
        self.created: dict[str, list[str]] = {}  # content hash -> paths of the files created
        self.now = timezone.now()

    def apply(self, change: MirrorChange) -> None:
        if change.op == DELETE:
            self._delete(change.path)
            return
        if self.doomed and _at_or_below(change.path, self.doomed):
            self._flush_deletes()
        outcome = self._upsert(change)
        if outcome is not None and outcome["op"] == ChangeOp.CREATED and change.kind == EntryKind.FILE:
            self.created.setdefault(change.hash or "", []).append(change.path)
        self.outcomes.append(outcome)

    def finish(self) -> list[dict]:
        """Send what waits; returns what changed, in the batch's order."""
        self.flush()
        self._flush_deletes()
        return [outcome for outcome in self.outcomes if outcome]

    def moved(self) -> dict[str, str]:
        """Files deleted and created again elsewhere in this batch with the same
        content (a rename on the host), old path -> new; only where the content
        names one of each."""
        if not self.removed or not self.created:
            return {}
        gone: dict[str, list[str]] = {}
        for path, kind, content in self.removed:
            if kind == EntryKind.FILE and content:
                gone.setdefault(content, []).append(path)
        pairs = {}
        for content, olds in gone.items():
            news = self.created.get(content, [])
            if len(olds) == 1 and len(news) == 1 and olds[0] != news[0]:
                pairs[olds[0]] = news[0]
        return pairs

    def _upsert(self, change: MirrorChange) -> dict | None:
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
            self._written(change.path)
            self.new[key] = change
            return {"op": ChangeOp.CREATED, "path": change.path, "kind": change.kind}
        fields = {name: getattr(change, name) for name in ENTRY_FIELDS}
        if all(getattr(entry, name) == value for name, value in fields.items()):
            return None  # the same again: nothing written, updated_at untouched
        if entry.kind == EntryKind.DIR and change.kind != EntryKind.DIR:
            self.flush()
            self._flush_deletes()
            self.removed += _delete_entries(self.project.id, [key], below_only=True)
            self._forget({change.path}, below_only=True)
            entry = self._known(key)  # the stored row, now that it is written
            assert entry is not None  # it was stored before this change, and only what is below it went
        for name, value in fields.items():
            setattr(entry, name, value)
        entry.updated_at = self.now
        if entry.pk:
            self._written(change.path)
            self.dirty[entry.pk] = entry
        return {"op": ChangeOp.MODIFIED, "path": change.path, "kind": change.kind}

    def flush(self) -> None:
        if self.new:
            _insert_entries(self.project.id, self.new, self.now, self._key)
            # Reload the new rows only if a later change in this batch needs them.
            self.known.update({key: None for key in self.new})
            self.new = {}
        if self.dirty:
            _update_entries(self.dirty.values(), self.now)
            self.dirty = {}
        self.written = None

    def _written(self, path: str) -> None:
        if self.written is not None:
            self.written.add(path)
            self.written.update(_ancestors(path))

    def _delete(self, path: str) -> None:
        if _at_or_below(path, self.doomed):
            self.outcomes.append(None)  # a delete waiting already takes it: nothing is left to delete
            return
        if self.new or self.dirty:
            if self.written is None:  # worked out only when a delete follows writes (rare: the agent
                self.written = set()  # sends a batch's deletes first)
                for pending in [*(c.path for c in self.new.values()), *(e.path for e in self.dirty.values())]:
                    self._written(pending)
            if path in self.written:
                self.flush()
        self.doomed[path] = len(self.outcomes)
        self.outcomes.append(None)

    def _flush_deletes(self) -> None:
        """One statement for the deletes that wait, then each one's outcome from the rows it took."""
        if not self.doomed:
            return
        doomed, self.doomed = self.doomed, {}
        rows = _delete_entries(self.project.id, [self._key(path) for path in doomed])
        self.removed += rows
        kinds = {path: kind for path, kind, _ in rows}
        below: set[str] = set()
        for path, _, _ in rows:
            for folder in _ancestors(path):
                if folder in doomed:
                    below.add(folder)
                    break  # nothing nests in the deletes waiting (each one's path was checked)
        for path, slot in doomed.items():
            kind = kinds.get(path) or (EntryKind.DIR if path in below else None)
            if kind:
                self.outcomes[slot] = {"op": ChangeOp.DELETED, "path": path, "kind": kind}
        self._forget(set(doomed))

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

    def _forget(self, paths: set[str], *, below_only: bool = False) -> None:
        """Drop the loaded entries at (unless `below_only`) or below these paths.
        Rows inserted in this batch (None) are looked up again when needed."""

        def gone(entry: Entry | None) -> bool:
            if entry is None:
                return False
            return (not below_only and entry.path in paths) or any(a in paths for a in _ancestors(entry.path))

        self.known = {key: entry for key, entry in self.known.items() if not gone(entry)}


ENTRY_COLUMNS = ("project_id", "path", "path_hash", "parent_hash", *ENTRY_FIELDS, "updated_at")
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


STORED_COLUMNS = ("id", "project_id", "path", "path_hash", "parent_hash", *ENTRY_FIELDS, "updated_at")


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


def _insert_entries(project_id: int, new: dict[str, MirrorChange], now, key: Callable[[str], str]) -> None:
    """One executemany for the batch's new entries. A snapshot inserts tens of
    thousands of rows, and building ORM bulk inserts cost most of its time."""
    quote = connection.ops.quote_name
    table = quote(Entry._meta.db_table)
    columns = ", ".join(quote(column) for column in ENTRY_COLUMNS)
    marks = ", ".join(["%s"] * len(ENTRY_COLUMNS))
    stamp = connection.ops.adapt_datetimefield_value(now)
    fields = attrgetter(*ENTRY_FIELDS)
    rows = [
        (project_id, c.path, h, key(c.path.rpartition("/")[0]), *fields(c), stamp) for h, c in new.items()
    ]
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


def _delete_entries(project_id: int, keys: list[str], *, below_only: bool = False) -> list[Removed]:
    """Delete the entries with these path hashes and everything below them, in
    one statement whatever their number: the hashes go in as one parameter, a
    recursive query follows parent_hash down (through its index), and the
    deleted rows come back as (path, kind, hash). `below_only`: keep the
    entries themselves (a folder that became a file)."""
    quote = connection.ops.quote_name
    table = quote(Entry._meta.db_table)
    values: list[str] | str
    if connection.vendor == "postgresql":
        # = ANY of an array, not IN: with IN the planner may hash-join over all
        # the project's rows (8 ms for one file in an 11,000-file project, 0.2 ms so).
        seeds, values, doomed = "SELECT unnest(%s::text[])", list(keys), "= ANY(ARRAY(SELECT h FROM doomed))"
    else:
        seeds, values = "SELECT value FROM json_each(%s)", json.dumps(keys)
        doomed = "IN (SELECT h FROM doomed)"
    keep = "AND path_hash NOT IN (SELECT h FROM seeds)" if below_only else ""
    sql = (
        f"WITH RECURSIVE seeds(h) AS ({seeds}), "  # noqa: S608 (names quoted, values bound)
        f"doomed(h) AS (SELECT h FROM seeds UNION "
        f"SELECT e.path_hash FROM {table} e JOIN doomed d ON e.parent_hash = d.h WHERE e.project_id = %s) "
        f"DELETE FROM {table} WHERE project_id = %s AND path_hash {doomed} {keep} "
        f"RETURNING path, kind, hash"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [values, project_id, project_id])
        return [(path, kind, content) for path, kind, content in cursor.fetchall()]


def _record(project: Project, applied: list[dict], moved: dict[str, str]) -> None:
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
    # Every change goes in the event, however many: each page's socket passes on
    # those to what the page shows (mirror_changes_seen).
    event = {"type": "mirror.changed", "project": project.id, "changes": applied, "count": len(applied)}
    if moved:
        event["moved"] = moved
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


def file_count(*, project: Project) -> int:
    """The project's files and links; folders are not counted."""
    return project.entries.exclude(kind=EntryKind.DIR).count()


FOLDER_PAGE = 100  # entries on a folder's page: a 1,000-entry folder is ten pages of tens of KB
LISTED = ("project", "path", "kind", "size", "binary", "too_large", "target_inside", "updated_at")
NO_SUCH_FOLDER = "No such folder."


def folder_get(*, project: Project, path: str) -> str:
    """The folder's path: "" (the top) or a folder of the project; raises ServiceError 404."""
    if path == "":
        return path
    try:
        mirror_path(path)
    except InvalidPath:
        raise ServiceError(NO_SUCH_FOLDER, 404) from None
    if not project.entries.filter(path_hash=path_hash(path), kind=EntryKind.DIR).exists():
        raise ServiceError(NO_SUCH_FOLDER, 404)
    return path


def entry_order(entry: Entry) -> tuple:
    """Folders first, then by name without case (static/js/live.js sorts new rows the same way)."""
    return (entry.kind != EntryKind.DIR, entry.name.lower(), entry.name)


@dataclass
class FolderPage:
    folder: str
    entries: list[Entry]
    total: int
    page: int
    pages: int
    first: int  # the position of the page's first entry, from 1
    items: dict[str, int]  # how many entries each folder on the page holds, by path

    @property
    def last(self) -> int:
        return self.first + len(self.entries) - 1


def folder_list(*, project: Project, folder: str, page: int = 1) -> FolderPage:
    """One page of the folder's entries, folders first. All of the folder's rows
    are read (a few columns, through the parent index) and sorted here, so that
    the order is the same on every database and in the page's script; a page
    past the last is the last."""
    rows = list(project.entries.filter(parent_hash=path_hash(folder)).only(*LISTED))
    rows.sort(key=entry_order)
    pages = max(1, -(-len(rows) // FOLDER_PAGE))
    page = min(max(page, 1), pages)
    start = (page - 1) * FOLDER_PAGE
    shown = rows[start : start + FOLDER_PAGE]
    return FolderPage(folder, shown, len(rows), page, pages, start + 1, _items(project, shown))


def folder_rows(*, project: Project, folder: str, names: list[str]) -> list[Entry]:
    """The folder's entries with these names (those that exist), for a page that
    patches its rows; a name that is not a single path segment is skipped."""
    keys = []
    for name in names:
        path = f"{folder}/{name}" if folder else name
        if "/" not in name and path_error(path) is None:
            keys.append(path_hash(path))
    entries = sorted(project.entries.filter(path_hash__in=keys).only(*LISTED), key=entry_order)
    entries = [entry for entry in entries if entry.folder == folder]
    _items(project, entries)
    return entries


def _items(project: Project, entries: list[Entry]) -> dict[str, int]:
    """How many entries each folder among `entries` holds, in one query; also set
    on each folder's entry as `item_count`."""
    folders = {path_hash(e.path): e for e in entries if e.kind == EntryKind.DIR}
    if not folders:
        return {}
    counts = dict(
        project.entries.filter(parent_hash__in=list(folders))
        .values("parent_hash")
        .annotate(n=models.Count("id"))
        .values_list("parent_hash", "n")
    )
    for key, entry in folders.items():
        entry.item_count = counts.get(key, 0)  # type: ignore[attr-defined]
    return {entry.path: counts.get(key, 0) for key, entry in folders.items()}


SEARCH_RESULTS = 50
SEARCH_MAX_QUERY = 200  # characters
SEARCH_TOO_LONG = f"Search for at most {SEARCH_MAX_QUERY} characters."


def entries_search(*, project: Project, query: str) -> tuple[list[Entry], bool]:
    """The project's entries whose name holds `query` (without case; with a /
    in it, whose path does), at most SEARCH_RESULTS in path order, and whether
    there were more. Raises ServiceError 400 for a query too long."""
    query = query.strip()
    if len(query) > SEARCH_MAX_QUERY:
        raise ServiceError(SEARCH_TOO_LONG, 400)
    if not query or "\x00" in query:
        return [], False
    needle = query.lower()
    by_path = "/" in query
    found: list[Entry] = []
    candidates = project.entries.filter(path__icontains=query).only(*LISTED).order_by("path")
    for entry in candidates.iterator(chunk_size=500):
        if needle in (entry.path if by_path else entry.name).lower():
            if len(found) == SEARCH_RESULTS:
                return found, True
            found.append(entry)
    return found, False


# What an open page hears --------------------------------------------------------------

UNSCOPED_CHANGES = 200  # a socket that follows a whole project hears the first changes of a batch


def mirror_changes_seen(*, event: dict, folder: str | None = None, path: str | None = None) -> dict | None:
    """What a page hears of a `mirror.changed` event: the page of a folder every
    change to an entry in it and to the folder or a folder above it, the page
    of a file every change to it or a folder above it, however many the batch
    had; None when the page shows nothing that changed. `moved_to`: where the
    page's file or folder went, when the batch moved it (see _BatchWriter.moved).
    A socket that names neither hears the first UNSCOPED_CHANGES."""
    changes = event["changes"]
    target = path if path is not None else folder
    if target is None:
        seen = changes[:UNSCOPED_CHANGES]
    else:
        above = target + "/"
        seen = [
            c
            for c in changes
            if c["path"] == target
            or above.startswith(c["path"] + "/")
            or (path is None and c["path"].rpartition("/")[0] == folder)
        ]
        if not seen and target:
            return None
    message = {
        "type": "mirror.changed",
        "project": event["project"],
        "changes": seen,
        "count": event["count"],
    }
    moved_to = _moved_to(target, seen, event.get("moved") or {}) if target else None
    if moved_to:
        message["moved_to"] = moved_to
    return message


def _moved_to(target: str, seen: list[dict], moved: dict[str, str]) -> str | None:
    """Where `target` went: its own move, or the move of a deleted folder above
    it (or it), worked out from a file moved out of that folder."""
    if target in moved:
        return moved[target]
    for change in seen:
        gone = change["path"]
        if change["op"] != ChangeOp.DELETED or not (target == gone or target.startswith(gone + "/")):
            continue
        for old, new in moved.items():
            if not old.startswith(gone + "/"):
                continue
            tail = old[len(gone) :]  # "/x/y.py"
            if new.endswith(tail) and len(new) > len(tail):
                return new[: -len(tail)] + target[len(gone) :]
    return None
