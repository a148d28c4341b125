"""Walking a project: what is there, as protocol entries, without following symlinks.

- `os.scandir` and `lstat` only: a symlink is recorded (kind `symlink`, with
  `target_inside`) and never followed, so loops cannot hang the scan.
- FIFOs, sockets and device nodes are skipped without being opened.
- `.git` (any case) is never entered or sent, whether folder or gitfile.
- `.gitignore` files at any depth and `.git/info/exclude` are honoured.
- Folders in `exclude` (the agent's own config folder) are skipped.

A scan covers scopes: `Scope("")` is the whole project; `Scope("a/b")` the
path a/b (and, if `recursive`, everything under it) plus its parent folders.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from hostagent.mirror.ignore import Ignorer, load_rules
from hostagent.mirror.paths import is_git_name, protocol_path
from hostagent.mirror.safefile import read_file

log = logging.getLogger("hostagent.mirror")


class RootMissing(Exception):
    """The project folder is not there (unmounted, deleted): scanning it must not delete the mirror."""


@dataclass
class Entry:
    path: str  # protocol path
    fs_path: str  # absolute path on this machine
    kind: str  # "file", "dir" or "symlink"
    size: int = 0
    mtime: float = 0.0
    hash: str = ""
    target_inside: bool | None = None

    def key(self) -> tuple[str, int, str, bool | None]:
        """What makes an entry changed: kind, size, hash (and where a symlink points)."""
        return (self.kind, self.size, self.hash, self.target_inside)


@dataclass(frozen=True)
class Scope:
    rel: str  # "/"-joined path relative to the root, as on disk; "" is the whole project
    recursive: bool = True


@dataclass
class ScanResult:
    entries: dict[str, Entry] = field(default_factory=dict)
    covered: list[tuple[str, bool]] = field(default_factory=list)  # (protocol path or "", recursive)
    hash_files: bool = True


def is_within(path: str, root: str) -> bool:
    """A real path-prefix test: /proj-evil is not within /proj."""
    path, root = os.path.normcase(path), os.path.normcase(root)
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives, or relative vs absolute
        return False


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


class Scanner:
    def __init__(self, root: str, exclude: Iterable[str] = ()):
        self.configured_root = root
        self.root = os.path.realpath(root)
        self.exclude = {os.path.normcase(os.path.realpath(p)) for p in exclude}

    def abspath(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/")) if rel else self.root

    def _check_root(self) -> None:
        self.root = os.path.realpath(self.configured_root)
        try:
            st = os.lstat(self.root)
        except OSError as exc:
            raise RootMissing(f"{self.root}: {exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise RootMissing(f"{self.root}: not a folder")

    def root_ignorer(self, root: str | None = None) -> Ignorer:
        root = self.root if root is None else root
        ignorer = Ignorer()
        git = os.path.join(root, ".git")
        try:
            is_git_dir = stat.S_ISDIR(os.lstat(git).st_mode)
        except OSError:
            is_git_dir = False
        if is_git_dir:
            ignorer = ignorer.with_rules("", load_rules(os.path.join(git, "info", "exclude")))
        return ignorer.with_rules("", load_rules(os.path.join(root, ".gitignore")))

    def scan(self, scopes: Iterable[Scope] = (Scope(""),), *, hash_files: bool = True) -> ScanResult:
        """Raises RootMissing if the project folder is gone.

        Without `hash_files` files are only lstat'ed (size and mtime, no hash):
        for a full snapshot, whose batches read every file anyway."""
        self._check_root()
        result = ScanResult(hash_files=hash_files)
        root_ignorer = self.root_ignorer()
        for scope in scopes:
            if scope.rel == "":
                result.covered.append(("", True))
                self._walk("", self.root, root_ignorer, result)
            else:
                self._scan_scope(scope, root_ignorer, result)
        return result

    def _scan_scope(self, scope: Scope, ignorer: Ignorer, result: ScanResult) -> None:
        proto = protocol_path(scope.rel)
        if proto is None:
            return
        result.covered.append((proto, scope.recursive))
        segments = scope.rel.split("/")
        rel = ""
        for name in segments[:-1]:  # the parent folders must be real, shared folders
            rel = _join(rel, name)
            path = self.abspath(rel)
            if is_git_name(name) or os.path.normcase(path) in self.exclude:
                return
            try:
                st = os.lstat(path)
            except OSError:
                return
            if not stat.S_ISDIR(st.st_mode) or ignorer.ignored(rel, True):
                return
            parent = protocol_path(rel)
            if parent is None:
                return
            result.covered.append((parent, False))
            result.entries[parent] = Entry(parent, path, "dir")
            ignorer = ignorer.with_rules(rel, load_rules(os.path.join(path, ".gitignore")))
        if is_git_name(segments[-1]):
            return
        path = self.abspath(scope.rel)
        try:
            st = os.lstat(path)
        except OSError:
            return
        entry = self._entry(scope.rel, proto, path, st, ignorer, result.hash_files)
        if entry is None:
            return
        result.entries[proto] = entry
        if entry.kind == "dir" and scope.recursive:
            self._walk(scope.rel, path, ignorer, result)

    def _entry(
        self, rel: str, proto: str, path: str, st: os.stat_result, ignorer: Ignorer, hash_files: bool = True
    ) -> Entry | None:
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            if ignorer.ignored(rel, True) or os.path.normcase(path) in self.exclude:
                return None
            return Entry(proto, path, "dir")
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            log.info("skipping %s: not a regular file, folder or symlink", ascii(rel)[:300])
            return None
        if ignorer.ignored(rel, False):
            return None
        if stat.S_ISLNK(mode):
            inside = self._target_inside(path)
            return Entry(proto, path, "symlink", mtime=st.st_mtime, target_inside=inside)
        if not hash_files:
            return Entry(proto, path, "file", size=st.st_size, mtime=st.st_mtime)
        data = read_file(path, st, keep_text=False)
        if data is None:  # replaced or unreadable since lstat
            return None
        return Entry(proto, path, "file", size=data.size, mtime=data.mtime, hash=data.hash)

    def folders(self, rel: str = "") -> list[str]:
        """The absolute paths of the folder `rel` and every folder below it that a scan enters
        (not ignored, not `.git`, not excluded, not a symlink): what the watcher watches.
        Empty if `rel` itself is not such a folder."""
        root = os.path.realpath(self.configured_root)
        ignorer = self.root_ignorer(root)
        here = ""
        for name in rel.split("/") if rel else ():
            if here:  # the rules of the parent folder apply to this one
                ignorer = ignorer.with_rules(
                    here, load_rules(os.path.join(root, *here.split("/"), ".gitignore"))
                )
            here = _join(here, name)
            path = os.path.join(root, *here.split("/"))
            if is_git_name(name) or os.path.normcase(path) in self.exclude:
                return []
            try:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    return []
            except OSError:
                return []
            if ignorer.ignored(here, True):
                return []
        found = []
        stack = [(rel, os.path.join(root, *rel.split("/")) if rel else root, ignorer)]
        while stack:
            rel, path, ignorer = stack.pop()
            found.append(path)
            try:
                with os.scandir(path) as it:
                    children = list(it)
            except OSError:
                continue
            if rel and any(child.name == ".gitignore" for child in children):
                ignorer = ignorer.with_rules(rel, load_rules(os.path.join(path, ".gitignore")))
            for child in children:
                try:
                    if is_git_name(child.name) or not child.is_dir(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                child_rel = _join(rel, child.name)
                if os.path.normcase(child.path) not in self.exclude and not ignorer.ignored(child_rel, True):
                    stack.append((child_rel, child.path, ignorer))
        return found

    def _target_inside(self, path: str) -> bool:
        """Whether the symlink at `path` resolves inside the root (a loop resolves nowhere)."""
        try:
            real = os.path.realpath(path, strict=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return False
            real = os.path.realpath(path)  # dangling: where it would point
        except RuntimeError:  # older Pythons report loops this way
            return False
        return is_within(real, self.root)

    def _walk(self, rel: str, path: str, ignorer: Ignorer, result: ScanResult) -> None:
        stack = [(rel, path, ignorer)]
        while stack:
            rel, path, ignorer = stack.pop()
            try:
                with os.scandir(path) as it:
                    children = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                log.warning("cannot list %s: %s", ascii(path)[:300], exc.strerror)
                continue
            if rel and any(child.name == ".gitignore" for child in children):
                ignorer = ignorer.with_rules(rel, load_rules(os.path.join(path, ".gitignore")))
            for child in children:
                if is_git_name(child.name):
                    continue
                child_rel = _join(rel, child.name)
                try:
                    st = child.stat(follow_symlinks=False)
                except OSError:
                    continue
                if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    log.info("skipping %s: not a regular file, folder or symlink", ascii(child_rel)[:300])
                    continue
                proto = protocol_path(child_rel)
                if proto is None:
                    continue  # and nothing under it: its paths would be refused too
                if proto in result.entries:
                    log.warning("skipping %s: same path as another name after NFC", ascii(child_rel)[:300])
                    continue
                entry = self._entry(child_rel, proto, child.path, st, ignorer, result.hash_files)
                if entry is None:
                    continue
                result.entries[proto] = entry
                if entry.kind == "dir":
                    stack.append((child_rel, child.path, ignorer))
