import ipaddress

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponseNotFound
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_ratelimit.core import get_usage, is_ratelimited

from accounts.decorators import second_factor_required
from accounts.models import Membership
from accounts.permissions import can_manage, memberships_managed_by
from accounts.services import membership_get, otp_is_enrolled
from accounts.teams import current_membership
from codexhub.errors import ServiceError
from codexhub.http import client_ip
from devices import agent_dist, hooks, pairing, services, versions
from devices.forms import ApproveForm, ApproveRoleForm, GitRoleForm, RenameForm, RevokeForm, UserCodeForm
from devices.models import Host

# User-code guessing: failures only, per user and per address (SECURITY.md section 3).
CODE_FAILURE_LIMITS = (("pair-code-user", "user", "10/10m"), ("pair-code-ip", "ip", "30/h"))
CODE_GUESSES_LIMITED = "Too many wrong codes. Wait a few minutes, then type the code again."
# The host page's forms that change one setting each, by their name in its context.
SETTING_FORMS = {"rename_form": RenameForm, "approve_form": ApproveRoleForm, "git_form": GitRoleForm}


def is_loopback(host: str) -> bool:
    """True for a host[:port] that only this machine reaches (localhost, 127.0.0.0/8, ::1)."""
    # A Host header brackets an IPv6 address: [::1]:8000.
    name = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
    name = name.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@login_required
def host_list(request):
    membership = current_membership(request)
    hosts = services.hosts_for_team(team_id=membership.team_id) if membership else []
    pending = services.hosts_pending_for_team(team_id=membership.team_id) if membership else []
    outdated = [host for host in hosts if host.agent_outdated]
    context = {
        "membership": membership,
        "hosts": hosts,
        "pending_hosts": pending,
        "outdated_hosts": outdated,
        **(_agent_update(request) if outdated else {}),
        "otp_enrolled": otp_is_enrolled(user=request.user),
        **_agent_install(request),
        "hub_is_loopback": is_loopback(request.get_host()),
        **(hooks.host_list_context(team_id=membership.team_id) if membership else {}),
        **hooks.home_context(user=request.user, team_id=membership.team_id if membership else None),
    }
    return render(request, "devices/host_list.html", context)


def _agent_install(request) -> dict:
    """The Pair card's lines: install this hub's agent, then pair it with this hub."""
    hub = agent_dist.hub_url(request)
    return {
        "hub_url": hub,
        "install_command": agent_dist.install_command(hub),
        "uv_install_command": agent_dist.uv_install_command(hub),
        "pair_command": agent_dist.pair_command(hub),
        "agent_wheel_missing": agent_dist.wheel_file() is None,
    }


@login_required
def host_detail(request, host_id: int):
    host = _visible_host(request, host_id)
    membership = membership_get(user=request.user, team_id=host.team_id)
    return _render_host(request, host, membership)


def _render_host(request, host, membership, *, status=200, **failed_forms):
    """The host page; a form that failed (rename_form=...) stands in for its blank one."""
    context = {
        "host": host,
        "membership": membership,
        "can_manage": can_manage(membership),
        "rename_form": RenameForm(instance=host),
        "revoke_form": RevokeForm(),
        "approve_form": ApproveRoleForm(instance=host),
        "git_form": GitRoleForm(instance=host),
        **(_agent_update(request) if host.agent_outdated else {}),
        **failed_forms,
    }
    return render(request, "devices/host_detail.html", context, status=status)


def _agent_update(request) -> dict:
    """What a page that marks an outdated agent shows: the version served and the line to run."""
    hub = agent_dist.hub_url(request)
    return {
        "hub_agent_version": versions.HUB_AGENT_VERSION,
        "update_command": versions.update_command(hub),
        "uv_update_command": versions.uv_update_command(hub),
    }


def _visible_host(request, host_id: int) -> Host:
    return get_object_or_404(Host.objects.visible_to(request.user).select_related("team"), id=host_id)


def _managed_host(request, host_id: int) -> tuple[Host, Membership]:
    """A host of the user's team that they may change: 404 outside it, 403 for members."""
    host = _visible_host(request, host_id)
    membership = membership_get(user=request.user, team_id=host.team_id)
    if not can_manage(membership):
        raise ServiceError(services.HOST_NOT_MANAGER, 403)
    return host, membership


def _host_setting_change(request, host_id: int, form_name: str, change, success: str):
    """Post one of the host's setting forms; its fields are the service's arguments."""
    host, membership = _managed_host(request, host_id)
    form = SETTING_FORMS[form_name](request.POST, instance=Host.objects.get(id=host.id))
    if not form.is_valid():
        return _render_host(request, host, membership, status=400, **{form_name: form})
    change(host=host, actor=membership, **form.cleaned_data)
    messages.success(request, success)
    return redirect("host_detail", host_id=host.id)


@second_factor_required
@require_POST
def host_rename(request, host_id: int):
    return _host_setting_change(request, host_id, "rename_form", services.host_rename, "Host renamed.")


@second_factor_required
@require_POST
def host_approvals(request, host_id: int):
    success = "Saved who may answer its agents."
    return _host_setting_change(request, host_id, "approve_form", services.host_approve_role_set, success)


@second_factor_required
@require_POST
def host_git_role(request, host_id: int):
    success = "Saved who may commit, merge, push and discard."
    return _host_setting_change(request, host_id, "git_form", services.host_git_role_set, success)


@second_factor_required
@require_POST
def host_revoke(request, host_id: int):
    host, membership = _managed_host(request, host_id)
    form = RevokeForm(request.POST)
    if form.is_valid():
        try:
            services.host_revoke_by_manager(
                host=host, actor=membership, otp_code=form.cleaned_data["otp_code"], ip=client_ip(request)
            )
        except ServiceError as exc:
            form.add_error("otp_code", exc.message)
        else:
            messages.success(request, f"“{host.name}” was revoked. Its agent was disconnected.")
            return redirect("host_list")
    return _render_host(request, host, membership, status=400, revoke_form=form)


# Pairing ------------------------------------------------------------------------------


def _code_guessing_limited(request) -> bool:
    """True once a limit's failures are used up: the next try is refused."""
    for group, key, rate in CODE_FAILURE_LIMITS:
        usage = get_usage(request, group=group, key=key, rate=rate, increment=False)
        if usage and usage["count"] >= usage["limit"]:
            return True
    return False


def _count_code_failure(request) -> None:
    for group, key, rate in CODE_FAILURE_LIMITS:
        is_ratelimited(request, group=group, key=key, rate=rate, increment=True)


def _lookup(request, raw_code: str):
    """The pending request for a typed code, or (None, message, status)."""
    if _code_guessing_limited(request):
        return None, CODE_GUESSES_LIMITED, 429
    try:
        return pairing.pairing_lookup(user_code=raw_code), "", 200
    except ServiceError as exc:
        _count_code_failure(request)
        return None, exc.message, exc.status


@second_factor_required
@require_http_methods(["GET", "POST"])
def pair(request):
    if not pairing.pairing_may_decide(user=request.user):
        # Nothing about the request (name, address) is shown, and nothing is looked up.
        context: dict[str, object] = {"problem": pairing.PAIRING_NO_MANAGED_TEAM}
        return render(request, "devices/pair_code.html", context, status=403)
    raw_code = request.POST.get("code") or request.GET.get("code") or ""
    if not raw_code:
        return render(request, "devices/pair_code.html", {"form": UserCodeForm()})
    pending, problem, status = _lookup(request, raw_code)
    if pending is None:
        form = UserCodeForm(initial={"code": raw_code[:16]})
        return render(request, "devices/pair_code.html", {"form": form, "problem": problem}, status=status)
    memberships = memberships_managed_by(user=request.user).select_related("team")
    approve_form = ApproveForm(
        request.POST if request.POST.get("action") == "approve" else None, memberships=memberships
    )
    if request.method == "POST":
        outcome = _decide(request, pending, approve_form)
        if outcome is not None:
            return outcome
    context = {
        "pairing": pending,
        "form": approve_form,
        "same_address": pending.requested_from == client_ip(request),
    }
    return render(request, "devices/pair_approve.html", context, status=400 if approve_form.errors else 200)


def _decide(request, pending, form):
    if request.POST.get("action") == "deny":
        pairing.pairing_deny(pairing=pending, user=request.user, ip=client_ip(request))
        messages.info(request, f"You denied “{pending.name}”. It was not added.")
        return redirect("host_list")
    if not form.is_valid():
        _reject_foreign_team(request)
        return None
    actor = membership_get(user=request.user, team_id=form.cleaned_data["team"])
    try:
        host = pairing.pairing_approve(
            pairing=pending, actor=actor, otp_code=form.cleaned_data["otp_code"], ip=client_ip(request)
        )
    except ServiceError as exc:
        if exc.status == 403:
            raise
        # The request was decided meanwhile, or the second factor was refused.
        form.add_error(None if exc.message == pairing.PAIRING_CODE_USED else "otp_code", exc.message)
        return None
    messages.success(request, f"“{host.name}” joins {actor.team.name} once you confirm on the host.")
    return redirect("host_list")


def _reject_foreign_team(request):
    """A team id the form does not offer: 404 if it is not the user's team,
    403 if they are only a member there."""
    try:
        team_id = int(request.POST.get("team", ""))
    except ValueError:
        return
    membership = membership_get(user=request.user, team_id=team_id)  # 404 for other tenants
    if not can_manage(membership):
        raise ServiceError(pairing.PAIRING_NOT_MANAGER, 403)


@require_safe
def agent_wheel(request, filename: str):
    """The agent's wheel, for pipx on a workstation: public code, so no sign-in. Only the wheel
    of this hub's own version exists; the name is compared, never used as a path."""
    if filename != agent_dist.wheel_name():
        url = agent_dist.wheel_url(agent_dist.hub_url(request))
        message = agent_dist.WHEEL_OTHER_VERSION.format(version=agent_dist.AGENT_VERSION, url=url)
        return HttpResponseNotFound(message, content_type="text/plain; charset=utf-8")
    path = agent_dist.wheel_file()
    if path is None:
        return HttpResponseNotFound(agent_dist.WHEEL_MISSING, content_type="text/plain; charset=utf-8")
    wheel = path.open("rb")
    return FileResponse(wheel, as_attachment=True, filename=filename, content_type="application/zip")
