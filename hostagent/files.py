"""Replacing a file atomically without following a symlink anywhere below a root (SECURITY.md 1.7).

`write_atomic(root, relative, data)` opens `root`, then each folder of
`relative` from the one above it (openat with O_NOFOLLOW), so a symlink on the
path, even one swapped in mid-way, makes the write fail instead of landing
elsewhere. The data goes to a temporary file in the target's folder and is
fsynced, then renamed over the target inside that same open folder: a crash
leaves the old file or the new one, never half of one, and a symlink at the
target is replaced, never written through. Every agent writer uses it: the
config file (`hostagent.config.save`), the `openai` executor and ACP agents'
file writes.

Without openat (Windows) each folder is checked with lstat instead, which
narrows but does not close the race.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO swapped in must not hang
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | NOFOLLOW | CLOEXEC
_OPENAT = all(f in os.supports_dir_fd for f in (os.open, os.stat, os.rename, os.mkdir, os.unlink))

FOLDER_UNSAFE = "a folder on its path is a symlink or gone"
NOT_REGULAR = "it is not a regular file"
GONE = "it is gone"
CHANGED = "it changed since it was read"
OUTSIDE = "outside the root"


class WriteRefused(OSError):
    """The path is not one this helper writes to (a symlink on it, not a regular file...); the
    message says why. An OSError, so callers that report a failed write report this too."""


def write_atomic(
    root: str | os.PathLike[str],
    relative: str,
    data: bytes,
    *,
    mode: int | None = None,
    make_folders: bool = False,
    expect: bytes | None = None,
) -> None:
    """Replace (or create) `root/relative` with `data`.

    `relative` uses `/` and must stay below `root` (no `..`, not absolute); `root` itself must
    not be a symlink (pass a real path). `mode`: the file's mode, set before any byte is written
    (0600 for a secret); None keeps an existing file's mode, and a new file gets 0666 less the
    umask. `make_folders` creates missing folders (0777 less the umask). `expect`: the file must
    exist and hold exactly these bytes. Raises WriteRefused or OSError.
    """
    *folders, name = _parts(relative)
    with _open_root(os.fspath(root)) as folder:
        for part in folders:
            folder.enter(part, create=make_folders)
        current = folder.lstat(name)
        if current is not None and not stat.S_ISREG(current.st_mode):
            raise WriteRefused(NOT_REGULAR)
        if expect is not None:
            if current is None:
                raise WriteRefused(GONE)
            if folder.read(name, len(expect) + 1) != expect:
                raise WriteRefused(CHANGED)
        if mode is None and current is not None:
            mode = stat.S_IMODE(current.st_mode)
        folder.replace(name, data, mode)


def _parts(relative: str) -> list[str]:
    parts = relative.split("/")
    if not relative or "\0" in relative or any(p in ("", ".", "..") for p in parts):
        raise WriteRefused(OUTSIDE)
    if os.sep != "/" and any(os.sep in p or (os.altsep and os.altsep in p) for p in parts):
        raise WriteRefused(OUTSIDE)
    return parts


@contextlib.contextmanager
def _open_root(root: str) -> Iterator[_Folder]:
    if not _OPENAT:
        if os.path.islink(root) or not os.path.isdir(root):
            raise WriteRefused(FOLDER_UNSAFE)
        yield _Folder(root, None)
        return
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        raise WriteRefused(FOLDER_UNSAFE) from None
    folder = _Folder(root, fd)
    try:
        yield folder
    finally:
        folder.close()


class _Folder:
    """An open folder (`fd`), or without openat its path; `enter` moves it to a subfolder."""

    def __init__(self, path: str, fd: int | None) -> None:
        self.path = path
        self.fd = fd

    def name(self, name: str) -> str:
        """What the os functions take for `name` in this folder (with dir_fd=self.fd)."""
        return name if self.fd is not None else os.path.join(self.path, name)

    def enter(self, part: str, *, create: bool) -> None:
        if create and self.lstat(part) is None:
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.name(part), dir_fd=self.fd)
        path = os.path.join(self.path, part)
        if self.fd is None:
            info = self.lstat(part)
            if info is None or not stat.S_ISDIR(info.st_mode):
                raise WriteRefused(FOLDER_UNSAFE)
            self.path = path
            return
        try:
            fd = os.open(part, _DIR_FLAGS, dir_fd=self.fd)
        except OSError:
            raise WriteRefused(FOLDER_UNSAFE) from None
        os.close(self.fd)
        self.path, self.fd = path, fd

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(self.name(name), dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def read(self, name: str, limit: int) -> bytes:
        try:
            fd = os.open(self.name(name), os.O_RDONLY | NOFOLLOW | NONBLOCK | CLOEXEC, dir_fd=self.fd)
        except OSError:
            raise WriteRefused(NOT_REGULAR) from None
        with os.fdopen(fd, "rb") as f:
            return f.read(limit)

    def replace(self, name: str, data: bytes, mode: int | None) -> None:
        tmp = f".codexhub-{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC | getattr(os, "O_BINARY", 0)
        # A secret's mode is set before its first byte; fchmod ignores the umask.
        fd = os.open(self.name(tmp), flags, 0o666 if mode is None else 0o600, dir_fd=self.fd)
        try:
            with os.fdopen(fd, "wb") as f:
                if mode is not None:
                    _chmod(f.fileno(), self.name(tmp), mode)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(self.name(tmp), self.name(name), src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(self.name(tmp), dir_fd=self.fd)
            raise

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _chmod(fd: int, path: str, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # Windows: only the read-only bit exists
        os.chmod(path, mode)
