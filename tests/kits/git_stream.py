"""Helpers for the hub's side of git (tasks.git): a host whose project is a git repository,
worktree tasks as the host would have started and finished them, and what its agent sends
on the `git` stream."""

from django.utils import timezone

from devices.models import Host
from projects.models import Project
from tasks.models import GitAction, Task, TaskFileChange, TaskState
from tests.kits.common import SequencedStream
from tests.kits.mirror_stream import Stream, file_change
from tests.kits.task_stream import make_task

BASE_COMMIT = "0" * 39 + "1"
COMMIT = "c0ffee" + "0" * 34
MERGED = "feed" + "0" * 36
DIFF = "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-hello\n+hello, world\n"


def git_projects(host: Host, **git: bool) -> dict[str, Project]:
    """The projects the host shares, by name, each a git repository or not (as mirror.projects
    says), each with README.md."""
    stream = Stream(host.id)
    stream.send(
        "mirror.projects", {"projects": [{"name": name, "git": is_git} for name, is_git in git.items()]}
    )
    for name in git:
        stream.batch(name, file_change("README.md"))
    return {project.name: project for project in Project.objects.filter(host=host, name__in=git)}


def git_project(host: Host) -> Project:
    """The one project the host shares, docs: a git repository with README.md."""
    return git_projects(host, docs=True)["docs"]


def worktree_task(project: Project, user, *, changed: bool = True, **fields) -> Task:
    """A task that ran on its own branch, as its host reported it (started, finished)."""
    now = timezone.now()
    values = {
        "workspace": "worktree",
        "state": TaskState.SUCCEEDED,
        "received_at": now,
        "started_at": now,
        "finished_at": now,
        "prompt": "Greet the world in the README",
        "base": "main",
        "base_commit": BASE_COMMIT,
    }
    values.update(fields)
    task = make_task(project, user, **values)
    if "branch" not in fields:
        root = task.worktree_of_id or task.id
        Task.objects.filter(id=task.id).update(branch=f"codexhub/{root}-greet-the-world")
        task.refresh_from_db()
    if changed:
        TaskFileChange.objects.create(task=task, path="README.md", op="modified", diff=DIFF)
    return task


def last_request(**filters) -> GitAction:
    return GitAction.objects.filter(**filters).order_by("-id").first()


class GitStream(SequencedStream):
    """The `git` stream of one host, numbered on from where the hub is (a new one per
    answer goes on where the last stopped, as the agent's outbox does)."""

    name = "git"

    def result(self, request: str, ok: bool = True, **fields):
        from devices.models import HostStream

        last = HostStream.objects.filter(host_id=self.host_id, name=self.name).values_list(
            "last_seq", flat=True
        )
        self.seq = max(self.seq, last.first() or 0)
        return self.send("git.result", {"request": request, "ok": ok, **fields})
