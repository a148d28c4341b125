"""What tasks plugs into devices (devices.hooks), registered in TasksConfig.ready."""

from devices.hooks import on_home, on_host_list, on_link_open, on_live_frame
from tasks.checklist import first_run_checklist
from tasks.git import git_resends
from tasks.live import frame_group
from tasks.models import FINISHED_STATES, LIVE_STATES
from tasks.selectors import tasks_for_team
from tasks.services import link_assignments
from tasks.threads import codex_threads_resends


def task_overview(*, team_id: int) -> dict:
    """The home page shows what runs now and the latest results."""
    tasks = tasks_for_team(team_id=team_id)
    return {
        "running": tasks.filter(state__in=LIVE_STATES)[:5],
        "latest": tasks.filter(state__in=FINISHED_STATES)[:5],
    }


def register() -> None:
    on_link_open(link_assignments)  # a host that links again gets the work it missed
    on_link_open(git_resends)  # ... and the git decisions it has not answered
    on_link_open(codex_threads_resends)  # ... and the thread lists a page waits for
    on_host_list(task_overview)
    on_home(first_run_checklist)  # the first-run checklist, while a step remains
    on_live_frame(frame_group)  # a host's live frame goes to its running computer task's pages
