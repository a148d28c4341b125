"""The host's management pages (projects.manage): its executors, its shared folders with a way to
stop sharing each, a folder picker to share one more, and restarting its agent. Owners and admins
of its team only, on a host whose agent.toml allows it; the live part (`?fragment=1`) is fetched
again when the host answers."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import second_factor_required
from codexhub.errors import ServiceError
from devices.models import Host
from projects import manage
from projects.models import ManageAction, Project

PAGE = "projects/host_manage.html"
LIVE = "projects/_host_manage_live.html"
PICKER = "projects/host_folders.html"
PICKER_LIVE = "projects/_host_folders_live.html"


def _host(request, host_id: int) -> Host:
    """A host of the user's teams (404 otherwise) that they may manage (ServiceError otherwise)."""
    host = get_object_or_404(Host.objects.visible_to(request.user).select_related("team"), id=host_id)
    manage.host_manager_check(user=request.user, host=host)
    return host


@login_required
@require_GET
def host_manage(request, host_id: int):
    host = _host(request, host_id)
    template = LIVE if request.GET.get("fragment") == "1" else PAGE
    return render(request, template, _context(host))


def _context(host: Host, **extra) -> dict:
    return {
        "host": host,
        "projects": Project.objects.filter(host=host, removed_at__isnull=True).order_by("name"),
        "latest": manage.manage_latest(host=host),
        **extra,
    }


@login_required
@require_GET
def host_folders(request, host_id: int):
    """The folder picker: asks the host for its folders (at most every few seconds)."""
    host = _host(request, host_id)
    asked = manage.host_folders_request(user=request.user, host=host)
    template = PICKER_LIVE if request.GET.get("fragment") == "1" else PICKER
    return render(request, template, _picker_context(host, asked))


def _picker_context(host: Host, asked: ManageAction | None, **extra) -> dict:
    answered = manage.folders_latest(host=host)
    result = answered.result if answered is not None else {}
    roots = [
        {
            "path": root,
            "folders": [_shown(f, root) for f in result.get("folders", []) if f.get("root") == root],
        }
        for root in result.get("roots", [])
    ]
    return {
        "host": host,
        "waiting": asked is not None and asked.pending,
        "answered": answered,
        "roots": roots,
        "truncated": result.get("truncated", False),
        **extra,
    }


def _shown(folder: dict, root: str) -> dict:
    """The folder with its path below the root, as the picker shows it."""
    below = folder["path"][len(root) :].lstrip("/\\") if folder["path"].startswith(root) else folder["path"]
    return {**folder, "below": below}


@second_factor_required
@require_POST
def host_folder_add(request, host_id: int):
    host = _host(request, host_id)
    path, name = request.POST.get("path", ""), request.POST.get("name", "")
    if not name.strip() and path:
        name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    try:
        manage.host_project_add(user=request.user, host=host, path=path, name=name)
    except ServiceError as exc:
        context = _picker_context(host, None, error=exc.message, picked=path, name=name)
        return render(request, PICKER, context, status=exc.status)
    messages.success(request, f"Asked {host.name} to share {path} as {name.strip()}.")
    return redirect("host_manage", host_id=host.id)


@second_factor_required
@require_POST
def host_project_remove(request, host_id: int):
    host = _host(request, host_id)
    shared = Project.objects.filter(host=host, removed_at__isnull=True)
    project = get_object_or_404(shared, id=_int(request.POST.get("project")))
    manage.host_project_remove(user=request.user, project=project)
    messages.success(request, f"Asked {host.name} to stop sharing {project.name}.")
    return redirect("host_manage", host_id=host.id)


def _int(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 19 else 0


@second_factor_required
@require_POST
def host_restart(request, host_id: int):
    host = _host(request, host_id)
    manage.host_agent_restart(user=request.user, host=host)
    messages.success(request, f"Asked {host.name} to restart its agent.")
    return redirect("host_manage", host_id=host.id)
