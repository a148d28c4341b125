"""Git's ignore rules: `.git/info/exclude`, then `.gitignore` files from the root down.

As in git, a later (deeper) source overrides an earlier one, the last matching
pattern of a source wins, a `!pattern` can re-include, and nothing under an
ignored folder is looked at (the scanner does not descend into it, exactly as
git cannot re-include a file inside an excluded folder). Global excludes
(`core.excludesFile`) are not read; matching is case-sensitive
(`core.ignoreCase` unset, as on Linux).

Each ignore file is compiled once (cached by its bytes) into two regular
expressions, one for files and one for folders, each the file's patterns as
alternatives in reverse order: a single `fullmatch` finds the last pattern
that matches. They match the path backwards (patterns like `*.log` and
`(any folder)/name` then start with a literal byte, and `re` rejects most
alternatives on the path's last byte). The translation follows git's `dir.c` and `wildmatch.c` byte for
byte (paths are matched as the bytes on disk), including its quirks: a
pattern is matched as literal text up to its first `*?[\\`, and the rest is a
pattern of its own (so in `a**/b` the `**/` can match no folder at all).
pathspec's `GitIgnoreSpec` is not used: it matches a whole path at once (a
`!dir/` pattern re-included files under it that git keeps ignored) and, without
re2 or hyperscan, tries the patterns one at a time in Python.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import string
from dataclasses import dataclass

from hostagent.mirror.safefile import read_small

log = logging.getLogger("hostagent.mirror")

MAX_IGNORE_FILE = 1024 * 1024
_NEVER = b"(?!)"
_SLASH = ord("/")
_ALL_BYTES = frozenset(range(256))


def _bytes(chars: str) -> frozenset[int]:
    return frozenset(chars.encode("ascii"))


_PRINT = frozenset(range(0x20, 0x7F))
_CLASSES = {
    b"alnum": _bytes(string.ascii_letters + string.digits),
    b"alpha": _bytes(string.ascii_letters),
    b"blank": _bytes(" \t"),
    b"cntrl": frozenset([*range(0x20), 0x7F]),
    b"digit": _bytes(string.digits),
    b"graph": _PRINT - {0x20},
    b"lower": _bytes(string.ascii_lowercase),
    b"print": _PRINT,
    b"punct": _bytes(string.punctuation),
    b"space": _bytes(" \t\n\r\v\f"),
    b"upper": _bytes(string.ascii_uppercase),
    b"xdigit": _bytes(string.hexdigits),
}


def _byte_class(chars: frozenset[int]) -> bytes | None:
    if not chars:
        return None
    return b"[" + b"".join(b"\\x%02x" % c for c in sorted(chars)) + b"]"


def _bracket(pat: bytes, i: int) -> tuple[bytes | None, int]:
    """The bracket expression at `pat[i] == "["`: (regex, index after its `]`), or (None, _) where
    git gives up on the whole pattern (no closing `]`, an unknown `[:class:]`)."""
    end = len(pat)

    def at(k: int) -> int:
        return pat[k] if k < end else 0

    p = i + 1
    p_ch = at(p)
    if p_ch == ord("^"):
        p_ch = ord("!")
    negated = p_ch == ord("!")
    if negated:
        p += 1
        p_ch = at(p)
    prev_ch = 0
    matched: set[int] = set()
    while True:
        if not p_ch:
            return None, end
        if p_ch == ord("\\"):
            p += 1
            p_ch = at(p)
            if not p_ch:
                return None, end
            matched.add(p_ch)
        elif p_ch == ord("-") and prev_ch and at(p + 1) and at(p + 1) != ord("]"):
            p += 1
            p_ch = at(p)
            if p_ch == ord("\\"):
                p += 1
                p_ch = at(p)
                if not p_ch:
                    return None, end
            matched.update(range(prev_ch, p_ch + 1))
            p_ch = 0
        elif p_ch == ord("[") and at(p + 1) == ord(":"):
            s = q = p + 2
            while at(q) and at(q) != ord("]"):
                q += 1
            if not at(q):
                return None, end
            if q - s - 1 < 0 or pat[q - 1] != ord(":"):  # no ":]": a plain "["
                matched.add(ord("["))
            else:
                chars = _CLASSES.get(pat[s : q - 1])
                if chars is None:
                    return None, end
                matched.update(chars)
                p = q
                p_ch = 0
        else:
            matched.add(p_ch)
        prev_ch = p_ch
        p += 1
        p_ch = at(p)
        if p_ch == ord("]"):
            break
    chars = (_ALL_BYTES - matched) if negated else frozenset(matched)
    return _byte_class(chars - {_SLASH}) or _NEVER, p + 1


def _wildmatch(pat: bytes, pathname: bool) -> list[bytes] | None:
    """git's `wildmatch(pat, text, WM_PATHNAME if pathname)` as regex atoms (each matching a
    whole piece of text, so the reversed list matches the reversed text); None if it never matches.

    Without WM_PATHNAME the text is a base name (no "/"): `*` is then `[^/]*` too."""
    out: list[bytes] = []
    i, end = 0, len(pat)
    while i < end:
        c = pat[i]
        if c == ord("\\"):
            if i + 1 >= end:
                return None  # a trailing backslash matches nothing
            out.append(re.escape(pat[i + 1 : i + 2]))
            i += 2
        elif c == ord("?"):
            out.append(b"[^/]")
            i += 1
        elif c == ord("["):
            regex, i = _bracket(pat, i)
            if regex is None:
                return None
            out.append(regex)
        elif c == ord("*"):
            j = i
            while j < end and pat[j] == ord("*"):
                j += 1
            double = j - i >= 2
            after_slash = i == 0 or pat[i - 1] == _SLASH
            before_slash = j == end or pat[j] == _SLASH or pat[j : j + 2] == b"\\/"
            if pathname and double and after_slash and before_slash:
                if j < end and pat[j] == _SLASH:
                    out.append(_ANY_FOLDERS)  # no folders, or any
                    j += 1
                else:
                    out.append(b".*")
            else:
                out.append(b"[^/]*")
            i = j
        else:
            out.append(re.escape(pat[i : i + 1]))
            i += 1
    return out


_ANY_FOLDERS = b"(?:.*/)?"
_REVERSED = {_ANY_FOLDERS: b"(?:/.*)?"}


_GLOB_SPECIAL = re.compile(rb"[*?\[\\]")


@dataclass(frozen=True)
class Pattern:
    atoms: tuple[bytes, ...] | None  # to fullmatch the path relative to the ignore file's folder; None: never
    negated: bool
    dir_only: bool

    def reversed_regex(self) -> bytes:
        """A regex for the reversed path: alternatives then fail on their first byte, mostly."""
        if self.atoms is None:
            return _NEVER
        return b"".join(_REVERSED.get(atom, atom) for atom in reversed(self.atoms))


def parse_pattern(line: bytes) -> Pattern | None:
    """One line of an ignore file (without its newline), as git's `parse_path_pattern` reads it."""
    if line.endswith(b"\r"):
        line = line[:-1]
    line = _trim_trailing_spaces(line)
    if not line or line.startswith(b"#"):
        return None
    negated = line.startswith(b"!")
    if negated:
        line = line[1:]
    dir_only = line.endswith(b"/")
    if dir_only:
        line = line[:-1]
    if b"/" not in line:  # a base name, at any depth
        if not line:
            return None  # "/", "!" and the like match nothing
        atoms = _wildmatch(line, pathname=False)
        if atoms is not None:
            atoms.insert(0, _ANY_FOLDERS)
    else:
        if line.startswith(b"/"):
            line = line[1:]
        special = _GLOB_SPECIAL.search(line)
        literal = len(line) if special is None else special.start()
        # git compares the literal start as text and wildmatches the rest as a pattern of its own
        atoms = _wildmatch(line[literal:], pathname=True)
        if atoms is not None:
            atoms[:0] = [re.escape(line[k : k + 1]) for k in range(literal)]
    return Pattern(None if atoms is None else tuple(atoms), negated, dir_only)


def _trim_trailing_spaces(line: bytes) -> bytes:
    """Trailing spaces go unless escaped with a backslash (git's `trim_trailing_spaces`)."""
    last_space = None
    i = 0
    while i < len(line):
        c = line[i]
        if c == 0x20:
            if last_space is None:
                last_space = i
        elif c == ord("\\"):
            i += 1
            if i >= len(line):
                return line
            last_space = None
        else:
            last_space = None
        i += 1
    return line if last_space is None else line[:last_space]


@dataclass(frozen=True)
class Rules:
    """One ignore file's patterns, compiled: `match` says what its last matching pattern says."""

    files: re.Pattern[bytes] | None
    dirs: re.Pattern[bytes] | None
    file_negated: tuple[bool, ...]  # by group number (0 unused)
    dir_negated: tuple[bool, ...]
    count: int

    def match(self, path: bytes, is_dir: bool) -> bool | None:
        """True (ignored), False (re-included by a `!` pattern) or None (no pattern matches)."""
        return self.match_reversed(path[::-1], is_dir)

    def match_reversed(self, reversed_path: bytes, is_dir: bool) -> bool | None:
        regex, negated = (self.dirs, self.dir_negated) if is_dir else (self.files, self.file_negated)
        if regex is None:
            return None
        found = regex.fullmatch(reversed_path)
        if found is None or found.lastindex is None:
            return None
        return not negated[found.lastindex]


def _compile(patterns: list[Pattern]) -> tuple[re.Pattern[bytes] | None, tuple[bool, ...]]:
    if not patterns:
        return None, ()
    ordered = patterns[::-1]  # the first alternative that matches is the last pattern
    # An empty group closes each alternative: `lastindex` names it, and each alternative still starts
    # with its first byte, so `re` can reject it on that byte (a leading group would hide it).
    regex = b"|".join(b"(?:" + p.reversed_regex() + b")()" for p in ordered)
    return re.compile(regex, re.DOTALL), (False, *(p.negated for p in ordered))


@functools.lru_cache(maxsize=512)
def compile_rules(data: bytes) -> Rules | None:
    """The patterns of an ignore file's bytes, or None if it has none."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    patterns = []
    for line in data.split(b"\n"):
        line = line.split(b"\0", 1)[0]  # git reads each line as a C string
        pattern = parse_pattern(line)
        if pattern is not None:
            patterns.append(pattern)
    if not patterns:
        return None
    files, file_negated = _compile([p for p in patterns if not p.dir_only])
    dirs, dir_negated = _compile(patterns)
    return Rules(files, dirs, file_negated, dir_negated, len(patterns))


def load_rules(path: str) -> Rules | None:
    """The rules of the ignore file at `path` (a regular file, not followed if a symlink), or None."""
    data = read_small(path, MAX_IGNORE_FILE)
    if data is None:
        return None
    try:
        return compile_rules(data)
    except (re.error, RecursionError):  # a pattern Python cannot compile must not stop the scan
        log.warning("ignoring unreadable patterns in %s", ascii(path)[:300])
        return None


@dataclass(frozen=True)
class _Source:
    prefix: bytes  # the folder the patterns are relative to, with a trailing "/"; b"" for the root
    rules: Rules


class Ignorer:
    """Immutable: `with_rules` returns a new Ignorer for a sub-folder."""

    def __init__(self, sources: tuple[_Source, ...] = ()):
        self.sources = sources

    def with_rules(self, base: str, rules: Rules | None) -> Ignorer:
        if rules is None:
            return self
        prefix = os.fsencode(base) + b"/" if base else b""
        return Ignorer((*self.sources, _Source(prefix, rules)))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """`rel` is `/`-joined, relative to the root (as on disk: matched as its bytes)."""
        path = os.fsencode(rel)
        backwards = path[::-1]
        for source in reversed(self.sources):  # the deepest source that has a say decides
            if source.prefix:
                if not path.startswith(source.prefix):
                    continue
                verdict = source.rules.match_reversed(backwards[: len(path) - len(source.prefix)], is_dir)
            else:
                verdict = source.rules.match_reversed(backwards, is_dir)
            if verdict is not None:
                return verdict
        return False
