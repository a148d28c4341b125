"""Paths from the network (SECURITY.md 48, 50, 97)."""

import unicodedata
from pathlib import PureWindowsPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projects.paths import InvalidPath, mirror_path

HOSTILE = [
    "../x",
    "a/../../x",
    "/etc/passwd",
    "C:/x",
    "c:x",
    "\\\\srv\\s",
    "//srv/s",
    "a\\b",
    "a//b",
    "./a",
    "a/.",
    "a/",
    "",
    "x" * 5000,
    "/".join(["d"] * 100),
    "a\udcffb",
    "bell\x07",
    "nul\x00byte",
    "c1\x85name",
    "esc\x1b[2J",
    unicodedata.normalize("NFD", "café.md"),
]


@pytest.mark.parametrize("path", HOSTILE, ids=range(len(HOSTILE)))
def test_it_refuses_hostile_paths(path):
    with pytest.raises(InvalidPath):
        mirror_path(path)


@pytest.mark.parametrize("value", [None, 5, b"bytes", ["a"]])
def test_it_refuses_what_is_not_a_string(value):
    with pytest.raises(InvalidPath):
        mirror_path(value)


@pytest.mark.parametrize(
    "path", ["README.md", "src/app.py", "café.md", "a b/c d.txt", ".github/workflows/ci.yml", "日本/語.md"]
)
def test_it_accepts_ordinary_paths(path):
    assert mirror_path(path) == path


def test_windows_forms_are_caught_by_their_anchor():
    for path in ("C:/x", "\\\\srv\\share\\x"):
        assert PureWindowsPath(path).anchor
        with pytest.raises(InvalidPath):
            mirror_path(path)


def _reference(raw: object) -> bool:
    """The checks as first written (pathlib and unicodedata for every path): the
    fast mirror_path must give the same verdict on every input."""
    from pathlib import PurePosixPath

    if not isinstance(raw, str) or not raw:
        return False
    try:
        size = len(raw.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    if size > 4096 or unicodedata.normalize("NFC", raw) != raw:
        return False
    if any(unicodedata.category(char) == "Cc" for char in raw) or "\\" in raw:
        return False
    if raw.startswith("/") or PureWindowsPath(raw).anchor or PurePosixPath(raw).is_absolute():
        return False
    segments = raw.split("/")
    return len(segments) <= 64 and not any(segment in ("", ".", "..") for segment in segments)


def _verdict(raw: object) -> bool:
    try:
        mirror_path(raw)
    except InvalidPath:
        return False
    return True


EDGES = [
    *HOSTILE,
    "a:b",
    "1:x",
    "é:x",
    "a:",
    ":a",
    "ab:c",
    "Z:",
    "x/C:/y",
    "//",
    "/",
    "a/..b",
    "...",
    "a/.b/c",
    "\x7f",
    "\x9f",
    "\xa0nbsp",
    "\u2028sep",
    "\u202eRTL",
    "x" * 4096,
    "é" * 2048,
    "é" * 2049,
    "/".join(["d"] * 64),
    "/".join(["d"] * 65),
    unicodedata.normalize("NFD", "Å/x"),
    "\ufeffbom",
]


@pytest.mark.parametrize("path", EDGES, ids=range(len(EDGES)))
def test_the_fast_checks_agree_with_the_reference_on_edge_cases(path):
    assert _verdict(path) == _reference(path)


ALPHABET = st.sampled_from(list("ab./\\:C\x00\x1f\x7f\x85\x9f é\u0301\u212b\ud800日"))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.text(ALPHABET, max_size=12), st.text(max_size=12)))
def test_the_fast_checks_agree_with_the_reference(path):
    assert _verdict(path) == _reference(path)
