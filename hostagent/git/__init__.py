"""The host agent's git operations (issue 17, first slice): task worktrees, commit, merge, push, discard.

Each task may run on its own branch `codexhub/<task-id>-<slug>` in a worktree under the
agent's data folder (beside agent.toml, never inside the project), so two tasks on one
project never see each other's changes and the user's working copy is never touched.
From there the phone reviews the diff, commits (with a `Requested-by:` trailer naming the
hub user), merges into a branch and pushes with the host's own credentials.

Rules every function here keeps (hostagent/git/runner.py):

- git runs as an argv list, never through a shell, with a timeout, `GIT_TERMINAL_PROMPT=0`,
  no controlling terminal (so ssh cannot ask for a passphrase either) and stdin closed.
- Names (branches, remotes), commit messages and paths are checked before any git process
  runs (hostagent/git/names.py); a remote must be one `git remote` lists, never a URL.
- git's config is never written and no `-c` option is passed: the user's hooks, signing
  and credential helpers apply to what we do exactly as to what they do by hand. A hook
  that fails fails the operation with its own words; one that hangs hits the timeout.
- git's own error text comes back verbatim in a GitError.

The task service (hostagent/tasks/service.py) makes and finds task worktrees; the git
service (hostagent/git/service.py) answers the hub's `git.request`s with these operations;
review.py says what the phone sees of a repository and gh.py opens pull requests.
"""

from hostagent.git.discard import DiscardRefused, FileChange, discard_in_working_copy
from hostagent.git.names import HubUser
from hostagent.git.ops import MergeResult, RepoState, commit, merge, push, repo_state
from hostagent.git.runner import DirtyFiles, GitError, GitTimeout, MergeConflict, Refused
from hostagent.git.worktrees import (
    Worktree,
    worktree_cleanup,
    worktree_create,
    worktree_remove,
    worktrees,
    worktrees_dir,
    worktrees_stale,
)

__all__ = [
    "DirtyFiles",
    "DiscardRefused",
    "FileChange",
    "GitError",
    "GitTimeout",
    "HubUser",
    "MergeResult",
    "MergeConflict",
    "Refused",
    "RepoState",
    "Worktree",
    "commit",
    "discard_in_working_copy",
    "merge",
    "push",
    "repo_state",
    "worktree_cleanup",
    "worktree_create",
    "worktree_remove",
    "worktrees",
    "worktrees_dir",
    "worktrees_stale",
]
