import logging
import os
import unicodedata

import pytest

from hostagent.mirror.paths import is_git_name, protocol_path

REFUSED = [
    "../x",
    "a/../../x",
    "..",
    ".",
    "/etc/passwd",
    "C:/x",
    "C:x",
    "c:\\x",
    "\\\\srv\\s",
    "//srv/s",
    "a\\b",
    "a//b",
    "a/",
    "./a",
    "a/./b",
    "",
    "a" * 5000,
    "é" * 2049,  # 4098 bytes
    "/".join(["d"] * 100),
    "/".join(["d"] * 65),
    os.fsdecode(b"bad\xffname"),  # a lone surrogate from undecodable bytes
    "x\ud800y",
    "nul\x00byte",
    "tab\there",
    "new\nline",
    "esc\x1b[2J",
    "del\x7f",
    "c1\x85next",
    "c1\x9bcsi",
]


@pytest.mark.parametrize("path", REFUSED, ids=lambda p: ascii(p)[:40])
def test_it_refuses_hostile_paths_and_logs_them(path, caplog):
    with caplog.at_level(logging.WARNING, logger="hostagent.mirror"):
        assert protocol_path(path) is None
    assert "skipping" in caplog.text


ACCEPTED = [
    "a",
    "notes/todo.md",
    "..a",
    "a..",
    ".hidden/.x",
    "a b/c d.txt",
    "日本語/ファイル.md",
    "emoji/🙂.txt",
    "notes:2024.md",
    "d/" * 63 + "f",  # 64 segments
    "a" * 4096,
]


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: ascii(p)[:40])
def test_it_accepts_ordinary_paths_unchanged(path):
    assert protocol_path(path) == path


def test_it_normalizes_nfd_names_to_nfc():
    nfd = unicodedata.normalize("NFD", "café/résumé.md")
    assert nfd != "café/résumé.md"
    assert protocol_path(nfd) == "café/résumé.md"
    assert unicodedata.is_normalized("NFC", protocol_path(nfd))


def test_it_counts_the_byte_limit_after_normalization():
    # 2048 x "é" is 4096 bytes in NFC but 6144 in NFD: it fits once normalized.
    nfd = unicodedata.normalize("NFD", "é" * 2048)
    assert protocol_path(nfd) == "é" * 2048


@pytest.mark.parametrize("name", [".git", ".GIT", ".Git", ".gIt"])
def test_it_knows_git_in_any_case(name):
    assert is_git_name(name)


@pytest.mark.parametrize("name", [".gitignore", "git", ".git2", "x.git"])
def test_it_does_not_mistake_other_names_for_git(name):
    assert not is_git_name(name)
