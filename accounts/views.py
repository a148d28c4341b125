import django_otp
from allauth.account import views as allauth_views
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit

from accounts import services
from accounts.adapters import user_display
from accounts.decorators import second_factor_required
from accounts.forms import InviteForm, OTPCodeForm, RoleForm, TeamForm
from accounts.jobs import invitation_email_job
from accounts.models import Role
from accounts.otp_qr import totp_key_text, totp_qr_svg
from accounts.permissions import can_manage
from accounts.teams import current_team_set
from codexhub.errors import ServiceError
from codexhub.jobs import job_on_commit

SIGNED_IN = "Successfully signed in as {name}."


@login_required
def settings_index(request):
    return render(
        request,
        "accounts/settings.html",
        {
            "otp_enrolled": services.otp_is_enrolled(user=request.user),
            "backup_codes_left": services.backup_codes_left(user=request.user),
        },
    )


# Second factor -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def otp_setup(request):
    try:
        device = services.otp_setup_start(user=request.user)
    except ServiceError as exc:
        messages.info(request, exc.message)
        return redirect("settings")
    form = OTPCodeForm(request.POST or None)
    if form.is_valid():
        try:
            codes = services.otp_setup_confirm(
                user=request.user, device=device, code=form.cleaned_data["code"]
            )
        except ServiceError as exc:
            form.add_error("code", exc.message)
        else:
            _otp_login(request, device)
            next_url = _safe_next(request, request.GET.get("next", ""))
            return render(
                request, "accounts/backup_codes.html", {"codes": codes, "first": True, "next": next_url}
            )
    context = {"form": form, "qr_svg": totp_qr_svg(device), "key_text": totp_key_text(device)}
    return render(request, "accounts/otp_setup.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request):
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next") or "")
    if request.user.is_verified():
        return redirect(next_url)
    form = OTPCodeForm(request.POST or None)
    if form.is_valid():
        try:
            device = services.otp_verify(user=request.user, code=form.cleaned_data["code"])
        except ServiceError as exc:
            form.add_error("code", exc.message)
        else:
            _otp_login(request, device)
            messages.success(request, SIGNED_IN.format(name=user_display(request.user)))
            return redirect(next_url)
    context = {"form": form, "next": next_url}
    return render(request, "accounts/otp_verify.html", context, status=400 if form.errors else 200)


def _safe_next(request, url: str) -> str:
    """Where to go next: a path on this site, never another site."""
    if url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return url
    return reverse("home")


def _otp_login(request, device) -> None:
    django_otp.login(request, device)
    # A new session key after each step of authentication (ASVS 7.2.4).
    request.session.cycle_key()


@second_factor_required
@require_POST
def backup_codes_regenerate(request):
    codes = services.backup_codes_regenerate(user=request.user)
    return render(request, "accounts/backup_codes.html", {"codes": codes, "first": False})


# Teams -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def team_list(request):
    form = TeamForm(request.POST or None)
    if form.is_valid():
        team = services.team_create(user=request.user, name=form.cleaned_data["name"])
        current_team_set(request, services.membership_get(user=request.user, team_id=team.id))
        messages.success(request, f"Team “{team.name}” created. Invite people to it here.")
        return redirect("team_detail", team_id=team.id)
    teams = services.teams_for_user(user=request.user)
    status = 400 if form.errors else 200
    return render(request, "accounts/team_list.html", {"form": form, "teams": teams}, status=status)


@login_required
def team_detail(request, team_id: int):
    membership = services.membership_get(user=request.user, team_id=team_id)
    return _render_team(request, membership, InviteForm())


def _render_team(request, membership, invite_form, status=200, new_invitation=None):
    team = membership.team
    context = {
        "membership": membership,
        "team": team,
        "members": team.memberships.select_related("user").order_by("user__email"),
        "invitations": team.invitations.filter(accepted_at__isnull=True).order_by("-created_at"),
        "invite_form": invite_form,
        "role_choices": Role.choices,
        "new_invitation": new_invitation,
    }
    return render(request, "accounts/team_detail.html", context, status=status)


@second_factor_required
@require_POST
def team_invite(request, team_id: int):
    membership = services.membership_get(user=request.user, team_id=team_id)
    if not can_manage(membership):
        raise ServiceError(services.INVITE_NOT_ALLOWED, 403)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _render_team(request, membership, form, status=400)
    try:
        new = services.invitation_create(
            actor=membership, email=form.cleaned_data["email"], role=form.cleaned_data["role"]
        )
    except ValidationError as exc:
        form.add_error("email", exc)
        return _render_team(request, membership, form, status=400)
    link = request.build_absolute_uri(reverse("invitation_accept", args=[new.token]))
    # Celery's logs and monitoring show argsrepr, not the link with its token.
    argsrepr = f"({new.invitation.id}, '[invitation link]')"
    job_on_commit(invitation_email_job, new.invitation.id, link, argsrepr=argsrepr)
    return _render_team(
        request, membership, InviteForm(), new_invitation={"link": link, "email": new.invitation.email}
    )


@login_required
@require_POST
def team_switch(request, team_id: int):
    membership = services.membership_get(user=request.user, team_id=team_id)
    current_team_set(request, membership)
    return redirect(_safe_next(request, request.POST.get("next", "")))


@second_factor_required
@require_POST
def member_role(request, team_id: int, member_id: int):
    actor = services.membership_get(user=request.user, team_id=team_id)
    services.team_member_get(team=actor.team, member_id=member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin or member.")
        return redirect("team_detail", team_id=team_id)
    try:
        services.membership_set_role(actor=actor, member_id=member_id, role=form.cleaned_data["role"])
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("team_detail", team_id=team_id)


@second_factor_required
@require_POST
def member_remove(request, team_id: int, member_id: int):
    actor = services.membership_get(user=request.user, team_id=team_id)
    try:
        services.membership_remove(actor=actor, member_id=member_id)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("team_detail", team_id=team_id)
    if actor.id == member_id:
        messages.success(request, f"You left “{actor.team.name}”.")
        return redirect("team_list")
    return redirect("team_detail", team_id=team_id)


# Invitations -----------------------------------------------------------------


@ratelimit(key="ip", rate="30/m", method=ratelimit.ALL, block=True)
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    try:
        invitation = services.invitation_get(token=token)
        if request.user.is_authenticated:
            services.invitation_check(invitation=invitation, user=request.user)
    except ServiceError as exc:
        return render(request, "accounts/invitation.html", {"error": exc.message}, status=exc.status)
    if not request.user.is_authenticated:
        return render(request, "accounts/invitation.html", {"invitation": invitation, "next": request.path})
    if request.method == "POST":
        try:
            membership = services.invitation_accept(token=token, user=request.user)
        except ServiceError as exc:
            return render(request, "accounts/invitation.html", {"error": exc.message}, status=exc.status)
        current_team_set(request, membership)
        messages.success(request, f"You joined “{membership.team.name}”.")
        return redirect("team_detail", team_id=membership.team_id)
    return render(request, "accounts/invitation.html", {"invitation": invitation})


class LoginView(allauth_views.LoginView):
    """allauth's sign-in, answering 429 once the failed-login limit is hit."""

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "too_many_login_attempts"):
            response.status_code = 429
        return response
