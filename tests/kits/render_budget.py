"""Helpers for the rendering budget: the shapes that make markdown-it-py slow,
a clock that makes the CPU-time budget a count of parser steps, and a spy."""

from contextlib import contextmanager
from unittest import mock

from projects import render


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _nested_emphasis(size: int) -> str:
    return _repeat("*a **b _c __d ", size)


def _table(size: int) -> str:
    head = "|a" * 50 + "|\n" + "|-" * 50 + "|\n"
    return (head + _repeat("|x" * 50 + "|\n", size))[:size]


def _backticks(size: int) -> str:
    return "".join("`" * i + " " for i in range(1, 400))[:size].ljust(size, "`")


def _nested_lists(size: int) -> str:
    return "".join("  " * (i % 40) + "- a\n" for i in range(size))[:size]


# Name -> text of exactly `size` characters (all ASCII, so size bytes).
SHAPES = {
    "brackets": lambda size: "[" * size,
    "image brackets": lambda size: _repeat("![", size),
    "open links": lambda size: _repeat("[a](", size),
    "nested emphasis": _nested_emphasis,
    "underscores": lambda size: _repeat("_a __b ", size),
    "blockquotes": lambda size: _repeat("> " * 30 + "a\n", size),
    "table": _table,
    "backticks": _backticks,
    "angle brackets": lambda size: "<" * size,
    "nested lists": _nested_lists,
    "link definitions": lambda size: _repeat("[a]: <b\n", size),
    "paragraphs": lambda size: _repeat("a\n\n", size),
    "list markers": lambda size: _repeat("- - - - a\n", size),
}


class StepClock:
    """Stands in for the thread's CPU clock: each reading moves it on by a
    hundredth of the budget, so the budget is a fixed number of parser steps
    and the tests do not depend on the machine's speed."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += render.RENDER_BUDGET_SECONDS / 100
        return self.now


@contextmanager
def step_clock():
    with mock.patch.object(render, "_clock", StepClock()):
        yield


@contextmanager
def counting_renders():
    """Counts Markdown and code renders (cache misses), by the renderers' own calls."""
    with (
        mock.patch.object(render, "_markdown_html", wraps=render._markdown_html) as markdown,
        mock.patch.object(render, "_code_html", wraps=render._code_html) as code,
    ):
        yield markdown, code
