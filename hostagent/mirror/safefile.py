"""Opening files inside a project without following symlinks or blocking on FIFOs.

`lstat` decides what a path is; the open uses O_NOFOLLOW (a symlink swapped in
fails) and O_NONBLOCK (a FIFO swapped in does not block), and `fstat` must show
the same regular file (device and inode) that `lstat` saw, which narrows the
check-to-open race (SECURITY.md 1.7).
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
from dataclasses import dataclass

TEXT_LIMIT = 512 * 1024
CHUNK = 64 * 1024
_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def open_regular(path: str, expected: os.stat_result | None = None) -> int | None:
    """A read-only fd on the regular file at `path`, or None if it is anything else or changed."""
    try:
        before = expected if expected is not None else os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(before.st_mode):
        return None
    try:
        fd = os.open(path, _FLAGS)
    except OSError:
        return None
    try:
        after = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        return None
    return fd


def read_small(path: str, limit: int) -> bytes | None:
    """The bytes of a regular file of at most `limit` bytes, or None."""
    fd = open_regular(path)
    if fd is None:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


@dataclass
class FileData:
    size: int
    mtime: float
    hash: str
    binary: bool  # not UTF-8, or holds a NUL
    text: str | None  # only when asked for, not binary and at most TEXT_LIMIT bytes


def read_file(path: str, expected: os.stat_result | None, keep_text: bool) -> FileData | None:
    """Hash a regular file in one pass, checking whether it is UTF-8 text without NUL."""
    fd = open_regular(path, expected)
    if fd is None:
        return None
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    binary = False
    kept: list[bytes] = []
    size = 0
    try:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if not binary:
                    if b"\0" in chunk:
                        binary = True
                    else:
                        try:
                            decoder.decode(chunk)
                        except UnicodeDecodeError:
                            binary = True
                if keep_text and not binary and size <= TEXT_LIMIT:
                    kept.append(chunk)
    except OSError:
        return None
    if not binary:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            binary = True
    text = None
    if keep_text and not binary and size <= TEXT_LIMIT:
        text = b"".join(kept).decode("utf-8")
    return FileData(size=size, mtime=st.st_mtime, hash=digest.hexdigest(), binary=binary, text=text)
