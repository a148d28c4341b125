"""Helpers for task tests: a host that offers executors, and what its agent
would send on the `tasks` stream."""

from devices.models import Host
from projects.models import Project
from tasks.models import Task
from tests.kits.common import SequencedStream
from tests.kits.mirror_stream import Stream, file_change

BULLETS = {"name": "bullets", "label": "Bulletize", "kind": "command", "needs_file": True}
CLAUDE = {"name": "claude", "label": "Claude Code", "kind": "command", "needs_file": False}


def offering(host: Host, *executors: dict) -> Host:
    Host.objects.filter(id=host.id).update(executors=list(executors) or [BULLETS, CLAUDE])
    host.refresh_from_db()
    return host


def shared_project(host: Host, name: str = "docs", files=("README.md",)) -> Project:
    """A project mirrored from the host, with the given files."""
    stream = Stream(host.id)
    stream.projects(name)
    stream.batch(name, *(file_change(path) for path in files))
    return Project.objects.get(host=host, name=name)


def studio_of_one(*executors: dict) -> dict:
    """A team of one owner (mia) whose host Studio offers `executors` (or the
    defaults) and shares project docs: {"user", "host", "token", "project"}."""
    from tests.kits.common import make_host, make_owner

    user, team = make_owner("mia@example.com", "Team A")
    host, token = make_host(team, "Studio")
    project = shared_project(offering(host, *executors))
    return {"user": user, "host": host, "token": token, "project": project}


def make_task(project: Project, user, **fields) -> Task:
    values = {
        "team_id": project.host.team_id,
        "host": project.host,
        "project": project,
        "created_by": user,
        "executor": "claude",
        "executor_label": "Claude Code",
        "prompt": "Tidy the README",
    }
    values.update(fields)
    if "expires_at" not in values:
        from datetime import timedelta

        from django.utils import timezone

        values["expires_at"] = timezone.now() + timedelta(hours=1)
    return Task.objects.create(**values)


class TaskStream(SequencedStream):
    """The `tasks` stream of one host."""

    name = "tasks"

    def received(self, task_id: int):
        return self.send("task.received", {"task_id": task_id})

    def started(self, task_id: int):
        return self.send("task.started", {"task_id": task_id})

    def log(self, task_id: int, seq: int, text: str):
        return self.send("task.log", {"task_id": task_id, "seq": seq, "text": text})

    def finished(self, task_id: int, outcome: str = "succeeded", **extra):
        payload = {"task_id": task_id, "outcome": outcome, "exit_code": 0, "duration": 1.5, "changes": []}
        payload.update(extra)
        return self.send("task.finished", payload)
