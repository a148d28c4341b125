"""A task's file changes as a reviewer reads them on a phone: the stored unified
diffs parsed into files, hunks and lines, each removed line paired with the
added line that replaced it and the changed words marked, long runs of
unchanged context folded. Every piece of text a host sent is escaped here, with
hidden and bidi characters shown as ⟨U+202E⟩ (the `visible` filter).

A budget keeps a huge diff from stalling the page: at most MAX_TOKENS words of
a line are compared, MAX_PAIRS line pairs per file and MAX_PAGE_PAIRS per page
are highlighted, and at most MAX_ROWS lines per file and MAX_PAGE_ROWS per page
are shown; each file says when its highlighting or its lines were cut.
"""

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from projects.templatetags.visible import visible

CONTEXT = 3  # unchanged lines kept around a change; more are folded
MAX_TOKENS = 200  # words (and the spaces and marks between them) compared per line
MAX_PAIRS = 1_000  # removed/added line pairs highlighted per file
MAX_PAGE_PAIRS = 4_000  # ... and per page
MAX_ROWS = 5_000  # lines shown per file
MAX_PAGE_ROWS = 10_000  # ... and per page
MIN_RATIO = 0.3  # two lines less alike than this are shown as replaced, not edited

HIGHLIGHT_SKIPPED = "Word highlighting skipped: this diff is too large."
ROWS_CUT = "Showing the first {shown:,} of {total:,} lines."
ROWS_NOT_SHOWN = "{total:,} changed lines not shown: this page already shows as many as it can."
TRUNCATED = "The host cut this diff: it was too large to send in full."

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)
_STRIP_PREFIX = re.compile(r"^[ab]/")
_TRUNCATED_LINES = ("... diff truncated", "... diff too large to show")  # as the agent cuts them

STATUS_LABELS = {
    "added": "Added",
    "deleted": "Deleted",
    "renamed": "Renamed",
    "modified": "Modified",
    "binary": "Binary",
    "too_large": "Too large",
}


@dataclass
class Row:
    kind: str  # "add", "del", "ctx" or "note" ("\ No newline at end of file")
    number: int | None  # the new line's number, the old one's for a removed line
    html: SafeString = mark_safe("")  # noqa: S308 (empty)
    text: str = ""


@dataclass
class Block:
    rows: list[Row]
    folded: bool = False


@dataclass
class Hunk:
    label: str  # "Lines 10–14" and the section the diff names
    skipped: int  # unchanged lines between the previous hunk and this one (0: none or unknown)
    blocks: list[Block] = field(default_factory=list)


@dataclass
class FileDiff:
    index: int
    path: str
    status: str
    old_path: str = ""
    added: int = 0
    removed: int = 0
    hunks: list[Hunk] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"change-{self.index}"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass
class _Budget:
    pairs: int = field(default_factory=lambda: MAX_PAGE_PAIRS)
    rows: int = field(default_factory=lambda: MAX_PAGE_ROWS)


# Parsing -------------------------------------------------------------------------------


def _strip(path: str) -> str:
    path = path.split("\t", 1)[0]
    return _STRIP_PREFIX.sub("", path)


def _parse(diff: str) -> tuple[dict[str, str], list[tuple[str, int, int, list[str]]], bool]:
    """(headers, hunks as (section, old start, new start, lines), truncated)."""
    headers: dict[str, str] = {}
    hunks: list[tuple[str, int, int, list[str]]] = []
    truncated = False
    for line in diff.split("\n"):
        match = _HUNK.match(line) if line.startswith("@@") else None
        if match:
            hunks.append((match.group(5), int(match.group(1)), int(match.group(3)), []))
        elif line in _TRUNCATED_LINES:
            truncated = True
        elif hunks and line[:1] in ("+", "-", " ", "\\"):
            hunks[-1][3].append(line)
        elif not hunks:
            for key in ("--- ", "+++ ", "rename from ", "rename to ", "Binary files "):
                if line.startswith(key):
                    headers[key.strip()] = line[len(key) :]
    return headers, hunks, truncated


def _status(change, headers: dict[str, str]) -> tuple[str, str]:
    """(status, old path when renamed)."""
    old = headers.get("rename from") or _strip(headers.get("---", ""))
    new = headers.get("rename to") or _strip(headers.get("+++", ""))
    if change.binary or "Binary files" in headers:
        return "binary", ""
    if change.too_large:
        return "too_large", ""
    if change.op == "created" or headers.get("---", "").startswith("/dev/null"):
        return "added", ""
    if change.op == "deleted" or headers.get("+++", "").startswith("/dev/null"):
        return "deleted", ""
    if old and new and old != new and old != "/dev/null" and new != "/dev/null":
        return "renamed", old
    return "modified", ""


# Word marks ----------------------------------------------------------------------------


def _marked(tokens: list[str], spans: list[tuple[int, int]], tag: str) -> SafeString:
    parts, at = [], 0
    for start, end in spans:
        parts.append(visible("".join(tokens[at:start])))
        parts.append(format_html(tag, visible("".join(tokens[start:end]))))
        at = end
    parts.append(visible("".join(tokens[at:])))
    return mark_safe("".join(parts))  # noqa: S308 (each part escaped above)


def _words(tokens: list[str]) -> int:
    return sum(1 for token in tokens if not token.isspace())


def _pair(old: Row, new: Row) -> None:
    """Mark the words that differ between a removed line and the added line after it."""
    a, b = _TOKEN.findall(old.text), _TOKEN.findall(new.text)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    words = _words(a + b) or 1
    same = sum(_words(a[m.a : m.a + m.size]) for m in matcher.get_matching_blocks())
    if 2 * same / words < MIN_RATIO:  # spaces alike in any two sentences are not kinship
        return
    a_spans, b_spans = [], []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if a2 > a1:
            a_spans.append((a1, a2))
        if b2 > b1:
            b_spans.append((b1, b2))
    old.html = _marked(a, _joined(a, a_spans), "<del>{}</del>")
    new.html = _marked(b, _joined(b, b_spans), "<ins>{}</ins>")


def _joined(tokens: list[str], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Changed spans with only spaces between them read as one change."""
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        if joined and all(token.isspace() for token in tokens[joined[-1][1] : start]):
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def _highlight(rows: list[Row], budget: _Budget) -> bool:
    """Pair each run of removed lines with the added lines right after it; False
    when the budget ran out before every pair was highlighted."""
    pairs, complete, i = 0, True, 0
    while i < len(rows):
        if rows[i].kind != "del":
            i += 1
            continue
        start = i
        while i < len(rows) and rows[i].kind == "del":
            i += 1
        middle = i
        while i < len(rows) and rows[i].kind == "add":
            i += 1
        for old, new in zip(rows[start:middle], rows[middle:i], strict=False):
            if pairs >= MAX_PAIRS or budget.pairs <= 0:
                complete = False
                break
            if len(old.text) > MAX_TOKENS * 8 or len(new.text) > MAX_TOKENS * 8:
                continue  # plainly too long to be worth it: skip before tokenizing
            if len(_TOKEN.findall(old.text)) > MAX_TOKENS or len(_TOKEN.findall(new.text)) > MAX_TOKENS:
                continue
            pairs += 1
            budget.pairs -= 1
            _pair(old, new)
    return complete


# Folding -------------------------------------------------------------------------------


def _blocks(rows: list[Row]) -> list[Block]:
    """Runs of unchanged lines past CONTEXT either side of a change folded away."""
    blocks: list[Block] = []
    i = 0
    while i < len(rows):
        j = i
        if rows[i].kind == "ctx":
            while j < len(rows) and rows[j].kind == "ctx":
                j += 1
            keep_head = CONTEXT if i > 0 else 0
            keep_tail = CONTEXT if j < len(rows) else 0
            if j - i > keep_head + keep_tail + 1:
                _append(blocks, rows[i : i + keep_head])
                blocks.append(Block(rows[i + keep_head : j - keep_tail], folded=True))
                _append(blocks, rows[j - keep_tail : j])
            else:
                _append(blocks, rows[i:j])
        else:
            while j < len(rows) and rows[j].kind != "ctx":
                j += 1
            _append(blocks, rows[i:j])
        i = j
    return blocks


def _append(blocks: list[Block], rows: list[Row]) -> None:
    if not rows:
        return
    if blocks and not blocks[-1].folded:
        blocks[-1].rows.extend(rows)
    else:
        blocks.append(Block(list(rows)))


# Files ---------------------------------------------------------------------------------


def _rows(old_start: int, new_start: int, lines: list[str]) -> list[Row]:
    rows, old_no, new_no = [], old_start, new_start
    for line in lines:
        sign, text = line[:1], line[1:]
        if sign == "+":
            rows.append(Row("add", new_no, text=text))
            new_no += 1
        elif sign == "-":
            rows.append(Row("del", old_no, text=text))
            old_no += 1
        elif sign == "\\":
            rows.append(Row("note", None, text=line[2:]))
        else:
            rows.append(Row("ctx", new_no, text=text))
            old_no += 1
            new_no += 1
    return rows


def file_diff(change, index: int = 1, budget: _Budget | None = None) -> FileDiff:
    """One TaskFileChange (path, op, diff, binary, too_large) ready for the page."""
    budget = budget or _Budget()
    headers, raw_hunks, truncated = _parse(change.diff or "")
    status, old_path = _status(change, headers)
    result = FileDiff(index=index, path=change.path, status=status, old_path=old_path)
    shown, total, complete, old_end = 0, 0, True, 0
    for section, old_start, new_start, lines in raw_hunks:
        result.added += sum(1 for line in lines if line[:1] == "+")
        result.removed += sum(1 for line in lines if line[:1] == "-")
        total += len(lines)
        room = min(MAX_ROWS - shown, budget.rows)
        if room <= 0:
            continue
        rows = _rows(old_start, new_start, lines[:room])
        shown += len(rows)
        budget.rows -= len(rows)
        complete = _highlight(rows, budget) and complete
        for row in rows:
            if not row.html:
                row.html = visible(row.text)
        first, side = (new_start, ("add", "ctx")) if new_start else (old_start, ("del", "ctx"))
        span = sum(1 for row in rows if row.kind in side) or 1
        label = f"Lines {first}–{first + span - 1}" if span > 1 else f"Line {first}"
        skipped = old_start - old_end - 1 if old_end and old_start > old_end + 1 else 0
        old_end = old_start + sum(1 for row in rows if row.kind in ("del", "ctx")) - 1
        result.hunks.append(Hunk(label=f"{label} {section}".strip(), skipped=skipped, blocks=_blocks(rows)))
    if not complete:
        result.notices.append(HIGHLIGHT_SKIPPED)
    if shown < total:
        result.notices.append((ROWS_CUT if shown else ROWS_NOT_SHOWN).format(shown=shown, total=total))
    if truncated:
        result.notices.append(TRUNCATED)
    return result


def file_diffs(changes) -> list[FileDiff]:
    """Every change of a task, sharing one page-wide budget."""
    budget = _Budget()
    return [file_diff(change, index, budget) for index, change in enumerate(changes, start=1)]
