import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from accounts.decorators import second_factor_required
from accounts.teams import current_membership
from codexhub.errors import ServiceError
from codexhub.http import wants_json
from devices.services import hosts_for_team
from projects.models import Project
from tasks import ansi, git, notify, selectors, services, sessions, threads
from tasks.diffview import file_diffs
from tasks.gitpanel import repo_page, task_git_panel
from tasks.models import PermissionRequest, Task, TaskState
from tasks.render import step_label, timeline_entries

TOO_MANY_TASKS = "You sent many tasks in a short time. Wait a minute, then send this one again."
TURN_STOP_ASKED = "Asked the agent to stop this turn."
SESSION_END_ASKED = "Asked the agent to end the session."


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**62 else None


@login_required
def task_list(request):
    membership = current_membership(request)
    state = request.GET.get("state", "")
    state = state if state in TaskState.values else ""
    host_id, project_id = _int(request.GET.get("host")), _int(request.GET.get("project"))
    filters = {"state": state, "host_id": host_id, "project_id": project_id}
    tasks = []
    if membership:
        found = selectors.tasks_for_team(
            team_id=membership.team_id, state=state, host_id=host_id, project_id=project_id
        )
        tasks = list(found[:100])
    context = {
        "membership": membership,
        "tasks": tasks,
        "filters": filters,
        "states": TaskState.choices,
        "hosts": hosts_for_team(team_id=membership.team_id) if membership else [],
        "filtered": any(filters.values()),
    }
    return render(request, "tasks/task_list.html", context)


@second_factor_required
def task_new(request):
    """The task form on its own page (and where the embedded forms post to)."""
    source = request.POST if request.method == "POST" else request.GET
    projects = Project.objects.visible_to(request.user).select_related("host")
    project = get_object_or_404(projects, id=_int(source.get("project")))
    form = {
        "executor": source.get("executor", ""),
        "target": source.get("target", ""),
        "prompt": source.get("prompt", ""),
        "steps": source.get("steps", ""),
        "workspace": source.get("workspace", ""),
        "base_branch": source.get("base_branch", ""),
        "model": source.get("model", ""),
        "effort": source.get("effort", ""),
    }
    if request.method != "POST":
        return _render_new(request, project, form)
    if _too_many_tasks(request):
        return _render_new(request, project, form, error=TOO_MANY_TASKS, status=429)
    try:
        task = services.task_create(user=request.user, project_id=project.id, **form)
    except ServiceError as exc:
        return _render_new(request, project, form, error=exc.message, status=exc.status)
    return redirect("task_detail", task_id=task.id)


def _too_many_tasks(request) -> bool:
    rate = settings.TASK_CREATE_RATE
    return is_ratelimited(request, group="task-create", key="user", rate=rate, method="POST", increment=True)


def _render_new(request, project, form, error="", status=200):
    context = {"project": project, "form": form, "error": error}
    return render(request, "tasks/task_new.html", context, status=status)


FRAGMENTS = {"1": "tasks/_task_live.html", "timeline": "tasks/_timeline.html", "git": "tasks/_git_panel.html"}


@login_required
@require_GET
def task_detail(request, task_id: int):
    tasks = Task.objects.visible_to(request.user).select_related("host", "project", "created_by")
    task = get_object_or_404(tasks, id=task_id)
    template = FRAGMENTS.get(request.GET.get("fragment", ""), "tasks/task_detail.html")
    if template == FRAGMENTS["timeline"] and not _timeline(task):
        raise Http404("This task has no timeline.")
    return _render_task(request, task, template)


def _timeline(task) -> str:
    """Whether the page shows a conversation: "shown" for a session, or a command task once its
    structured output (a template's JSON events) sent entries; "hidden" for a running command task
    until entries come (its output may be plain text); "" for none (a browser task, a finished
    task without entries)."""
    if task.is_session or task.items.exists():
        return "shown"
    return "hidden" if not task.finished and not task.steps else ""


def _render_task(request, task, template="tasks/task_detail.html", status=200, followup=""):
    changes = file_diffs(task.file_changes.all())
    logs = list(task.logs.all()) if template == "tasks/task_detail.html" else []
    results = {result["index"]: result for result in task.step_results}
    steps = [
        {
            "n": index + 1,
            "step": step,
            "what": step_label(step, task.executor_kind),
            "result": results.get(index),
        }
        for index, step in enumerate(task.steps)
    ]
    log_html, carry = ansi.render_all([log.text for log in logs])
    running = task.state == TaskState.RUNNING
    context = {
        "task": task,
        "steps": steps,
        # the step the host is on (its results come one by one: task.step)
        "running_step": next((s["n"] for s in steps if s["result"] is None), None) if running else None,
        "changes": changes,
        "log_html": log_html,
        "log_carry": carry.token(),  # what the page sends back for the pieces after last_seq
        "last_seq": logs[-1].seq if logs else 0,
    }
    if template != FRAGMENTS["1"]:
        context.update(task_git_panel(task=task, user=request.user))
    timeline = _timeline(task) if template != FRAGMENTS["1"] else ""
    if timeline:
        context.update(_session_context(request, task), followup=followup, timeline=timeline)
    return render(request, template, context, status=status)


def _session_context(request, task) -> dict:
    timeline = selectors.task_timeline(task=task)
    items, permissions = timeline["items"], timeline["permissions"]
    pending = any(permission.pending for permission in permissions)
    return {
        "entries": timeline_entries(items, permissions),
        "waiting": timeline["waiting"],
        "prompt_shown": any(i.kind == "user" and i.data.get("message_id") is None for i in items),
        "can_answer": sessions.may_answer(user=request.user, host=task.host),
        "session_status": _session_status(task, pending),
    }


def _session_status(task, pending: bool) -> tuple[str, str]:
    """(key, words) for the line under the timeline."""
    if task.finished or task.session_state == "ended":
        return "ended", "Ended"
    if task.end_requested_at:
        return "ending", "Ending…"
    if pending:
        return "answer", "Waiting for your answer"
    if task.state != TaskState.RUNNING:
        return "starting", "Starting…"
    if task.session_state == "working":
        return "working", "Working…"
    return "waiting", "Waiting for your message"


@login_required
@require_GET
def task_log(request, task_id: int):
    """Log pieces after `after`, as HTML (colours as classes), each rendered after what came before:
    `carry` is what the page was handed with the piece at `after`. The page asks again on every
    event and reconnect."""
    task = get_object_or_404(Task.objects.visible_to(request.user), id=task_id)
    after = _int(request.GET.get("after")) or 0
    carry = ansi.Carry.from_token(request.GET.get("carry", ""))
    chunks = []
    for log in selectors.task_log_after(task=task, after=after):
        html, carry = ansi.render(log.text, carry)
        chunks.append({"seq": log.seq, "html": html})
    state = {"state": task.state, "finished": task.finished, "chunks": chunks, "carry": carry.token()}
    return JsonResponse(state)


@second_factor_required
@require_POST
def task_cancel(request, task_id: int):
    task = get_object_or_404(Task.objects.visible_to(request.user), id=task_id)
    try:
        services.task_cancel(task=task, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return _render_task(request, task, status=exc.status)
    done = task.state == TaskState.CANCELLED
    messages.success(request, "Cancelled." if done else "Asked the host to stop it.")
    return redirect("task_detail", task_id=task.id)


@second_factor_required
@require_POST
def task_rerun(request, task_id: int):
    task = get_object_or_404(Task.objects.visible_to(request.user), id=task_id)
    if _too_many_tasks(request):
        messages.error(request, TOO_MANY_TASKS)
        return _render_task(request, task, status=429)
    try:
        new = services.task_rerun(user=request.user, task=task)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return _render_task(request, task, status=exc.status)
    return redirect("task_detail", task_id=new.id)


@login_required
@require_GET
def task_artifact(request, task_id: int, name: str):
    """A screenshot or PDF, to the task's team only; never rendered as a page."""
    task = get_object_or_404(Task.objects.visible_to(request.user), id=task_id)
    artifact = get_object_or_404(task.artifacts, name=name)
    response = HttpResponse(bytes(artifact.data), content_type=artifact.content_type)
    disposition = "inline" if artifact.content_type == "image/png" else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="task-{task.id}-{artifact.name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def project_screen(request, project_id: int):
    """The task form's "Pick on screen": the newest screenshot of the project's host's screen
    through the computer executor `?executor=` (served by task_artifact), or how to get one."""
    projects = Project.objects.visible_to(request.user).select_related("host")
    project = get_object_or_404(projects, id=project_id)
    executor = selectors.computer_executor(host=project.host, name=request.GET.get("executor", ""))
    if executor is None:
        raise Http404("This host has no such desktop executor.")
    shot = selectors.desktop_screenshot_latest(host=project.host, executor=executor["name"])
    context = {"host": project.host, "executor": executor, "shot": shot}
    return render(request, "tasks/_screen_pick.html", context)


# Agent sessions and git decisions ---------------------------------------------------------


def _session_verb(request, task_id: int, verb, *, success: str = "", followup: str = "", **fields):
    """Call a task verb (user=, task=, **fields) on a task the user sees; JSON
    callers get {"ok": true} or the refusal, pages a redirect or the task page."""
    task = get_object_or_404(Task.objects.visible_to(request.user), id=task_id)
    try:
        verb(user=request.user, task=task, **fields)
    except ServiceError as exc:
        if wants_json(request):
            return JsonResponse({"error": exc.message}, status=exc.status)
        messages.error(request, exc.message)
        task.refresh_from_db()
        return _render_task(request, task, status=exc.status, followup=followup)
    if wants_json(request):
        return JsonResponse({"ok": True})
    if success:
        messages.success(request, success)
    return redirect("task_detail", task_id=task.id)


@second_factor_required
@require_POST
def task_permission_answer(request, task_id: int, permission_id: int):
    def answer(*, user, task):
        permissions = PermissionRequest.objects.select_related("task__host")
        permission = get_object_or_404(permissions, id=permission_id, task=task)
        sessions.permission_answer(user=user, request=permission, option_id=request.POST.get("option_id"))

    return _session_verb(request, task_id, answer)


@second_factor_required
@require_POST
def task_message(request, task_id: int):
    text = request.POST.get("text", "")
    return _session_verb(request, task_id, sessions.task_message_send, text=text, followup=text)


@second_factor_required
@require_POST
def task_interrupt(request, task_id: int):
    return _session_verb(request, task_id, sessions.task_interrupt, success=TURN_STOP_ASKED)


@second_factor_required
@require_POST
def task_end(request, task_id: int):
    return _session_verb(request, task_id, sessions.task_end, success=SESSION_END_ASKED)


GIT_VERBS = {
    "commit": (git.git_commit, ("message",), "Asked {host} to commit."),
    "merge": (git.git_merge, (), "Asked {host} to merge."),
    "push": (git.git_push, ("remote",), "Asked {host} to push."),
    "pull-request": (git.git_pull_request, (), "Asked {host} to open the pull request."),
    "discard": (git.git_discard, (), "Asked {host} to discard the changes."),
}


@second_factor_required
@require_POST
def task_git(request, task_id: int, action: str):
    """A decision on the task's chain (tasks.git): sent to the host, shown as waiting."""
    if action not in GIT_VERBS:
        raise Http404("No such decision.")
    verb, field_names, success = GIT_VERBS[action]
    fields = {name: request.POST.get(name, "") for name in field_names}
    host = (
        Task.objects.visible_to(request.user).filter(id=task_id).values_list("host__name", flat=True).first()
    )
    return _session_verb(request, task_id, verb, success=success.format(host=host), **fields)


@second_factor_required
@require_POST
def task_continue(request, task_id: int):
    """A follow-up task in the chain's worktree; its page next."""
    task = get_object_or_404(Task.objects.visible_to(request.user).select_related("host"), id=task_id)
    prompt = request.POST.get("prompt", "")
    try:
        if _too_many_tasks(request):
            raise ServiceError(TOO_MANY_TASKS, status=429)
        new = git.task_continue(
            user=request.user, task=task, prompt=prompt, executor=request.POST.get("executor")
        )
    except ServiceError as exc:
        if wants_json(request):
            return JsonResponse({"error": exc.message}, status=exc.status)
        messages.error(request, exc.message)
        return _render_task(request, task, status=exc.status)
    if wants_json(request):
        return JsonResponse({"ok": True, "task": new.id, "url": reverse("task_detail", args=[new.id])})
    return redirect("task_detail", task_id=new.id)


@second_factor_required
@require_http_methods(["GET", "POST"])
def task_resume(request, task_id: int):
    """What to tell the thread next (GET); a new task continuing this finished task's Codex
    thread (tasks.threads), its page next (POST)."""
    task = get_object_or_404(Task.objects.visible_to(request.user).select_related("host"), id=task_id)
    prompt, error, status = request.POST.get("prompt", ""), "", 200
    if request.method == "POST":
        try:
            if _too_many_tasks(request):
                raise ServiceError(TOO_MANY_TASKS, status=429)
            new = threads.thread_resume(user=request.user, task=task, prompt=prompt)
            return redirect("task_detail", task_id=new.id)
        except ServiceError as exc:
            error, status = exc.message, exc.status
    context = {"task": task, "prompt": prompt, "error": error}
    return render(request, "tasks/task_resume.html", context, status=status)


@login_required
@require_GET
def project_repo(request, project_id: int):
    """A git project's repository: asks its host for the state (at most one request at a
    time, tasks.git.repo_state_request), shows the last one; `?fragment=1` its live part."""
    projects = Project.objects.visible_to(request.user).select_related("host")
    project = get_object_or_404(projects, id=project_id)
    asked = git.repo_state_request(user=request.user, project=project) if project.is_git else None
    context = repo_page(project=project, asked=asked)
    template = "tasks/_repo_live.html" if request.GET.get("fragment") == "1" else "tasks/project_repo.html"
    return render(request, template, context)


# A permission notification's buttons ------------------------------------------------------


SIGN_IN_TO_ANSWER = "Sign in to answer: open the task."
SEND_JSON = "Send a JSON object of at most 8 KiB with Content-Type: application/json."


@csrf_exempt  # the signed token is bound to this user and this answer: no page can forge it
@require_POST
def api_permission_answer(request):
    """{"token": "..."} from an Allow / Reject button of a permission notification
    (tasks.notify.permission_message); a refusal is answered as JSON by the middleware."""
    if not request.user.is_authenticated:
        raise ServiceError(SIGN_IN_TO_ANSWER, status=401)
    body = _json_object(request)
    request_id, option_id = notify.answer_from_token(user=request.user, token=body.get("token"))
    permission = PermissionRequest.objects.filter(
        id=request_id, task__team__memberships__user=request.user
    ).first()
    if permission is None:
        raise ServiceError(sessions.NO_SUCH_REQUEST, status=404)
    permission = sessions.permission_answer(user=request.user, request=permission, option_id=option_id)
    return JsonResponse({"ok": True, "task": permission.task_id, "option_id": option_id})


def _json_object(request) -> dict:
    if request.content_type != "application/json" or len(request.body) > 8 * 1024:
        raise ServiceError(SEND_JSON)
    try:
        body = json.loads(request.body)
    except ValueError:
        raise ServiceError(SEND_JSON) from None
    if not isinstance(body, dict):
        raise ServiceError(SEND_JSON)
    return body
