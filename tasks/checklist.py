"""The first-run checklist on the home page (the hosts page): six steps from
signing up to a notice on the phone, each ticked from what the database holds,
never from a flag a person could set by clicking. It lives in tasks, the top
app, because it reads every app below it."""

from dataclasses import dataclass

from django.urls import reverse

from accounts.models import User
from accounts.services import otp_is_enrolled
from devices.models import Host, HostState
from notifications.services import KINDS
from projects.models import Project
from tasks.models import Task


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    how: str  # what to do, shown while the step is open
    url: str
    done: bool


def first_run_steps(*, user: User, team_id: int | None) -> list[Step]:
    """The steps for `user` in their current team (None before they have one)."""
    in_team = team_id is not None
    paired = shared = sent = False
    if team_id is not None:
        paired = Host.objects.filter(team_id=team_id, state=HostState.ACTIVE).exists()
        live = {"host__team_id": team_id, "host__state": HostState.ACTIVE, "removed_at__isnull": True}
        shared = Project.objects.filter(**live).exists()
        sent = Task.objects.filter(team_id=team_id, created_by=user).exists()
    return [
        Step(
            "two-factor",
            "Turn on two-factor sign-in",
            "Scan a QR code with an authenticator app.",
            reverse("otp_setup"),
            otp_is_enrolled(user=user),
        ),
        Step(
            "team",
            "Create a team",
            "Even a team of one; invite others from its page.",
            reverse("team_list"),
            in_team,
        ),
        Step(
            "host",
            "Pair a host",
            "Install the agent on your workstation, pair it with this hub and approve its code.",
            reverse("host_list") + "#pair-a-host",
            paired,
        ),
        Step(
            "project",
            "Share a project",
            "On the host: codexhub-agent project add ~/code/my-app, then run the agent.",
            reverse("project_list"),
            shared,
        ),
        Step(
            "task",
            "Send a task",
            "Open a project or a file and send its host a prompt.",
            reverse("project_list"),
            sent,
        ),
        Step(
            "notifications",
            "Turn on notifications",
            "Get a notice on this phone when a task ends or an agent asks.",
            reverse("notification_settings"),
            any(model.objects.filter(user=user, active=True).exists() for model in KINDS.values()),
        ),
    ]


def first_run_checklist(*, user: User, team_id: int | None) -> dict:
    """The home page's context: the steps while any is open, nothing once all are done."""
    steps = first_run_steps(user=user, team_id=team_id)
    done = sum(step.done for step in steps)
    if done == len(steps):
        return {}
    return {"checklist": steps, "checklist_done": done}
