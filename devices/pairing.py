"""Pairing a host (RFC 8628's device authorization grant): the host starts and
polls, a team's owner or admin approves or denies on the phone, and the host
confirms or rejects the token it got. Failures raise ServiceError; those the
agent's API answers carry an RFC 8628 `code`."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import Membership, User
from accounts.permissions import can_manage, memberships_managed_by
from accounts.services import otp_verify
from codexhub.errors import ServiceError
from devices.models import Host, HostState, PairingRequest, PairingState
from devices.services import TOKEN_PREFIX, host_audit, host_for_token, presence_broadcast, secret_hash

# 20 consonants (RFC 8628's, no vowels so no words) and 2-9: 28^8 = 2^38.5.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"
USER_CODE_LENGTH = 8
DEVICE_CODE_LENGTH = 43

PAIRING_CODE_INVALID = "That is not a valid code. Codes look like WDJB-MJHT."
PAIRING_CODE_UNKNOWN = "No pairing request with this code. Check the code on the host."
PAIRING_CODE_EXPIRED = "This code has expired: run `codexhub-agent pair` on the host again."
PAIRING_CODE_USED = "This code was already used."
PAIRING_NOT_MANAGER = "Only the team's owners and admins can add hosts to it."
PAIRING_NO_MANAGED_TEAM = "Only a team's owners and admins can add hosts; ask one of them."
PAIRING_LIMIT_IP = "Too many pairing requests from this address are waiting. Finish or let them expire."
PAIRING_REQUEST_EXPIRED = "The pairing request expired. Run `codexhub-agent pair` again."
PAIRING_LIMIT_GLOBAL = "Too many pairing requests are waiting on this hub. Try again later."


# The host starts ----------------------------------------------------------------


@dataclass(frozen=True)
class PairingStarted:
    pairing: PairingRequest
    device_code: str


def pairing_start(*, name: str, platform: str, agent_version: str, ip: str) -> PairingStarted:
    now = timezone.now()
    pending = PairingRequest.objects.filter(state=PairingState.PENDING, expires_at__gt=now)
    if pending.filter(requested_from=ip).count() >= settings.PAIRING_PENDING_PER_IP:
        raise ServiceError(PAIRING_LIMIT_IP, 429, code="rate_limited")
    if pending.count() >= settings.PAIRING_PENDING_GLOBAL:
        raise ServiceError(PAIRING_LIMIT_GLOBAL, 429, code="rate_limited")
    device_code = secrets.token_urlsafe(32)
    for _ in range(5):  # a clash with a live user code is rare (28^8); draw again
        try:
            with transaction.atomic():
                pairing = PairingRequest.objects.create(
                    device_code_hash=secret_hash(device_code),
                    user_code=_new_user_code(),
                    name=name,
                    platform=platform,
                    agent_version=agent_version,
                    requested_from=ip,
                    expires_at=now + timedelta(seconds=settings.PAIRING_TTL),
                    interval=settings.PAIRING_INTERVAL,
                )
            break
        except IntegrityError:
            continue
    else:
        raise ServiceError("Could not draw a free user code.", 503, code="server_error")
    audit_record(action="pairing.requested", target=name, ip=ip, platform=platform)
    return PairingStarted(pairing=pairing, device_code=device_code)


def _new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


@dataclass(frozen=True)
class TokenIssued:
    host: Host
    token: str
    team: str
    approved_by: str
    approved_from: str


def pairing_poll(*, device_code: str) -> TokenIssued:
    """The host's poll. Returns the token exactly once; otherwise raises
    ServiceError with an RFC 8628 code."""
    if not isinstance(device_code, str) or len(device_code) != DEVICE_CODE_LENGTH:
        raise ServiceError("Unknown device code.", code="invalid_grant")
    pairing = PairingRequest.objects.filter(device_code_hash=secret_hash(device_code)).first()
    if pairing is None:
        raise ServiceError("Unknown device code.", code="invalid_grant")
    now = timezone.now()
    if pairing.state in (PairingState.PENDING, PairingState.APPROVED) and pairing.expired:
        raise ServiceError(PAIRING_REQUEST_EXPIRED, code="expired_token")
    _check_poll_interval(pairing, now)
    if pairing.state == PairingState.PENDING:
        raise ServiceError("Waiting for someone to approve on the phone.", code="authorization_pending")
    if pairing.state == PairingState.DENIED:
        raise ServiceError("The pairing was denied on the phone.", code="access_denied")
    if pairing.state != PairingState.APPROVED:
        raise ServiceError("This pairing already issued its token.", code="expired_token")
    return _claim(pairing, now)


def _check_poll_interval(pairing: PairingRequest, now) -> None:
    """A poll passes only if the row still shows the previous poll at least an
    interval ago: of two racing polls that read the same row, one passes."""
    earliest = now - timedelta(seconds=pairing.interval)
    on_time = Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=earliest)
    rows = PairingRequest.objects.filter(on_time, id=pairing.id, interval=pairing.interval)
    if rows.update(last_polled_at=now):
        return
    # RFC 8628 3.5: slow_down adds 5 s to the interval for this and every later
    # poll; F() so that no racing poll's increment is lost.
    PairingRequest.objects.filter(id=pairing.id).update(interval=F("interval") + 5, last_polled_at=now)
    pairing.refresh_from_db(fields=["interval", "last_polled_at"])
    raise ServiceError("Polling too fast.", code="slow_down", extra={"interval": pairing.interval})


def _claim(pairing: PairingRequest, now) -> TokenIssued:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert pairing.host_id is not None  # an approved pairing names its host
    with transaction.atomic():
        # Two racing polls: the conditional update lets exactly one claim the token.
        claimed = PairingRequest.objects.filter(id=pairing.id, state=PairingState.APPROVED).update(
            state=PairingState.CLAIMED
        )
        if claimed != 1:
            raise ServiceError("This pairing already issued its token.", code="expired_token")
        Host.objects.filter(id=pairing.host_id).update(token_hash=secret_hash(token), token_issued_at=now)
    host = Host.objects.select_related("team", "approved_by").get(id=pairing.host_id)
    return TokenIssued(
        host=host,
        token=token,
        team=host.team.name,
        approved_by=host.approved_by.email if host.approved_by else "",
        approved_from=pairing.decided_from or "",
    )


# The phone approves ------------------------------------------------------------------


def user_code_normalize(raw: str) -> str:
    """Read a typed code case-insensitively, ignoring dashes and spaces."""
    code = raw.upper().replace("-", "").replace(" ", "")
    if len(code) != USER_CODE_LENGTH or any(char not in USER_CODE_ALPHABET for char in code):
        raise ServiceError(PAIRING_CODE_INVALID, 400)
    return code


def pairing_lookup(*, user_code: str) -> PairingRequest:
    """The pending request a typed code names; raises ServiceError (400 for
    what cannot be a code, else 404)."""
    code = user_code_normalize(user_code)
    pairing = PairingRequest.objects.filter(user_code=code, state=PairingState.PENDING).first()
    if pairing is None:
        used = PairingRequest.objects.filter(user_code=code).exists()
        raise ServiceError(PAIRING_CODE_USED if used else PAIRING_CODE_UNKNOWN, 404)
    if pairing.expired:
        raise ServiceError(PAIRING_CODE_EXPIRED, 404)
    return pairing


def pairing_approve(*, pairing: PairingRequest, actor: Membership, otp_code: str, ip: str) -> Host:
    """Approve into the actor's team after checking their TOTP code.

    Raises ServiceError: 403 (not an admin), 400 (wrong code) or 409 (no
    longer pending)."""
    if not can_manage(actor):
        raise ServiceError(PAIRING_NOT_MANAGER, 403)
    otp_verify(user=actor.user, code=otp_code)
    now = timezone.now()
    with transaction.atomic():
        decided = PairingRequest.objects.filter(
            id=pairing.id, state=PairingState.PENDING, expires_at__gt=now
        ).update(
            state=PairingState.APPROVED,
            team=actor.team,
            decided_by=actor.user,
            decided_from=ip,
            decided_at=now,
        )
        if decided != 1:
            raise ServiceError(PAIRING_CODE_USED, 409)
        host = Host.objects.create(
            team=actor.team,
            name=pairing.name,
            platform=pairing.platform,
            agent_version=pairing.agent_version,
            approved_by=actor.user,
        )
        PairingRequest.objects.filter(id=pairing.id).update(host=host)
        host_audit(
            host=host,
            action="pairing.approved",
            actor=actor.user,
            ip=ip,
            requested_from=pairing.requested_from,
        )
    return host


def pairing_may_decide(*, user: User) -> bool:
    """Whether the user may see a pairing request's details and decide on it:
    an owner or admin of at least one team."""
    return memberships_managed_by(user=user).exists()


def pairing_deny(*, pairing: PairingRequest, user: User, ip: str) -> None:
    if not pairing_may_decide(user=user):
        raise ServiceError(PAIRING_NO_MANAGED_TEAM, 403)
    now = timezone.now()
    with transaction.atomic():
        decided = PairingRequest.objects.filter(id=pairing.id, state=PairingState.PENDING).update(
            state=PairingState.DENIED, decided_by=user, decided_from=ip, decided_at=now
        )
        if decided != 1:
            raise ServiceError(PAIRING_CODE_USED, 409)
        audit_record(action="pairing.denied", actor=user, target=pairing.name, ip=ip)


# The host confirms --------------------------------------------------------------------


def host_confirm(*, token: str) -> Host:
    host = _unconfirmed_host(token)
    with transaction.atomic():
        done = Host.objects.filter(id=host.id, state=HostState.UNCONFIRMED).update(
            state=HostState.ACTIVE, confirmed_at=timezone.now()
        )
        if done != 1:
            raise ServiceError("This token cannot be confirmed.", 401, code="invalid_token")
        PairingRequest.objects.filter(host=host).update(state=PairingState.CONFIRMED)
        host_audit(host=host, action="host.confirmed")
    host.refresh_from_db()
    presence_broadcast(host=host)  # a Hosts page open since the approval stops saying Pending
    return host


def host_reject(*, token: str) -> None:
    host = _unconfirmed_host(token)
    with transaction.atomic():
        Host.objects.filter(id=host.id, state=HostState.UNCONFIRMED).update(state=HostState.REJECTED)
        PairingRequest.objects.filter(host=host).update(state=PairingState.REJECTED_BY_HOST)
        host_audit(host=host, action="host.rejected_by_host")


def _unconfirmed_host(token: str) -> Host:
    host = host_for_token(token=token, states=(HostState.UNCONFIRMED,))
    if host is None:
        raise ServiceError("Unknown, revoked or already confirmed token.", 401, code="invalid_token")
    assert host.token_issued_at is not None  # an unconfirmed host holds the token it was issued
    deadline = host.token_issued_at + timedelta(seconds=settings.PAIRING_TTL)
    if deadline <= timezone.now():
        raise ServiceError("Too late to confirm: run `codexhub-agent pair` again.", 410, code="expired_token")
    return host
