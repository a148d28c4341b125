"""The images a project's Markdown shows, served to the team from the host's
bytes (projects.images), and the host's answers to the hub's requests.

An image is served with its type from its name (images only), with
`Content-Security-Policy: sandbox; default-src 'none'` and `nosniff`: an SVG
stays an image. Shown by an <img> it runs no script in any browser; opened
on its own it is a sandboxed document that may load and run nothing, so it
cannot reach the hub with the reader's cookies either.

The view waits up to FETCH_WAIT for a host that is asked now, polling the
database (the answer may reach another hub process), without holding a
thread: it is an async view."""

import asyncio
import json

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from pydantic import ValidationError

from codexhub.errors import ServiceError
from devices.api import bearer, content_length, error
from devices.models import Host
from devices.services import host_for_token
from projects import images
from projects.models import Entry, FileFetch, Project
from protocol.base import reason
from protocol.files import FileRefused

CSP = "sandbox; default-src 'none'"
MAX_REFUSAL_BODY = 1024


def _headers(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def _text(message: str, status: int) -> HttpResponse:
    return _headers(HttpResponse(message, status=status, content_type="text/plain; charset=utf-8"))


def _visible_project(user, project_id: int) -> Project:
    projects = Project.objects.visible_to(user).select_related("host")
    return get_object_or_404(projects, id=project_id)


def _start(project: Project, entry: Entry) -> bool:
    """Ask the host, if it is online (read afresh): whether it was asked."""
    host = Host.objects.only("link_channel", "last_seen_at").get(id=project.host_id)
    if not host.online:
        return False
    images.fetch_start(project=project, entry=entry)
    return True


def _bytes(fetch_id: int) -> bytes:
    data = FileFetch.objects.filter(id=fetch_id).values_list("data", flat=True).get()
    return bytes(data or b"")


@login_required
async def project_raw(request, project_id: int, path: str):
    user = await request.auser()
    project = await sync_to_async(_visible_project)(user, project_id)
    try:
        entry, content_type = await sync_to_async(images.image_entry)(project=project, path=path)
    except ServiceError as exc:
        return _text(exc.message, exc.status)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + images.FETCH_WAIT
    asked = False
    while True:
        fetch = await sync_to_async(images.fetch_find)(project=project, entry=entry)
        if fetch is not None and fetch.answered_at is not None:
            if fetch.refused:
                return _text(images.refusal_text(fetch.refused), 404)
            data = await sync_to_async(_bytes)(fetch.id)
            response = _headers(HttpResponse(data, content_type=content_type))
            response["Cache-Control"] = "private, max-age=300"
            return response
        if fetch is None:
            if asked or not await sync_to_async(_start)(project, entry):
                return _text(images.HOST_IS_OFFLINE, 503)
            asked = True
        if loop.time() > deadline:
            return _text(images.HOST_TOO_SLOW, 504)
        await asyncio.sleep(images.FETCH_POLL)


# The host's answers ----------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["PUT"])
def file_upload(request, request_id: str):
    """`PUT /api/host/files/<request>`: the bytes of a file the hub asked for."""
    host = host_for_token(token=bearer(request))
    if host is None:
        return error("invalid_token", "Unknown or revoked token.", 401)
    length = content_length(request)
    if not 0 <= length <= images.MAX_FETCH:
        return error("invalid_request", images.BAD_SIZE, 413)
    data = request.read(images.MAX_FETCH + 1)
    try:
        fetch = images.fetch_answer(host=host, request=request_id, data=data)
    except ServiceError as exc:
        return error("invalid_request", exc.message, exc.status)
    return JsonResponse({"request": fetch.request, "size": len(data)}, status=201)


@csrf_exempt
@require_http_methods(["POST"])
def file_refused(request, request_id: str):
    """`POST /api/host/files/<request>/refused`, `{"reason": ...}`: why the host did not send it."""
    host = host_for_token(token=bearer(request))
    if host is None:
        return error("invalid_token", "Unknown or revoked token.", 401)
    body = request.read(MAX_REFUSAL_BODY + 1)
    try:
        if len(body) > MAX_REFUSAL_BODY:
            raise ValueError("too long")
        refusal = FileRefused.model_validate(json.loads(body))
    except ValidationError as exc:
        return error("invalid_request", reason(exc), 400)
    except ValueError:
        return error("invalid_request", 'Send {"reason": ...} as JSON.', 400)
    try:
        images.fetch_refuse(host=host, request=request_id, reason=refusal.reason)
    except ServiceError as exc:
        return error("invalid_request", exc.message, exc.status)
    return JsonResponse({})
