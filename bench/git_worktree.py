"""A task worktree on a 10,000-file repository: worktree_create + worktree_remove beside a plain
`git worktree add` + `git worktree remove` in the same run (issue 17). Prints seconds and ratios.

    .venv/bin/python bench/git_worktree.py [--files 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostagent import git as gitops  # noqa: E402


def sh(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def make(root: Path, files: int) -> Path:
    repo = root / "project"
    for i in range(files):
        path = repo / f"pkg{i % 50}" / f"sub{i % 7}" / f"file{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"x = {i}\n" * 20)
    sh(repo, "init", "-q", "-b", "main")
    sh(repo, "add", "-A")
    sh(repo, "commit", "-q", "-m", "generated")
    return repo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = make(root, args.files)
        ours_add, ours_rm, plain_add, plain_rm = [], [], [], []
        for n in range(1, args.rounds + 1):
            t = time.perf_counter()
            gitops.worktree_create(repo, n, "bench", data_dir=root / "agent")
            ours_add.append(time.perf_counter() - t)
            t = time.perf_counter()
            gitops.worktree_remove(repo, n)
            ours_rm.append(time.perf_counter() - t)

            plain = root / f"plain{n}"
            t = time.perf_counter()
            sh(repo, "worktree", "add", "-q", "-b", f"plain{n}", str(plain), "main")
            plain_add.append(time.perf_counter() - t)
            t = time.perf_counter()
            sh(repo, "worktree", "remove", "--force", str(plain))
            sh(repo, "branch", "-D", f"plain{n}")
            plain_rm.append(time.perf_counter() - t)
        med = statistics.median
        print(f"{args.files} files, median of {args.rounds} rounds")
        print(
            f"create: worktree_create {med(ours_add):.3f} s, git worktree add {med(plain_add):.3f} s, "
            f"ratio {med(ours_add) / med(plain_add):.2f}"
        )
        print(
            f"remove: worktree_remove {med(ours_rm):.3f} s, git worktree remove + branch -D "
            f"{med(plain_rm):.3f} s, ratio {med(ours_rm) / med(plain_rm):.2f}"
        )


if __name__ == "__main__":
    main()
