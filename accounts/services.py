"""Accounts, teams and second factors: one function per verb."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import django_otp
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import (
    AuthenticatorDevice,
    BackupCode,
    BackupCodeDevice,
    Invitation,
    Membership,
    Role,
    Team,
    User,
)
from accounts.permissions import can_manage
from accounts.sockets import CLOSE_ACCESS_CHANGED, user_sockets_close
from codexhub.errors import ServiceError

NO_SUCH_TEAM = "No such team."
NO_SUCH_MEMBER = "No such member."
INVITE_NOT_ALLOWED = "Only the team's owners and admins can invite people."
INVITE_ALREADY_MEMBER = "This person is already a member of the team."
INVITATION_UNKNOWN = "This invitation link is not valid. Ask for a new one."
INVITATION_EXPIRED = "This invitation has expired. Ask the team for a new one."
INVITATION_USED = "This invitation has already been used."
INVITATION_WRONG_EMAIL = (
    "This invitation was sent to another email address. Sign in with the address it was sent to."
)
ROLE_CHANGE_NOT_ALLOWED = "Only the team's owners can change roles or remove members."
LAST_OWNER = "A team needs at least one owner."
OTP_CODE_INCORRECT = "That code is not correct. Check your authenticator app and try again."
OTP_THROTTLED = "Too many wrong codes in a row. Try again in {seconds} s."
OTP_CODE_INCORRECT_THROTTLED = (
    "That code is not correct, and that was too many in a row. Try again in {seconds} s."
)
OTP_CODE_USED = "That code was just used, and each code works once. The next one appears in {seconds} s."
OTP_NOT_ENROLLED = "Two-factor authentication is not set up for this account."
OTP_ALREADY_ENROLLED = "Two-factor authentication is already on for this account."


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Teams -------------------------------------------------------------------------


def teams_for_user(*, user: User):
    return Team.objects.filter(memberships__user=user).order_by("name", "id")


def membership_get(*, user: User, team_id: int) -> Membership:
    """The user's membership of a team; raises ServiceError 404 otherwise:
    another team looks like no team."""
    try:
        return Membership.objects.select_related("team").get(user=user, team_id=team_id)
    except Membership.DoesNotExist:
        raise ServiceError(NO_SUCH_TEAM, 404) from None


@transaction.atomic
def team_create(*, user: User, name: str) -> Team:
    team = Team.objects.create(name=name)
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team


def membership_set_role(*, actor: Membership, member_id: int, role: str) -> Membership:
    if actor.role != Role.OWNER:
        raise ServiceError(ROLE_CHANGE_NOT_ALLOWED, 403)
    with transaction.atomic():
        member = _team_member_for_update(actor.team, member_id)
        if member.role == Role.OWNER and role != Role.OWNER:
            _ensure_another_owner(member)
        member.role = role
        member.save(update_fields=["role"])
    return member


def membership_remove(*, actor: Membership, member_id: int) -> None:
    if actor.role != Role.OWNER and actor.id != member_id:
        raise ServiceError(ROLE_CHANGE_NOT_ALLOWED, 403)
    with transaction.atomic():
        member = _team_member_for_update(actor.team, member_id)
        if member.role == Role.OWNER:
            _ensure_another_owner(member)
        member.delete()
        # Their open sockets joined this team's groups at connect: end them, so
        # that the team's events stop now (the page reconnects without it).
        user_id = member.user_id
        transaction.on_commit(lambda: user_sockets_close(user_id=user_id, code=CLOSE_ACCESS_CHANGED))


def team_member_get(*, team: Team, member_id: int, for_update: bool = False) -> Membership:
    members = Membership.objects.select_for_update() if for_update else Membership.objects
    try:
        return members.select_related("user").get(team=team, id=member_id)
    except Membership.DoesNotExist:
        raise ServiceError(NO_SUCH_MEMBER, 404) from None


def _team_member_for_update(team: Team, member_id: int) -> Membership:
    return team_member_get(team=team, member_id=member_id, for_update=True)


def _ensure_another_owner(member: Membership) -> None:
    owners = Membership.objects.select_for_update().filter(team=member.team, role=Role.OWNER)
    if not owners.exclude(id=member.id).exists():
        raise ValidationError(LAST_OWNER)


# Invitations -----------------------------------------------------------------


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str


def invitation_create(*, actor: Membership, email: str, role: str) -> NewInvitation:
    """Create a single-use invitation; the returned token is never stored."""
    if not can_manage(actor):
        raise ServiceError(INVITE_NOT_ALLOWED, 403)
    email = email.strip().lower()
    if Membership.objects.filter(team=actor.team, user__email__iexact=email).exists():
        raise ValidationError(INVITE_ALREADY_MEMBER)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        team=actor.team,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    return NewInvitation(invitation=invitation, token=token)


def invitation_get(*, token: str) -> Invitation:
    if not token or len(token) > 128:
        raise ServiceError(INVITATION_UNKNOWN, status=404)
    try:
        return Invitation.objects.select_related("team", "invited_by").get(token_hash=token_hash(token))
    except Invitation.DoesNotExist:
        raise ServiceError(INVITATION_UNKNOWN, status=404) from None


def invitation_check(*, invitation: Invitation, user: User) -> None:
    """Raise ServiceError if this user cannot accept the invitation now."""
    if invitation.accepted_at is not None:
        raise ServiceError(INVITATION_USED, status=410)
    if invitation.expires_at <= timezone.now():
        raise ServiceError(INVITATION_EXPIRED, status=410)
    if invitation.email.lower() != user.email.lower():
        raise ServiceError(INVITATION_WRONG_EMAIL, status=403)
    if Membership.objects.filter(team=invitation.team, user=user).exists():
        raise ServiceError(INVITE_ALREADY_MEMBER, status=409)


def invitation_accept(*, token: str, user: User) -> Membership:
    invitation = invitation_get(token=token)
    invitation_check(invitation=invitation, user=user)
    now = timezone.now()
    try:
        with transaction.atomic():
            # The conditional update is the single use: of two racing accepts
            # exactly one sees a row count of 1.
            claimed = Invitation.objects.filter(
                id=invitation.id, accepted_at__isnull=True, expires_at__gt=now
            ).update(accepted_at=now, accepted_by=user)
            if claimed != 1:
                raise ServiceError(INVITATION_USED, status=410)
            return Membership.objects.create(team=invitation.team, user=user, role=invitation.role)
    except IntegrityError:
        raise ServiceError(INVITE_ALREADY_MEMBER, status=409) from None


# Second factor ----------------------------------------------------------------


def otp_is_enrolled(*, user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def otp_session_is_verified(*, user: User, device_id: str | None) -> bool:
    """Whether a session that names `device_id` passed the second factor."""
    if not device_id:
        return False
    device = Device.from_persistent_id(device_id)
    return device is not None and device.user_id == user.pk and device.confirmed


def otp_setup_start(*, user: User) -> AuthenticatorDevice:
    """The unconfirmed TOTP device whose key the setup page shows."""
    if otp_is_enrolled(user=user):
        raise ServiceError(OTP_ALREADY_ENROLLED)
    device = AuthenticatorDevice.objects.filter(user=user, confirmed=False).first()
    return device or AuthenticatorDevice.objects.create(user=user, name="Authenticator", confirmed=False)


def otp_setup_confirm(*, user: User, device: AuthenticatorDevice, code: str) -> list[str]:
    """Confirm the device with a first code; returns the new backup codes."""
    _verify(user=user, device=device, code=code)
    with transaction.atomic():
        TOTPDevice.objects.filter(id=device.id).update(confirmed=True)
        backup = BackupCodeDevice.objects.filter(user=user).first()
        if backup is None:
            backup = BackupCodeDevice.objects.create(
                user=user, name="Backup codes", salt=secrets.token_hex(16), confirmed=True
            )
        return backup.codes_replace(count=settings.BACKUP_CODE_COUNT)


def backup_codes_regenerate(*, user: User) -> list[str]:
    backup = BackupCodeDevice.objects.filter(user=user, confirmed=True).first()
    if backup is None or not otp_is_enrolled(user=user):
        raise ServiceError(OTP_NOT_ENROLLED)
    return backup.codes_replace(count=settings.BACKUP_CODE_COUNT)


def backup_codes_left(*, user: User) -> int:
    return BackupCode.objects.filter(device__user=user, used_at__isnull=True).count()


def otp_verify(*, user: User, code: str) -> Device:
    """Check a TOTP or backup code; returns the device that accepted it.

    Raises ServiceError (400) with a message for the person: wrong, used
    already (with the wait for the next code), or throttled (with the wait).
    """
    code = code.strip().replace(" ", "")
    is_totp = len(code) == 6 and code.isdigit()
    device_cls = AuthenticatorDevice if is_totp else BackupCodeDevice
    device = device_cls.objects.filter(user=user, confirmed=True).first()
    if device is None:
        raise ServiceError(OTP_NOT_ENROLLED if is_totp else OTP_CODE_INCORRECT)
    _verify(user=user, device=device, code=code)
    return device


def _verify(*, user: User, device: AuthenticatorDevice | BackupCodeDevice, code: str) -> None:
    allowed, info = device.verify_is_allowed()
    if not allowed:
        raise ServiceError(OTP_THROTTLED.format(seconds=_seconds_until(info)))
    if isinstance(device, AuthenticatorDevice):
        # The code just typed for a pairing, typed again for a revoke: the
        # person needs the next code, and has not guessed (no failure counted).
        wait = device.used_code_wait(code)
        if wait is not None:
            raise ServiceError(OTP_CODE_USED.format(seconds=wait))
    # device.persistent_id names the hub's device class, so django-otp
    # verifies with the hub's throttle (accounts.models.OTP_FREE_TRIES).
    if django_otp.verify_token(user, device.persistent_id, code) is None:
        device.refresh_from_db()
        allowed, info = device.verify_is_allowed()
        if not allowed:
            raise ServiceError(OTP_CODE_INCORRECT_THROTTLED.format(seconds=_seconds_until(info)))
        raise ServiceError(OTP_CODE_INCORRECT)


def _seconds_until(info: dict | None) -> int:
    locked_until = (info or {}).get("locked_until")
    if locked_until is None:
        return 1
    return max(1, int((locked_until - timezone.now()).total_seconds() + 0.999))


def membership_current(*, user: User, team_id: int | None) -> Membership | None:
    """The membership of the team the user last switched to, else their first."""
    memberships = Membership.objects.select_related("team").filter(user=user)
    if team_id is not None:
        chosen = memberships.filter(team_id=team_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by("team__name", "team_id").first()
