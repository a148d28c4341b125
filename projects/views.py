from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from accounts.teams import current_membership
from devices.services import hosts_for_team
from projects import services
from projects.images import page_place
from projects.models import Entry, EntryKind, Project
from projects.render import code_render, file_type, is_markdown, markdown_render


def _fragment(request) -> bool:
    """Live pages re-fetch only their changing part, as HTML rendered here."""
    return request.GET.get("fragment") == "1"


@login_required
def project_list(request):
    membership = current_membership(request)
    groups = []
    if membership:
        projects = list(services.projects_for_team(team_id=membership.team_id))
        for host in hosts_for_team(team_id=membership.team_id):
            groups.append({"host": host, "projects": [p for p in projects if p.host_id == host.id]})
    template = "projects/_project_groups.html" if _fragment(request) else "projects/project_list.html"
    return render(request, template, {"membership": membership, "groups": groups})


def _visible_project(request, project_id: int) -> Project:
    projects = Project.objects.visible_to(request.user).select_related("host", "host__team")
    return get_object_or_404(projects, id=project_id)


@login_required
def project_detail(request, project_id: int):
    project = _visible_project(request, project_id)
    context = {
        "project": project,
        "tree": services.project_tree(project=project),
        "changes": project.changes.all()[:20],
        "entry_count": project.entries.count(),
        "tasks": project.tasks.select_related("host", "project")[:5],
    }
    template = "projects/_project_live.html" if _fragment(request) else "projects/project_detail.html"
    return render(request, template, context)


@login_required
def file_detail(request, project_id: int, path: str):
    project = _visible_project(request, project_id)
    entry = services.entry_get(project=project, path=path)
    context = {
        "project": project,
        "entry": entry,
        "crumbs": _crumbs(entry.path),
        "body": _body(entry),
        "file_type": file_type(entry.path),
    }
    template = "projects/_file_live.html" if _fragment(request) else "projects/file_detail.html"
    return render(request, template, context)


def _body(entry: Entry):
    if entry.kind != EntryKind.FILE or entry.text is None:
        return None
    if is_markdown(entry.path):
        place = page_place(project=entry.project, path=entry.path)
        return {"kind": "markdown", "rendered": markdown_render(text=entry.text, place=place)}
    return {"kind": "code", "rendered": code_render(path=entry.path, text=entry.text)}


def _crumbs(path: str) -> list[str]:
    return path.split("/")[:-1]
