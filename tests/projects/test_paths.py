"""Paths from the network (SECURITY.md 48, 50, 97)."""

import unicodedata
from pathlib import PureWindowsPath

import pytest

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
