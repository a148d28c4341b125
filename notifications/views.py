import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from codexhub.errors import ServiceError
from codexhub.jobs import job_on_commit
from notifications import jobs, services, vapid
from notifications.forms import PreferenceForm

MAX_BODY = 8 * 1024
TOO_MANY_TESTS = "You sent several test notifications just now. Wait a minute."


@login_required
def notification_settings(request):
    preference = services.preference_for(user=request.user)
    form = PreferenceForm(instance=preference)
    return _render(request, form)


def _render(request, form, status=200):
    context = {
        "form": form,
        "devices": services.devices_for_user(user=request.user),
        "status": services.status(),
        "vapid_public_key": vapid.public_key(),
    }
    return render(request, "notifications/settings.html", context, status=status)


@login_required
@require_POST
def preferences_save(request):
    form = PreferenceForm(request.POST, instance=services.preference_for(user=request.user))
    if not form.is_valid():
        return _render(request, form, status=400)
    form.save()
    messages.success(request, "Saved.")
    return redirect("notification_settings")


def _json_body(request) -> dict | None:
    if request.content_type != "application/json" or len(request.body) > MAX_BODY:
        return None
    try:
        body = json.loads(request.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@login_required
@require_POST
def webpush_subscribe(request):
    """The browser's PushSubscription, from "Enable notifications on this device"."""
    body = _json_body(request)
    if body is None:
        return _error("Send a JSON object of at most 8 KiB with Content-Type: application/json.")
    try:
        device = services.webpush_register(
            user=request.user,
            subscription=body.get("subscription"),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except ServiceError as exc:
        return _error(exc.message, exc.status)
    return JsonResponse({"id": device.id, "name": device.name}, status=201)


@login_required
@require_POST
def notification_test(request):
    rate = settings.NOTIFY_TEST_RATE
    if is_ratelimited(request, group="notify-test", key="user", rate=rate, method="POST", increment=True):
        messages.error(request, TOO_MANY_TESTS)
        return _render(request, PreferenceForm(instance=services.preference_for(user=request.user)), 429)
    job_on_commit(jobs.notify_test_job, request.user.id)
    messages.success(request, "Sent. It should show on your enabled devices in a moment.")
    return redirect("notification_settings")


def _own_device(request, kind: str, device_id: int):
    return services.device_get(user=request.user, kind=kind, device_id=device_id)  # else a 404


@login_required
@require_POST
def device_toggle(request, kind: str, device_id: int):
    device = _own_device(request, kind, device_id)
    device.active = not device.active
    device.save(update_fields=["active"])
    return redirect("notification_settings")


@login_required
@require_POST
def device_remove(request, kind: str, device_id: int):
    _own_device(request, kind, device_id).delete()
    messages.success(request, "Device removed.")
    return redirect("notification_settings")


# The JSON API for native clients and wearables ------------------------------------


@login_required
@require_POST
def api_device_register(request):
    """{"type": "apns" | "fcm", "token": "...", "name": "Apple Watch"}, bound to the signed-in user."""
    body = _json_body(request)
    if body is None:
        return _error("Send a JSON object of at most 8 KiB with Content-Type: application/json.")
    try:
        device = services.native_register(
            user=request.user, kind=str(body.get("type")), token=body.get("token"), name=body.get("name")
        )
    except ServiceError as exc:
        return _error(exc.message, exc.status)
    return JsonResponse({"id": device.id, "type": body["type"], "name": device.name}, status=201)


@login_required
@require_http_methods(["DELETE"])
def api_device_delete(request, kind: str, device_id: int):
    _own_device(request, kind, device_id).delete()
    return JsonResponse({}, status=204)
