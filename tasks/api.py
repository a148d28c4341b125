"""The agent's upload of browser-task artifacts: token, no session, no CSRF."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from codexhub.errors import ServiceError
from devices.api import bearer, content_length, error
from devices.services import host_for_token, host_message_refused
from tasks import services

TOO_LARGE = "Send the file as the body, at most 5 MiB, with its Content-Length."


@csrf_exempt
@require_http_methods(["PUT"])
def artifact_upload(request, task_id: int, name: str):
    host = host_for_token(token=bearer(request))
    if host is None:
        return error("invalid_token", "Unknown or revoked token.", 401)
    length = content_length(request)
    if not 0 < length <= services.MAX_ARTIFACT:
        _refused(host, task_id, name, TOO_LARGE)
        return error("invalid_request", TOO_LARGE, 413)
    data = request.read(services.MAX_ARTIFACT + 1)
    try:
        artifact = services.artifact_store(
            host=host, task_id=task_id, name=name, content_type=request.content_type, data=data
        )
    except ServiceError as exc:
        _refused(host, task_id, name, exc.message)
        return error("invalid_request", exc.message, exc.status)
    return JsonResponse({"name": artifact.name, "size": artifact.size}, status=201)


def _refused(host, task_id: int, name: str, reason: str) -> None:
    """Logged and counted on the host like a refused frame of its link."""
    host_message_refused(
        host_id=host.id, host_name=host.name, reason=f"artifact {name} of task {task_id}: {reason}",
        stream="artifacts", kind="artifact.upload",
    )  # fmt: skip
