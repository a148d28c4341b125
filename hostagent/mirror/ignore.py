"""Git's ignore rules: `.git/info/exclude`, then `.gitignore` files from the root down.

As in git, a later (deeper) source overrides an earlier one, a `!pattern` can
re-include, and nothing under an ignored folder is looked at (the scanner does
not descend into it). Global excludes (`core.excludesFile`) are not read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pathspec

from hostagent.mirror.safefile import read_small

log = logging.getLogger("hostagent.mirror")

MAX_IGNORE_FILE = 1024 * 1024


@dataclass(frozen=True)
class _Source:
    base: str  # folder the patterns are relative to: "" (root) or "a/b"
    spec: pathspec.GitIgnoreSpec


def load_spec(path: str) -> pathspec.GitIgnoreSpec | None:
    """The patterns of the ignore file at `path` (a regular file, not followed if a symlink), or None."""
    data = read_small(path, MAX_IGNORE_FILE)
    if data is None:
        return None
    lines = data.decode("utf-8", errors="replace").splitlines()
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except Exception:  # a malformed pattern must not stop the scan
        log.warning("ignoring unreadable patterns in %s", ascii(path)[:300])
        return None


class Ignorer:
    """Immutable: `with_file` returns a new Ignorer for a sub-folder."""

    def __init__(self, sources: tuple[_Source, ...] = ()):
        self.sources = sources

    def with_spec(self, base: str, spec: pathspec.GitIgnoreSpec | None) -> Ignorer:
        if spec is None or not spec.patterns:
            return self
        return Ignorer((*self.sources, _Source(base, spec)))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """`rel` is `/`-joined, relative to the root."""
        result: bool | None = None
        for source in self.sources:
            if source.base:
                if not rel.startswith(source.base + "/"):
                    continue
                sub = rel[len(source.base) + 1 :]
            else:
                sub = rel
            check = source.spec.check_file(sub + "/" if is_dir else sub)
            if check.include is not None:
                result = check.include
        return bool(result)
