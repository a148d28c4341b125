"""The host's Codex threads page (tasks.threads): the threads the host listed last, asked
again when the page opens, each one of a shared project with a Resume form."""

from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import second_factor_required
from codexhub.errors import ServiceError
from devices.models import Host
from projects.models import Project
from tasks import threads
from tasks.models import CodexThreadList
from tasks.views import TOO_MANY_TASKS, _too_many_tasks

PAGE = "tasks/host_codex_threads.html"
LIVE = "tasks/_codex_threads_live.html"


def _host(request, host_id: int) -> Host:
    return get_object_or_404(Host.objects.visible_to(request.user).select_related("team"), id=host_id)


@login_required
@require_GET
def host_codex_threads(request, host_id: int):
    """`?executor=NAME`: that codex's threads (the host's first codex otherwise);
    `?fragment=1`: the live part, fetched again when the host's answer arrives."""
    host = _host(request, host_id)
    executor = request.GET.get("executor", "")
    try:
        asked = threads.codex_threads_request(user=request.user, host=host, executor=executor)
    except ServiceError as exc:
        return render(request, PAGE, _context(host, None, "", error=exc.message), status=exc.status)
    template = LIVE if request.GET.get("fragment") == "1" else PAGE
    return render(request, template, _context(host, asked, asked.executor if asked else ""))


def _context(host: Host, asked: CodexThreadList | None, executor: str, **extra) -> dict:
    lists = CodexThreadList.objects.filter(host=host, executor=executor, finished_at__isnull=False)
    answered = lists.order_by("-id").first()
    projects = dict(Project.objects.filter(host=host, removed_at__isnull=True).values_list("name", "id"))
    rows = [
        {**thread, "project_id": projects.get(thread.get("project") or ""), "updated": _moment(thread)}
        for thread in (answered.threads if answered is not None and answered.ok else [])
    ]
    return {
        "host": host,
        "codexes": threads.codex_executors(host),
        "executor": executor,
        "offers_codex": bool(threads.codex_executors(host)),
        "waiting": asked is not None and asked.pending,
        "answered": answered,
        "threads": rows,
        **extra,
    }


def _moment(thread: dict) -> datetime | None:
    seconds = thread.get("updated_at")
    return datetime.fromtimestamp(seconds, tz=UTC) if isinstance(seconds, int) and seconds > 0 else None


@second_factor_required
@require_POST
def host_codex_resume(request, host_id: int):
    """Resume one of the listed threads as a task of its project; its page next."""
    host = _host(request, host_id)
    thread_id, prompt = request.POST.get("thread", ""), request.POST.get("prompt", "")
    executor = request.POST.get("executor", "")
    try:
        if _too_many_tasks(request):
            raise ServiceError(TOO_MANY_TASKS, status=429)
        task = threads.host_thread_resume(
            user=request.user, host=host, thread_id=thread_id, prompt=prompt, executor=executor
        )
    except ServiceError as exc:
        known = {e["name"] for e in threads.codex_executors(host)}
        shown = executor if executor in known else ""
        context = _context(host, None, shown, error=exc.message, error_thread=thread_id, prompt=prompt)
        return render(request, PAGE, context, status=exc.status)
    return redirect("task_detail", task_id=task.id)
