"""The agent's HTTP API: JSON, no session, no CSRF (see docs/protocol.md)."""

import json
import logging

from django.conf import settings
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

from accounts.validators import has_control_characters
from codexhub.errors import ServiceError
from codexhub.http import client_ip
from devices import agent_dist, pairing, services, versions
from protocol.version import MIN_PROTOCOL_VERSION, PROTOCOL_VERSION

logger = logging.getLogger("django.security.pairing")
poll_logger = logging.getLogger("devices.api")
MAX_BODY = 4096
# Answers the device flow expects while someone finds their phone (RFC 8628 3.5):
# a waiting agent polls every 5 s, so each is logged at DEBUG, not as django.request's WARNING.
EXPECTED_ERRORS = frozenset({"authorization_pending"})


def error(code: str, description: str, status: int = 400, **extra) -> JsonResponse:
    response = JsonResponse({"error": code, "error_description": description, **extra}, status=status)
    if status == 429:
        response["Retry-After"] = "60"
    return response


def error_for(exc: ServiceError) -> JsonResponse:
    """The agent API's shape of a ServiceError (docs/protocol.md): its RFC 8628
    code, or invalid_request, and the message as the description."""
    response = error(exc.code or "invalid_request", exc.message, exc.status, **exc.extra)
    if exc.code in EXPECTED_ERRORS:
        response._has_been_logged = True  # type: ignore[attr-defined]  # django.request skips it
        poll_logger.debug("pairing poll: %s", exc.code)
    return response


def _bad_request(description: str, status: int = 400) -> ServiceError:
    return ServiceError(description, status, code="invalid_request")


def json_fields(request, fields: dict[str, tuple[int, bool]]) -> dict[str, str]:
    """Parse a small JSON object whose fields are all text: {name: (max length, required)}.
    Raises ServiceError (invalid_request)."""
    if request.content_type != "application/json":
        raise _bad_request("Send Content-Type: application/json.")
    length = content_length(request)
    if not 0 <= length <= MAX_BODY:
        raise _bad_request(f"The body is larger than {MAX_BODY} bytes.", status=413)
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):
        raise _bad_request("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise _bad_request("The body must be a JSON object.")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise _bad_request(f"Unknown fields: {', '.join(unknown)[:100]}.")
    return {name: _text(data, name, limit, required) for name, (limit, required) in fields.items()}


def _text(data: dict, name: str, limit: int, required: bool) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise _bad_request(f"{name} must be a string.")
    value = value.strip()
    if required and not value:
        raise _bad_request(f"{name} is required.")
    if len(value) > limit:
        raise _bad_request(f"{name} is longer than {limit} characters.")
    if has_control_characters(value):
        raise _bad_request(f"{name} has control characters.")
    return value


def content_length(request) -> int:
    """The body's declared length, or -1 when the header is not a number."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return -1


def bearer(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    return token if scheme == "Bearer" else ""


def agent_api(rate: str, method: str = "POST"):
    """CSRF-exempt endpoint (POST unless `method` says otherwise), rate limited per
    client address: a session cookie never authenticates these (they read no session)."""

    def decorate(view):
        @csrf_exempt
        @require_http_methods([method])
        @ratelimit(key="ip", rate=rate, method=method, block=False)
        def wrapper(request, *args, **kwargs):
            if getattr(request, "limited", False):
                return error("rate_limited", "Too many requests from this address. Wait a minute.", 429)
            try:
                return view(request, *args, **kwargs)
            except ServiceError as exc:
                return error_for(exc)

        return wrapper

    return decorate


@agent_api("10/m")
def pairing_start(request):
    fields = json_fields(request, {"name": (64, True), "platform": (64, False), "agent_version": (32, False)})
    started = pairing.pairing_start(ip=client_ip(request), **fields)
    pending = started.pairing
    verification_uri = request.build_absolute_uri(reverse("pair"))
    return JsonResponse(
        {
            "device_code": started.device_code,
            "user_code": pending.user_code_display,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?code={pending.user_code_display}",
            "expires_in": settings.PAIRING_TTL,
            "interval": pending.interval,
        }
    )


@agent_api("60/m")
def pairing_token(request):
    fields = json_fields(request, {"device_code": (64, True)})
    issued = pairing.pairing_poll(device_code=fields["device_code"])
    return JsonResponse(
        {
            "host_id": issued.host.id,
            "host_token": issued.token,
            "team": issued.team,
            "approved_by": issued.approved_by,
            "approved_from": issued.approved_from,
            "confirm_within": settings.PAIRING_TTL,
        }
    )


@agent_api("60/m")
def pairing_confirm(request):
    host = pairing.host_confirm(token=bearer(request))
    return JsonResponse({"host_id": host.id, "status": "confirmed"})


@agent_api("60/m")
def pairing_reject(request):
    pairing.host_reject(token=bearer(request))
    return JsonResponse({"status": "rejected"})


INVALID_TOKEN = "This host's token is unknown or revoked on the hub: pair the host again."


@agent_api("60/m", method="GET")
def host_status(request):
    """What the hub knows of the host whose token this is (`hostagent status` and `doctor`)."""
    host = services.host_for_token(token=bearer(request))
    if host is None:
        return error("invalid_token", INVALID_TOKEN, 401)
    return JsonResponse(
        {
            "host_id": host.id,
            "host": host.name,
            "team": host.team.name,
            "hub_version": versions.HUB_AGENT_VERSION,
            "protocol": PROTOCOL_VERSION,
            "min_protocol": MIN_PROTOCOL_VERSION,
            "update": versions.update_command(agent_dist.hub_url(request)),
        }
    )


@agent_api("60/m")
def host_unpair(request):
    host = services.host_for_token(token=bearer(request))
    if host is None:
        return error("invalid_token", "Unknown or revoked token.", 401)
    services.host_revoke(host=host, actor=None, ip=client_ip(request), reason="unpaired by the host")
    return JsonResponse({"status": "revoked"})
