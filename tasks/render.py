"""Unified diffs as lines a phone can read: each line tagged for its colour."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "hunk", "meta" or "ctx"
    text: str


def diff_lines(diff: str | None) -> list[DiffLine]:
    lines = []
    for line in (diff or "").splitlines():
        if line.startswith(("+++", "---")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        lines.append(DiffLine(kind, line))
    return lines


def diff_stats(diff: str | None) -> tuple[int, int]:
    """Lines added and removed."""
    lines = diff_lines(diff)
    return sum(1 for line in lines if line.kind == "add"), sum(1 for line in lines if line.kind == "del")


def step_label(step: dict) -> str:
    """`fill #qty = 3`, `open https://...`: a browser step in a line."""
    target = step.get("url") or step.get("selector") or step.get("text") or step.get("key") or ""
    value = f" = {step['value']}" if "value" in step else ""
    return f"{step.get('action', '?')} {target}{value}".strip()
