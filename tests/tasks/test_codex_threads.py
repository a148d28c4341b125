"""Codex threads on the hub (docs/protocol.md, "Codex threads"): the thread a codex task
reports, Resume from the task page, and the host's threads page (asked of the host, answered
on stream `codex`) with a thread resumed as a task of its project. Hostile: another team's
task or host (404), a thread the host did not list or of no shared project (refused, nothing
started)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from devices.models import Host
from tasks.messages import assignment
from tasks.models import CodexThreadList, Task, TaskState
from tasks.threads import NO_THREAD, NOT_CODEX, NOT_IN_A_PROJECT, NOT_LISTED
from tests.kits.common import SequencedStream, make_host, page_text
from tests.kits.sessions import ringing, to_host
from tests.kits.task_stream import CLAUDE, TaskStream, make_task, offering, shared_project

pytestmark = pytest.mark.django_db

CODEX = {"name": "codex", "label": "Codex", "kind": "codex", "needs_file": False}
THREAD = "01a24ce8-9eb6-7943-aa24-0f2a475f435a"
DESK_THREAD = "01a24ce9-1111-7000-8000-000000000001"
OUTSIDE_THREAD = "01a24ce9-2222-7000-8000-000000000002"


class CodexStream(SequencedStream):
    name = "codex"

    def threads(self, request: str, threads: list[dict], ok: bool = True, error=None):
        payload = {"request": request, "ok": ok, "error": error, "threads": threads}
        return self.send("codex.threads", payload)


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return shared_project(offering(host, CODEX, CLAUDE))


def online(host: Host) -> None:
    Host.objects.filter(id=host.id).update(link_channel="specific.x", last_seen_at=timezone.now())
    host.refresh_from_db()


def codex_task(project, user, **fields) -> Task:
    values = {"executor": "codex", "executor_label": "Codex", "session_state": "ended", "thread_id": THREAD}
    values.update(state=TaskState.SUCCEEDED, finished_at=timezone.now())
    values.update(fields)
    return make_task(project, user, **values)


def thread(thread_id: str, cwd: str, project: str | None, preview: str = "Add milk") -> dict:
    return {
        "id": thread_id,
        "cwd": cwd,
        "preview": preview,
        "updated_at": 1796586643,
        "source": "cli",
        "project": project,
    }


# The thread a task reports -----------------------------------------------------------------------


def test_the_thread_a_codex_task_reports_is_kept_and_shown(alice_client, project, alice):
    task = make_task(project, alice, executor="codex", state=TaskState.RUNNING, session_state="working")
    stream = TaskStream(project.host_id)
    with ringing() as sent:
        result = stream.send("task.thread", {"task_id": task.id, "thread_id": THREAD})
    task.refresh_from_db()
    assert result.outcome == "applied" and task.thread_id == THREAD
    assert ("task." + str(task.id), {"type": "task.changed", "task": task.id, "state": "running"}) in sent
    page = page_text(alice_client.get(reverse("task_detail", args=[task.id])))
    assert "Codex thread" in page and THREAD[:10] in page
    assert "Resume this Codex thread" not in page  # still running


def test_a_thread_id_that_is_not_one_is_refused(project, alice):
    task = make_task(project, alice, executor="codex", state=TaskState.RUNNING, session_state="working")
    result = TaskStream(project.host_id).send("task.thread", {"task_id": task.id, "thread_id": "../x y"})
    task.refresh_from_db()
    assert result.outcome == "rejected" and task.thread_id == ""


# Resume from the task page -----------------------------------------------------------------------


def resume(client, task, prompt="Now add bread"):
    return client.post(reverse("task_resume", args=[task.id]), {"prompt": prompt})


def test_resume_starts_a_task_that_continues_the_thread(alice_client, project, alice, dispatched):
    task = codex_task(project, alice)
    page = page_text(alice_client.get(reverse("task_detail", args=[task.id])))
    assert f'href="{reverse("task_resume", args=[task.id])}"' in page
    form = page_text(alice_client.get(reverse("task_resume", args=[task.id])))
    assert "What should Codex do next?" in form and "Tidy the README" in form
    response = resume(alice_client, task)
    new = Task.objects.exclude(id=task.id).get()
    assert response.status_code == 302 and response["Location"] == reverse("task_detail", args=[new.id])
    assert (new.executor, new.prompt, new.resume_thread, new.resumed_from) == (
        "codex",
        "Now add bread",
        THREAD,
        task,
    )
    assert new.session_state == "working" and dispatched == [project.host_id]
    assert assignment(new)["resume_thread"] == THREAD
    page = page_text(alice_client.get(reverse("task_detail", args=[new.id])))
    assert "resumes" in page and f'">task {task.id}</a>' in page


def test_resume_is_refused_without_a_thread_or_for_another_agent(alice_client, project, alice):
    no_thread = codex_task(project, alice, thread_id="")
    claude = codex_task(project, alice, executor="claude", executor_label="Claude Code")
    running = codex_task(project, alice, state=TaskState.RUNNING, finished_at=None)
    assert resume(alice_client, no_thread).status_code == 409
    response = resume(alice_client, claude)
    assert response.status_code == 409
    assert NOT_CODEX.format(label="Claude Code") in page_text(response)
    assert resume(alice_client, running).status_code == 409
    assert NO_THREAD in page_text(resume(alice_client, no_thread))
    assert Task.objects.count() == 3  # nothing started


def test_another_teams_task_cannot_be_resumed(client, charlie, project, alice):
    from tests.kits.common import login

    task = codex_task(project, alice)
    response = resume(login(client, charlie), task)
    assert response.status_code == 404
    assert Task.objects.count() == 1


# The host's threads ---------------------------------------------------------------------------------


def open_threads(client, host, **params):
    return client.get(reverse("host_codex_threads", args=[host.id]), params)


def test_the_page_asks_the_host_and_shows_what_it_answers(alice_client, project):
    host = project.host
    online(host)
    with ringing() as sent:
        page = page_text(open_threads(alice_client, host))
    [asked] = to_host(sent, host.id)
    listing = CodexThreadList.objects.get()
    assert asked == {"type": "codex.threads", "request": listing.request, "executor": "codex"}
    assert "Asking Studio for its threads" in page
    with ringing() as sent:
        open_threads(alice_client, host)
    assert to_host(sent, host.id) == []  # one request at a time
    with ringing() as sent:
        CodexStream(host.id).threads(
            listing.request,
            [
                thread(DESK_THREAD, "/home/a/docs", "docs", "Fix the <b>title</b>"),
                thread(OUTSIDE_THREAD, "/home/a/secret", None, "Elsewhere"),
            ],
        )
    assert ("team." + str(host.team_id), {"type": "codex.threads", "host": host.id}) in sent
    page = page_text(open_threads(alice_client, host, fragment="1"))
    assert "Fix the <b>title</b>" in page  # escaped: shown as text
    assert "/home/a/secret" in page and "not in a shared project" in page
    assert page.count('name="thread"') == 1 and f'value="{DESK_THREAD}"' in page


def test_a_listed_thread_is_resumed_as_a_task_of_its_project(alice_client, project, alice, dispatched):
    host = project.host
    listing = answered(host, [thread(DESK_THREAD, "/home/a/docs", "docs")])
    response = alice_client.post(
        reverse("host_codex_resume", args=[host.id]), {"thread": DESK_THREAD, "prompt": "Carry on"}
    )
    task = Task.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("task_detail", args=[task.id])
    assert (task.project, task.executor, task.resume_thread, task.workspace) == (
        project,
        "codex",
        DESK_THREAD,
        "working_copy",
    )
    assert task.resumed_from is None and listing.ok


def answered(host, threads) -> CodexThreadList:
    return CodexThreadList.objects.create(
        team_id=host.team_id,
        host=host,
        executor="codex",
        request="r" * 32,
        ok=True,
        threads=threads,
        finished_at=timezone.now(),
    )


@pytest.mark.parametrize(
    ("thread_id", "message", "status"),
    [
        ("01a24ce9-9999-7000-8000-000000000009", NOT_LISTED.format(host="Studio"), 404),
        (OUTSIDE_THREAD, NOT_IN_A_PROJECT.format(cwd="/home/a/secret", host="Studio"), 400),
        ("", NOT_LISTED.format(host="Studio"), 404),
    ],
)
def test_a_thread_not_listed_or_of_no_shared_project_is_refused(
    alice_client, project, thread_id, message, status
):
    host = project.host
    answered(
        host, [thread(DESK_THREAD, "/home/a/docs", "docs"), thread(OUTSIDE_THREAD, "/home/a/secret", None)]
    )
    response = alice_client.post(
        reverse("host_codex_resume", args=[host.id]), {"thread": thread_id, "prompt": "Carry on"}
    )
    assert response.status_code == status
    assert message in page_text(response)
    assert Task.objects.count() == 0


def test_another_teams_host_threads_are_not_found(client, charlie, project):
    from tests.kits.common import login

    host = project.host
    answered(host, [thread(DESK_THREAD, "/home/a/docs", "docs")])
    charlie_client = login(client, charlie)
    assert open_threads(charlie_client, host).status_code == 404
    response = charlie_client.post(
        reverse("host_codex_resume", args=[host.id]), {"thread": DESK_THREAD, "prompt": "Carry on"}
    )
    assert response.status_code == 404 and Task.objects.count() == 0


def test_an_answer_for_another_host_or_a_second_time_changes_nothing(project, team_a):
    host = project.host
    other, _ = make_host(team_a, "Laptop")
    listing = CodexThreadList.objects.create(
        team_id=host.team_id, host=host, executor="codex", request="q" * 32
    )
    CodexStream(other.id).threads(listing.request, [thread(DESK_THREAD, "/x", "docs")])
    listing.refresh_from_db()
    assert listing.pending and listing.threads == []
    CodexStream(host.id).threads(listing.request, [], ok=False, error="codex 0.172.0 is not a version...")
    CodexStream(host.id).threads(listing.request, [thread(DESK_THREAD, "/x", "docs")])
    listing.refresh_from_db()
    assert (listing.ok, listing.error, listing.threads) == (False, "codex 0.172.0 is not a version...", [])


CODEX_TWO = {"name": "codex-work", "label": "Codex (work)", "kind": "codex", "needs_file": False}


def test_each_codex_of_the_host_lists_its_own_threads(alice_client, project, alice, dispatched):
    host = offering(project.host, CODEX, CODEX_TWO)
    online(host)
    with ringing() as sent:
        page = page_text(open_threads(alice_client, host, executor="codex-work"))
    [asked] = to_host(sent, host.id)
    assert asked["executor"] == "codex-work"
    assert 'href="?executor=codex"' in page and 'href="?executor=codex-work" aria-current="page"' in page
    answered(host, [thread(DESK_THREAD, "/home/a/docs", "docs")])  # the first codex's list
    CodexStream(host.id).threads(asked["request"], [thread(THREAD, "/home/a/docs", "docs", "Work thread")])
    page = page_text(open_threads(alice_client, host, executor="codex-work", fragment="1"))
    assert "Work thread" in page and DESK_THREAD not in page
    assert 'name="executor" value="codex-work"' in page

    resume = reverse("host_codex_resume", args=[host.id])
    refused = alice_client.post(resume, {"thread": DESK_THREAD, "prompt": "Go", "executor": "codex-work"})
    assert refused.status_code == 404 and Task.objects.count() == 0  # listed by the other codex only
    alice_client.post(resume, {"thread": THREAD, "prompt": "Go", "executor": "codex-work"})
    assert Task.objects.get().executor == "codex-work"


@pytest.mark.parametrize("name", ["nope", "claude", "codex\x00", "x" * 300])
def test_a_codex_the_host_does_not_offer_is_not_found_and_nothing_is_asked(alice_client, project, name):
    host = project.host
    online(host)
    with ringing() as sent:
        response = open_threads(alice_client, host, executor=name)
    assert response.status_code == 404 and "offers no Codex executor named" in page_text(response)
    assert to_host(sent, host.id) == [] and CodexThreadList.objects.count() == 0
    answered(host, [thread(DESK_THREAD, "/home/a/docs", "docs")])
    resumed = alice_client.post(
        reverse("host_codex_resume", args=[host.id]),
        {"thread": DESK_THREAD, "prompt": "Go", "executor": name},
    )
    assert resumed.status_code == 404 and Task.objects.count() == 0


def test_an_offline_host_is_asked_when_its_link_opens_again(alice_client, project, time_machine):
    from devices.hooks import link_open_messages
    from tasks.threads import LIST_RESEND

    host = project.host
    with ringing() as sent:
        page = page_text(open_threads(alice_client, host))
    assert to_host(sent, host.id) == []
    assert "Studio is offline: it is asked for its threads when it is back." in page
    listing = CodexThreadList.objects.get()
    assert listing.pending

    asked = {"type": "codex.threads", "request": listing.request, "executor": "codex"}
    assert asked in link_open_messages(host_id=host.id)
    CodexStream(host.id).threads(listing.request, [thread(DESK_THREAD, "/home/a/docs", "docs")])
    assert asked not in link_open_messages(host_id=host.id)  # answered: not asked again

    later = CodexThreadList.objects.create(
        team_id=host.team_id, host=host, executor="codex", request="s" * 32
    )
    time_machine.move_to(later.created_at + timedelta(seconds=LIST_RESEND + 1))
    assert [m for m in link_open_messages(host_id=host.id) if m["request"] == later.request] == []
