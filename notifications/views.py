import json
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from accounts.permissions import memberships_managed_by
from codexhub.errors import ServiceError
from codexhub.jobs import job_on_commit
from notifications import jobs, services, vapid
from notifications.forms import PreferenceForm, TeamReminderForm

MAX_BODY = 8 * 1024
TOO_MANY_TESTS = "You sent several test notifications just now. Wait a minute."
NO_DEVICE_ON = "No device is on: enable notifications on this device, or turn one on below."


@login_required
def notification_settings(request):
    preference = services.preference_for(user=request.user)
    form = PreferenceForm(instance=preference)
    return _render(request, form)


def _render(request, form, status=200, reminder_forms=None):
    devices = services.devices_for_user(user=request.user)
    run = _test_run(request, request.GET.get("test"))
    context = {
        "form": form,
        "devices": [(row, services.health_words(row)) for row in devices],
        "status": services.status(),
        "vapid_public_key": vapid.public_key(),
        "test_run": run,
        "test_results": services.test_results(user=request.user, run=run) if run else [],
        "reminder_forms": reminder_forms or _reminder_forms(request.user),
    }
    return render(request, "notifications/settings.html", context, status=status)


TEST_RUNS_KEPT = 5
SESSION_TEST_RUNS = "notify_test_runs"


def _test_run(request, raw: object) -> int | None:
    """A test this session sent (its name is a time in ns), else None: the
    runs are the session's, so a made-up or another's number shows nothing."""
    if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 20:
        return None
    return int(raw) if int(raw) in request.session.get(SESSION_TEST_RUNS, []) else None


def _reminder_forms(user) -> list[TeamReminderForm]:
    """One form per team the user manages."""
    forms = []
    for membership in memberships_managed_by(user=user).select_related("team").order_by("team__name"):
        reminder = services.team_reminder(team_id=membership.team_id)
        forms.append(TeamReminderForm(instance=reminder, prefix=f"team-{membership.team_id}"))
    return forms


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
    if not any(row.device.active for row in services.devices_for_user(user=request.user)):
        messages.error(request, NO_DEVICE_ON)
        return redirect("notification_settings")
    run = time.time_ns()
    request.session[SESSION_TEST_RUNS] = [*request.session.get(SESSION_TEST_RUNS, []), run][-TEST_RUNS_KEPT:]
    job_on_commit(jobs.notify_test_job, request.user.id, run)
    return redirect(f"{reverse('notification_settings')}?test={run}#test-results")


@login_required
def notification_test_results(request, run: int):
    """How a test went on each device, for the page to show when it ends."""
    if _test_run(request, str(run)) is None:
        raise ServiceError("No such test.", status=404)
    results = services.test_results(user=request.user, run=run)
    return JsonResponse(
        {
            "done": all(result.finished for result in results),
            "devices": [
                {"kind": r.kind, "id": r.device_id, "name": r.name, "state": r.state, "text": r.text}
                for r in results
            ],
        }
    )


@login_required
@require_POST
def device_toggle(request, kind: str, device_id: int):
    services.device_switch(user=request.user, kind=kind, device_id=device_id)  # another's: 404
    return redirect("notification_settings")


@login_required
@require_POST
def device_remove(request, kind: str, device_id: int):
    services.device_remove(user=request.user, kind=kind, device_id=device_id)
    messages.success(request, "Device removed.")
    return redirect("notification_settings")


@login_required
@require_POST
def team_reminder_save(request, team_id: int):
    """A team's reminder rule; only its owners and admins (others get a 404)."""
    if not memberships_managed_by(user=request.user).filter(team_id=team_id).exists():
        raise ServiceError("No such team.", status=404)
    reminder = services.team_reminder(team_id=team_id)
    form = TeamReminderForm(request.POST, instance=reminder, prefix=f"team-{team_id}")
    if not form.is_valid():
        forms = [form if f.instance.team_id == team_id else f for f in _reminder_forms(request.user)]
        preference = PreferenceForm(instance=services.preference_for(user=request.user))
        return _render(request, preference, status=400, reminder_forms=forms)
    form.save()
    messages.success(request, f"Reminders saved for {reminder.team.name}.")
    return redirect("notification_settings")


# The inbox -------------------------------------------------------------------------


@login_required
def inbox(request):
    return render(
        request, "notifications/inbox.html", {"entries": services.inbox_for_user(user=request.user)}
    )


@login_required
@require_POST
def inbox_open(request, entry_id: int):
    """Mark the entry read and go where it leads."""
    entry = services.inbox_open(user=request.user, entry_id=entry_id)
    return redirect(services.inbox_path(entry.url))


@login_required
@require_POST
def inbox_read_all(request):
    services.inbox_read_all(user=request.user)
    return redirect("inbox")


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
    services.device_remove(user=request.user, kind=kind, device_id=device_id)
    return JsonResponse({}, status=204)
