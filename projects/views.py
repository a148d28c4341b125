from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render

from accounts.teams import current_membership
from codexhub.errors import ServiceError
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
    """The project: its tasks, its top folder, a search, its recent changes."""
    project = _visible_project(request, project_id)
    if request.GET.get("fragment") == "changes":
        return render(request, "projects/_project_live.html", _summary(project))
    return _folder_page(request, project, "")


@login_required
def folder_detail(request, project_id: int, path: str):
    project = _visible_project(request, project_id)
    folder = services.folder_get(project=project, path=path)
    if folder == "":
        return redirect("project_detail", project.id)
    return _folder_page(request, project, folder)


ROW_NAMES = 50  # rows a live page asks for at once; past that it fetches its page of the folder
TOO_MANY_ROWS = f"Ask for at most {ROW_NAMES} rows."


def _folder_page(request, project: Project, folder: str):
    """A folder's page of entries; `?fragment=1` the listing alone, `?fragment=rows&name=...`
    the rows of these entries (those that exist), for a live page to patch."""
    part = request.GET.get("fragment")
    if part == "rows":
        names = request.GET.getlist("name")
        if len(names) > ROW_NAMES:
            raise ServiceError(TOO_MANY_ROWS, 400)
        rows = services.folder_rows(project=project, folder=folder, names=names)
        return render(request, "projects/_entry_rows.html", {"project": project, "entries": rows})
    listing = services.folder_list(project=project, folder=folder, page=_page_number(request))
    context = {"project": project, "listing": listing, "folder": folder}
    if part == "1":
        return render(request, "projects/_folder_listing.html", context)
    if folder:
        context["crumbs"] = _crumbs(folder)
        context["name"] = folder.rpartition("/")[2]
        return render(request, "projects/folder_detail.html", context)
    context.update(_summary(project), tasks=project.tasks.select_related("host", "project")[:5])
    return render(request, "projects/project_detail.html", context)


def _summary(project: Project) -> dict:
    return {
        "project": project,
        "changes": project.changes.all()[:20],
        "file_count": services.file_count(project=project),
    }


def _page_number(request) -> int:
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 9 else 1


@login_required
def project_search(request, project_id: int):
    project = _visible_project(request, project_id)
    query = request.GET.get("q", "")
    results, more = services.entries_search(project=project, query=query)
    context = {"project": project, "query": query.strip(), "results": results, "more": more}
    context["limit"] = services.SEARCH_RESULTS
    return render(request, "projects/search.html", context)


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


def _crumbs(path: str) -> list[dict[str, str]]:
    """The folders above `path`, from the top, each with its own path (for its link)."""
    parts = path.split("/")[:-1]
    return [{"name": name, "path": "/".join(parts[: n + 1])} for n, name in enumerate(parts)]
