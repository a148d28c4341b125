"""The images a project's Markdown shows: what each becomes on the page, and
the bytes, fetched from the host on demand (docs/protocol.md, "Files on
request") and kept by the hash of their content (FileFetch).

Only an image of the mirror is ever asked for: a file entry (so not ignored,
not under .git, not a symlink), with an image's name, at most MAX_FETCH
bytes. The host checks all of it again. A request not answered within
FETCH_RETRY is asked again; a refusal is believed for REFUSED_FOR.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from codexhub.errors import ServiceError
from codexhub.events import group_send_on_commit
from devices.models import Host
from devices.services import host_group
from projects.models import Entry, EntryKind, FileFetch, Project
from projects.paths import InvalidPath, mirror_path, path_hash
from projects.render import ID_PREFIX, Image, Place, is_markdown
from protocol.limits import FETCH_REFUSALS, FETCH_REQUEST, MAX_FETCH

# What the hub serves, by the file's name; nothing else is asked of a host.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".bmp": "image/bmp",
    ".ico": "image/vnd.microsoft.icon",
    ".svg": "image/svg+xml",
}
FETCH_WAIT = 10.0  # seconds the image's request waits for the host's answer
FETCH_POLL = 0.2  # seconds between looks at the answer
FETCH_RETRY = timedelta(seconds=30)
REFUSED_FOR = timedelta(seconds=60)

NOT_AN_IMAGE = "not an image"
NOT_IN_PROJECT = "not in this project"
TOO_LARGE = "larger than the {limit} MB the hub shows"
HOST_OFFLINE = "{host} is offline"
NO_SUCH_IMAGE = "No such image in this project."
IMAGE_TOO_LARGE = f"The image is larger than the {MAX_FETCH // 1024 // 1024} MB the hub shows."
HOST_IS_OFFLINE = "The host is offline: the image can be shown once it is back."
HOST_TOO_SLOW = "The host did not send the image in time. Reload to try again."
REFUSAL_TEXT = {
    "unknown_project": "The host no longer shares this project.",
    "missing": "The file is no longer on the host.",
    "ignored": "The host does not share this file.",
    "not_a_file": "This is not a regular file on the host.",
    "too_large": IMAGE_TOO_LARGE,
    "unreadable": "The host could not read the file.",
}
UNKNOWN_REQUEST = "No such request of this host."
ALREADY_ANSWERED = "This request was answered already."
BAD_SIZE = f"Send the file as the body, at most {MAX_FETCH // 1024 // 1024} MiB, with its Content-Length."


def image_type(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1].lower()
    dot = name.rfind(".")
    return IMAGE_TYPES.get(name[dot:]) if dot > 0 else None


def _image_entries(project: Project, paths: list[str]) -> dict[str, Entry]:
    hashes = []
    for path in paths:
        try:
            hashes.append(path_hash(mirror_path(path)))
        except InvalidPath:
            continue
    found = project.entries.filter(path_hash__in=hashes, kind=EntryKind.FILE).only("path", "size", "hash")
    return {entry.path: entry for entry in found}


def images_for_page(*, project: Project, paths: list[str]) -> dict[str, Image]:
    """How each relative image of a file of `project` is shown: from the hub's
    raw view, or as its alt text with why not (two queries for the lot)."""
    entries = _image_entries(project, paths)
    hashes = {entry.hash for entry in entries.values() if entry.hash}
    stored = FileFetch.objects.filter(hash__in=hashes, data__isnull=False)
    kept = set(stored.values_list("hash", flat=True).distinct())
    online = project.host.online
    shown: dict[str, Image] = {}
    for path in paths:
        entry = entries.get(path)
        if image_type(path) is None:
            shown[path] = Image(note=NOT_AN_IMAGE if entry else NOT_IN_PROJECT)
        elif entry is None:
            shown[path] = Image(note=NOT_IN_PROJECT)
        elif (entry.size or 0) > MAX_FETCH:
            shown[path] = Image(note=TOO_LARGE.format(limit=MAX_FETCH // 1024 // 1024))
        elif entry.hash not in kept and not online:
            shown[path] = Image(note=HOST_OFFLINE.format(host=project.host.name))
        else:
            shown[path] = Image(url=reverse("project_raw", args=[project.id, path]))
    return shown


def image_entry(*, project: Project, path: str) -> tuple[Entry, str]:
    """The image at `path` and its content type; raises ServiceError 404 or 413."""
    content_type = image_type(path)
    entry = _image_entries(project, [path]).get(path)
    if content_type is None or entry is None:
        raise ServiceError(NO_SUCH_IMAGE, 404)
    if (entry.size or 0) > MAX_FETCH:
        raise ServiceError(IMAGE_TOO_LARGE, 413)
    return entry, content_type


def fetch_find(*, project: Project, entry: Entry) -> FileFetch | None:
    """What the hub has or awaits for this image: bytes of the same content
    (from any fetch), else this path's latest answer or request still in time."""
    if entry.hash:
        kept = FileFetch.objects.filter(hash=entry.hash, data__isnull=False).first()
        if kept is not None:
            return kept
    now = timezone.now()
    recent = Q(answered_at__isnull=True, requested_at__gt=now - FETCH_RETRY) | Q(
        answered_at__gt=now - REFUSED_FOR
    )
    return (
        FileFetch.objects.filter(recent, project=project, path_hash=entry.path_hash)
        .defer("data")
        .order_by("-id")
        .first()
    )


def fetch_start(*, project: Project, entry: Entry) -> FileFetch:
    """Ask the host for the file's bytes (sent once the transaction commits)."""
    fetch = FileFetch.objects.create(
        project=project, path=entry.path, path_hash=entry.path_hash, request=secrets.token_urlsafe(24)
    )
    message = {
        "type": "file.fetch",
        "request": fetch.request,
        "project": project.name,
        "path": entry.path,
        "max_size": MAX_FETCH,
    }
    group_send_on_commit(host_group(project.host_id), message)
    return fetch


def _request_of_host(host: Host, request: str) -> FileFetch:
    if not FETCH_REQUEST.fullmatch(request):
        raise ServiceError(UNKNOWN_REQUEST, 404)
    fetch = FileFetch.objects.filter(request=request, project__host=host).defer("data").first()
    if fetch is None:
        raise ServiceError(UNKNOWN_REQUEST, 404)
    if fetch.answered_at is not None:
        raise ServiceError(ALREADY_ANSWERED, 409)
    return fetch


def fetch_answer(*, host: Host, request: str, data: bytes) -> FileFetch:
    """The host's bytes for one of its requests; raises ServiceError."""
    fetch = _request_of_host(host, request)
    if len(data) > MAX_FETCH:
        raise ServiceError(BAD_SIZE, 413)
    updated = FileFetch.objects.filter(id=fetch.id, answered_at__isnull=True).update(
        answered_at=timezone.now(), data=data, size=len(data), hash=hashlib.sha256(data).hexdigest()
    )
    if updated != 1:  # another answer got there first
        raise ServiceError(ALREADY_ANSWERED, 409)
    return fetch


def fetch_refuse(*, host: Host, request: str, reason: str) -> None:
    """The host's reason not to send the file; raises ServiceError."""
    fetch = _request_of_host(host, request)
    if reason not in FETCH_REFUSALS:
        raise ServiceError("Unknown reason.", 400)
    FileFetch.objects.filter(id=fetch.id, answered_at__isnull=True).update(
        answered_at=timezone.now(), refused=reason
    )


def refusal_text(reason: str) -> str:
    return REFUSAL_TEXT.get(reason, "The host did not send the file.")


def _is_folder(project: Project, path: str) -> bool:
    """Asked only of names without a dot (`docs`, not `docs/a.md`): a query per such link."""
    if "." in path.rsplit("/", 1)[-1]:
        return False
    try:
        key = path_hash(mirror_path(path))
    except InvalidPath:
        return False
    return project.entries.filter(path_hash=key, kind=EntryKind.DIR).exists()


def page_place(*, project: Project, path: str) -> Place:
    """Where the file at `path` is, for its Markdown's relative links and images."""

    def link(target: str, fragment: str) -> str:
        if _is_folder(project, target):
            return reverse("folder_detail", args=[project.id, target])
        url = reverse("file_detail", args=[project.id, target])
        return f"{url}#{ID_PREFIX}{fragment}" if fragment and is_markdown(target) else url

    return Place(
        base=path.rpartition("/")[0],
        link=link,
        images=lambda paths: images_for_page(project=project, paths=paths),
    )


KEEP_UNUSED = timedelta(days=1)


def fetch_prune(*, now=None) -> int:
    """Forget, a day on, requests that got no bytes and bytes no mirrored file has
    any longer (the housekeeping sweep). Returns how many rows went."""
    before = (now or timezone.now()) - KEEP_UNUSED
    stale = FileFetch.objects.filter(requested_at__lt=before, data__isnull=True)
    unused = FileFetch.objects.filter(answered_at__lt=before, data__isnull=False).exclude(
        hash__in=Entry.objects.filter(kind=EntryKind.FILE).values("hash")
    )
    return stale.delete()[0] + unused.delete()[0]
