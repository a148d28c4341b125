"""What a task changed: the `changes` of task.finished, from real scans of real files."""

import json
import os

from hostagent.link import MAX_FRAME
from hostagent.tasks import changes as changes_module
from hostagent.tasks.changes import MAX_CHANGES, MAX_DIFF, TRUNCATED, compare, take_snapshot, unified_diff
from tests.kits.agent_mirror import write
from tests.kits.agent_tasks import (
    BULLETIZE,
    PY,
    finished,
    load_config,
    log_text,
    running_agent,
    toml_list,
)

NOTES = "# Plan\n\nFirst line\nSecond line\n\n- already a bullet\n"


def bulletize_config(tmp_path):
    return load_config(
        tmp_path,
        f"""
[executors.bullets]
label = "Bulletize"
command = {toml_list([PY, BULLETIZE, "--", "{file}"])}
needs_file = true
""",
    )


async def test_a_bulletize_run_reports_one_modified_file_with_its_diff(tmp_path):
    root = tmp_path / "proj"
    write(root, "docs/notes.md", NOTES)
    write(root, "other.md", "untouched\n")
    async with running_agent(tmp_path, bulletize_config(tmp_path), {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "bullets", "make it a list", "docs/notes.md")
        done = await finished(hub, 1)
    assert (root / "docs/notes.md").read_text() == "# Plan\n- First line\n- Second line\n- already a bullet\n"
    assert done["outcome"] == "succeeded"
    assert log_text(hub, 1) == "bulletized ./docs/notes.md: 3 items\n"
    (change,) = done["changes"]
    assert {k: v for k, v in change.items() if k != "diff"} == {
        "path": "docs/notes.md",
        "op": "modified",
        "binary": False,
        "too_large": False,
    }
    assert change["diff"] == (
        "--- a/docs/notes.md\n+++ b/docs/notes.md\n@@ -1,6 +1,4 @@\n"
        " # Plan\n-\n-First line\n-Second line\n-\n+- First line\n+- Second line\n - already a bullet\n"
    )


async def test_a_task_without_a_file_for_a_file_executor_fails_before_running(tmp_path):
    root = tmp_path / "proj"
    write(root, "a.md", "a\n")
    async with running_agent(tmp_path, bulletize_config(tmp_path), {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "bullets", "make it a list")
        done = await finished(hub, 1)
    assert (done["outcome"], done["error"]) == ("failed", "executor 'bullets' needs a target file")


def test_it_reports_created_modified_deleted_binary_and_symlinks_but_never_ignored_files(tmp_path):
    root = tmp_path / "proj"
    write(root, ".gitignore", "build/\n*.log\n")
    write(root, "keep.md", "same\n")
    write(root, "edit.md", "one\ntwo\n")
    write(root, "gone.md", "bye\n")
    write(root, "image.png", b"\x89PNG\0\0old")
    write(root, ".git/HEAD", "ref: refs/heads/main\n")
    before = take_snapshot(str(root))
    write(root, "edit.md", "one\n2\n")
    (root / "gone.md").unlink()
    write(root, "new/made.md", "fresh")  # no newline at the end
    write(root, "image.png", b"\x89PNG\0\0new")
    write(root, "blob.bin", b"\xff\xfe\0")
    write(root, "build/out.txt", "ignored folder")
    write(root, "debug.log", "ignored file")
    write(root, ".git/HEAD", "ref: refs/heads/other\n")
    (root / "link").symlink_to("keep.md")
    changes, total = compare(before)
    assert total == len(changes) == 6
    by_path = {c["path"]: c for c in changes}
    assert [c["path"] for c in changes] == [
        "blob.bin",
        "edit.md",
        "gone.md",
        "image.png",
        "link",
        "new/made.md",
    ]
    assert by_path["edit.md"] == {
        "path": "edit.md",
        "op": "modified",
        "binary": False,
        "too_large": False,
        "diff": "--- a/edit.md\n+++ b/edit.md\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n",
    }
    assert by_path["gone.md"]["op"] == "deleted" and by_path["gone.md"]["diff"].endswith("\n-bye\n")
    assert by_path["new/made.md"]["op"] == "created"
    assert by_path["new/made.md"]["diff"].endswith("+fresh\n\\ No newline at end of file\n")
    for path, op in (("image.png", "modified"), ("blob.bin", "created")):
        assert by_path[path] == {"path": path, "op": op, "binary": True, "too_large": False, "diff": None}
    assert by_path["link"]["op"] == "created" and by_path["link"]["diff"] is None


def test_it_does_not_diff_large_files_and_cuts_long_diffs(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    big = "x" * 100 + "\n"
    write(root, "large.txt", big * 6000)  # 606 KB: over the 512 KiB text limit
    write(root, "long.txt", "".join(f"old {i}\n" for i in range(20000)))
    monkeypatch.setattr(changes_module, "TEXT_BUDGET", 1000)  # and nothing more is kept
    write(root, "late.txt", "y" * 2000)
    before = take_snapshot(str(root))
    monkeypatch.setattr(changes_module, "TEXT_BUDGET", 32 * 1024 * 1024)
    write(root, "large.txt", big * 6001)
    write(root, "late.txt", "z" * 2000)
    changes, _ = compare(before)
    by_path = {c["path"]: c for c in changes}
    assert by_path["large.txt"]["too_large"] is True and by_path["large.txt"]["diff"] is None
    assert by_path["late.txt"]["too_large"] is True and by_path["late.txt"]["diff"] is None
    long_diff = unified_diff("long.txt", "".join(f"old {i}\n" for i in range(20000)), "")
    assert long_diff.endswith("\n" + TRUNCATED) and len(long_diff.encode()) <= MAX_DIFF


def test_it_lists_at_most_100_changes_sorted_and_counts_them_all(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    before = take_snapshot(str(root))
    for i in range(130):
        write(root, f"f{i:03}.md", f"{i}\n")
    changes, total = compare(before)
    assert total == 130 and len(changes) == MAX_CHANGES
    assert [c["path"] for c in changes] == [f"f{i:03}.md" for i in range(100)]


async def test_it_drops_diffs_until_task_finished_fits_one_frame(tmp_path):
    # 40 files of 60 KB rewritten: 40 diffs of ~64 KiB are too much for one 1 MiB frame.
    root = tmp_path / "proj"
    for i in range(40):
        write(root, f"f{i:02}.txt", "".join(f"line {j} {i}\n" for j in range(5000)))
    script = "import pathlib\nfor p in pathlib.Path('.').glob('*.txt'): p.write_text(p.read_text().upper())\n"
    cfg = load_config(tmp_path, f"[executors.upper]\ncommand = {toml_list([PY, '-c', script])}\n")
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "upper", "shout")
        done = await finished(hub, 1, timeout=20)
    assert done["outcome"] == "succeeded" and len(done["changes"]) == 40
    kept = [c for c in done["changes"] if c["diff"] is not None]
    dropped = [c for c in done["changes"] if c["diff"] is None]
    assert kept and dropped and all(c["too_large"] for c in dropped)
    assert (
        len(json.dumps({"type": "task.finished", "stream": "tasks", "seq": 9, "payload": done})) <= MAX_FRAME
    )
    assert os.path.exists(root / "f00.txt")
