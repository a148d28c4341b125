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
from typing import BinaryIO

from hostagent.textcodec import decode_text
from protocol.limits import MAX_TEXT

TEXT_LIMIT = MAX_TEXT
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
    opened = _open_checked(path, expected)
    return None if opened is None else opened[0]


def _open_checked(path: str, expected: os.stat_result | None) -> tuple[int, os.stat_result] | None:
    """`open_regular`, with the `fstat` of the open file."""
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
    return fd, after


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
    """Hash a regular file in one pass, checking whether it is UTF-8 text without NUL.

    A file of at most TEXT_LIMIT bytes (nearly all of a project) is read with one
    call and decoded once; a larger one is streamed in chunks."""
    opened = _open_checked(path, expected)
    if opened is None:
        return None
    fd, st = opened
    try:
        with os.fdopen(fd, "rb") as f:
            # One byte more than the file's size at open: fewer back means the whole file.
            head = f.read(min(st.st_size, TEXT_LIMIT) + 1)
            if len(head) <= min(st.st_size, TEXT_LIMIT):
                return _whole(head, st, keep_text)
            return _streamed(f, head, st, keep_text)
    except OSError:
        return None


def _whole(data: bytes, st: os.stat_result, keep_text: bool) -> FileData:
    text = None
    binary = b"\0" in data
    if not binary:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Latin-1 and the like, when sent (scans only hash, and skip the detector).
            text = decode_text(data) if keep_text else None
            binary = text is None
    digest = hashlib.sha256(data).hexdigest()
    return FileData(
        size=len(data), mtime=st.st_mtime, hash=digest, binary=binary, text=text if keep_text else None
    )


def _streamed(f: BinaryIO, head: bytes, st: os.stat_result, keep_text: bool) -> FileData:
    """A file larger than TEXT_LIMIT, or one that grew since it was opened."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    binary = False
    kept: list[bytes] = []
    size = 0
    chunk = head
    while chunk:
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
        chunk = f.read(CHUNK)
    if not binary:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            binary = True
    text = None
    if keep_text and not binary and size <= TEXT_LIMIT:
        text = b"".join(kept).decode("utf-8")
    return FileData(size=size, mtime=st.st_mtime, hash=digest.hexdigest(), binary=binary, text=text)
