"""`mirror.projects` and `mirror.batch`: a batch breaking any rule is refused
whole, so nothing in a change is ever cut."""

import hashlib

import pytest

from protocol import limits
from protocol.mirror import (
    HASH_REFUSED,
    KIND_REFUSED,
    PROJECT_NAME_REFUSED,
    TEXT_NOT_UTF8,
    TEXT_NUL,
    TEXT_TOO_LONG,
    MirrorBatch,
    MirrorProjects,
)
from tests.kits.protocol_checks import refused, wire

HASH = hashlib.sha256(b"hello\n").hexdigest()
FILE = {
    "op": "upsert",
    "path": "a.md",
    "kind": "file",
    "size": 6,
    "mtime": 1.5,
    "hash": HASH,
    "text": "hello\n",
}


def batch(*changes, **fields) -> dict:
    return {"project": "docs", "changes": list(changes), **fields}


def test_a_batch_with_each_kind_of_change():
    message = MirrorBatch.model_validate(
        batch(
            FILE,
            {"op": "upsert", "path": "d", "kind": "dir"},
            {"op": "upsert", "path": "l", "kind": "symlink", "target_inside": False, "hash": "ignored"},
            {"op": "delete", "path": "old"},
        )
    )
    file, folder, link, gone = message.changes
    assert (file.text, file.size, file.mtime, file.binary, file.too_large) == (
        "hello\n",
        6,
        1.5,
        False,
        False,
    )
    assert (folder.kind, folder.hash, folder.size, folder.text) == ("dir", "", None, None)
    assert (link.target_inside, link.hash) == (False, "")
    assert (gone.op, gone.path, gone.kind) == ("delete", "old", None)
    assert message.reset is False


def test_text_at_the_limit_is_kept_and_one_more_character_is_refused():
    at_limit = {**FILE, "text": "y" * limits.MAX_TEXT}
    assert len(MirrorBatch.model_validate(batch(at_limit)).changes[0].text) == limits.MAX_TEXT
    assert refused(MirrorBatch, batch({**FILE, "text": "y" * (limits.MAX_TEXT + 1)})) == (
        f"changes.0.text: {TEXT_TOO_LONG}"
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({**FILE, "text": "nul \x00 inside"}, f"changes.0.text: {TEXT_NUL}"),
        ({**FILE, "text": "lone \ud800 surrogate"}, f"changes.0.text: {TEXT_NOT_UTF8}"),
        ({**FILE, "text": 5}, "changes.0.text: must be a string"),
        ({**FILE, "hash": "A" * 64}, f"changes.0: {HASH_REFUSED}"),
        ({**FILE, "hash": "not-a-hash"}, f"changes.0: {HASH_REFUSED}"),
        ({k: v for k, v in FILE.items() if k != "hash"}, f"changes.0: {HASH_REFUSED}"),
        ({**FILE, "size": -1}, "changes.0.size: must be greater than or equal to 0"),
        ({**FILE, "size": 2**62}, "changes.0.size: must be less than"),
        ({**FILE, "size": True}, "changes.0.size: must be an integer"),
        ({**FILE, "size": 6.0}, "changes.0.size: must be an integer"),
        ({**FILE, "mtime": float("nan")}, "changes.0.mtime: must be a finite number"),
        ({**FILE, "mtime": 1e11}, "changes.0.mtime: must be less than"),
        ({**FILE, "mtime": -1}, "changes.0.mtime: must be greater than or equal to 0"),
        ({**FILE, "mtime": False}, "changes.0.mtime: must be a number"),
        ({**FILE, "binary": 1}, "changes.0.binary: must be true or false"),
        ({**FILE, "target_inside": "yes"}, "changes.0.target_inside: must be true or false"),
        ({**FILE, "path": "../x"}, "changes.0.path: a path must not have empty, '.' or '..' segments"),
        ({**FILE, "path": "/etc/passwd"}, "changes.0.path: a path must be relative"),
        ({**FILE, "path": "a\x00b"}, "changes.0.path: a path must not contain control characters"),
        ({**FILE, "path": "a\udcffb"}, "changes.0.path: a path must be valid UTF-8"),
        ({**FILE, "path": None}, "changes.0.path: must be a string"),
        ({"op": "rename", "path": "a"}, "changes.0.op: must be 'upsert' or 'delete'"),
        ({"op": "upsert", "path": "a"}, f"changes.0: {KIND_REFUSED}"),
        ({"op": "upsert", "path": "a", "kind": "fifo"}, "changes.0.kind: must be 'file', 'dir' or 'symlink'"),
        ("not an object", "changes.0: must be an object"),
    ],
)
def test_a_bad_change_refuses_the_batch_naming_it(change, said):
    assert refused(MirrorBatch, batch(change)).startswith(said)


def test_a_surrogate_escaped_in_json_is_refused_as_well():
    assert refused(MirrorBatch, wire(batch({**FILE, "text": "\ud83d"}))) == f"changes.0.text: {TEXT_NOT_UTF8}"


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"changes": [FILE] * (limits.MAX_MIRROR_CHANGES + 1)}, "changes: must have at most 5000 items"),
        ({"changes": None}, "changes: must be a list"),
        ({"reset": 1}, "reset: must be true or false"),
        ({"project": ""}, "project: a project name is 1-64 characters"),
        ({"project": "a/b"}, f"project: {PROJECT_NAME_REFUSED}"),
        ({"project": "x" * 65}, "project: a project name is 1-64 characters"),
        ({"project": "tab\there"}, "project: a project name must not contain control characters"),
        ({"project": "rtl\u202e"}, "project: a project name must not contain control characters"),
        ({"project": "x\ud800"}, "project: a project name must be valid Unicode"),
        ({"project": 7}, "project: must be a string"),
    ],
)
def test_a_bad_batch_is_refused(fields, said):
    assert refused(MirrorBatch, {**batch(), **fields}).startswith(said)


def test_projects():
    message = MirrorProjects.model_validate({"projects": [{"name": "docs"}, {"name": "café", "extra": 1}]})
    assert [p.name for p in message.projects] == ["docs", "café"]


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ({}, "projects: is required"),
        ({"projects": [{"name": "x"}] * 201}, "projects: must have at most 200 items"),
        ({"projects": [{"name": "a\x00"}]}, "projects.0.name: a project name must not contain control"),
        ({"projects": [{"name": "a\udc80"}]}, "projects.0.name: a project name must be valid Unicode"),
        ({"projects": [{}]}, "projects.0.name: is required"),
        ({"projects": ["docs"]}, "projects.0: must be an object"),
    ],
)
def test_bad_projects_are_refused(payload, said):
    assert refused(MirrorProjects, payload).startswith(said)
