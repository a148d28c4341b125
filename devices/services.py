"""Pairing hosts, their tokens, presence and the sequenced link: one function per verb."""

import hashlib
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.groups import team_group
from accounts.models import Membership, User
from accounts.permissions import can_manage, memberships_managed_by
from accounts.services import otp_verify
from codexhub.events import group_send_on_commit
from devices.limits import LogBudget
from devices.models import Host, HostState, HostStream, PairingRequest, PairingState, RefusedMessage

# 20 consonants (RFC 8628's, no vowels so no words) and 2-9: 28^8 = 2^38.5.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"
USER_CODE_LENGTH = 8
TOKEN_PREFIX = "chub_"
TOKEN_LENGTH = len(TOKEN_PREFIX) + 43  # secrets.token_urlsafe(32)
DEVICE_CODE_LENGTH = 43

PAIRING_CODE_INVALID = "That is not a valid code. Codes look like WDJB-MJHT."
PAIRING_CODE_UNKNOWN = "No pairing request with this code. Check the code on the host."
PAIRING_CODE_EXPIRED = "This code has expired: run `python -m hostagent pair` on the host again."
PAIRING_CODE_USED = "This code was already used."
PAIRING_NOT_MANAGER = "Only the team's owners and admins can add hosts to it."
PAIRING_NO_MANAGED_TEAM = "Only a team's owners and admins can add hosts; ask one of them."
PAIRING_LIMIT_IP = "Too many pairing requests from this address are waiting. Finish or let them expire."
PAIRING_LIMIT_GLOBAL = "Too many pairing requests are waiting on this hub. Try again later."
HOST_NOT_MANAGER = "Only the team's owners and admins can rename or revoke hosts."


class PairingError(Exception):
    """An RFC 8628 error: `code` is the wire name, `status` the HTTP status."""

    def __init__(self, code: str, description: str, status: int = 400, interval: int | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status
        self.interval = interval


class PairingCodeError(Exception):
    """A user code typed on the phone cannot be used; the message says why."""


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# The host starts ----------------------------------------------------------------


@dataclass(frozen=True)
class PairingStarted:
    pairing: PairingRequest
    device_code: str


def pairing_start(*, name: str, platform: str, agent_version: str, ip: str) -> PairingStarted:
    now = timezone.now()
    pending = PairingRequest.objects.filter(state=PairingState.PENDING, expires_at__gt=now)
    if pending.filter(requested_from=ip).count() >= settings.PAIRING_PENDING_PER_IP:
        raise PairingError("rate_limited", PAIRING_LIMIT_IP, status=429)
    if pending.count() >= settings.PAIRING_PENDING_GLOBAL:
        raise PairingError("rate_limited", PAIRING_LIMIT_GLOBAL, status=429)
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
        raise PairingError("server_error", "Could not draw a free user code.", status=503)
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
    """The host's poll. Returns the token exactly once; raises PairingError otherwise."""
    if not isinstance(device_code, str) or len(device_code) != DEVICE_CODE_LENGTH:
        raise PairingError("invalid_grant", "Unknown device code.")
    pairing = PairingRequest.objects.filter(device_code_hash=secret_hash(device_code)).first()
    if pairing is None:
        raise PairingError("invalid_grant", "Unknown device code.")
    now = timezone.now()
    if pairing.state in (PairingState.PENDING, PairingState.APPROVED) and pairing.expired:
        raise PairingError("expired_token", "The pairing request expired. Run `hostagent pair` again.")
    _check_poll_interval(pairing, now)
    if pairing.state == PairingState.PENDING:
        raise PairingError("authorization_pending", "Waiting for someone to approve on the phone.")
    if pairing.state == PairingState.DENIED:
        raise PairingError("access_denied", "The pairing was denied on the phone.")
    if pairing.state != PairingState.APPROVED:
        raise PairingError("expired_token", "This pairing already issued its token.")
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
    raise PairingError("slow_down", "Polling too fast.", interval=pairing.interval)


def _claim(pairing: PairingRequest, now) -> TokenIssued:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        # Two racing polls: the conditional update lets exactly one claim the token.
        claimed = PairingRequest.objects.filter(id=pairing.id, state=PairingState.APPROVED).update(
            state=PairingState.CLAIMED
        )
        if claimed != 1:
            raise PairingError("expired_token", "This pairing already issued its token.")
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
        raise PairingCodeError(PAIRING_CODE_INVALID)
    return code


def pairing_lookup(*, user_code: str) -> PairingRequest:
    """The pending request a typed code names; raises PairingCodeError."""
    code = user_code_normalize(user_code)
    pairing = PairingRequest.objects.filter(user_code=code, state=PairingState.PENDING).first()
    if pairing is None:
        used = PairingRequest.objects.filter(user_code=code).exists()
        raise PairingCodeError(PAIRING_CODE_USED if used else PAIRING_CODE_UNKNOWN)
    if pairing.expired:
        raise PairingCodeError(PAIRING_CODE_EXPIRED)
    return pairing


def pairing_approve(*, pairing: PairingRequest, actor: Membership, otp_code: str, ip: str) -> Host:
    """Approve into the actor's team after checking their TOTP code.

    Raises PermissionDenied (not an admin), OTPError (wrong code) or
    PairingCodeError (no longer pending)."""
    if not can_manage(actor):
        raise PermissionDenied(PAIRING_NOT_MANAGER)
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
            raise PairingCodeError(PAIRING_CODE_USED)
        host = Host.objects.create(
            team=actor.team,
            name=pairing.name,
            platform=pairing.platform,
            agent_version=pairing.agent_version,
            approved_by=actor.user,
        )
        PairingRequest.objects.filter(id=pairing.id).update(host=host)
        audit_record(
            action="pairing.approved",
            team=actor.team,
            actor=actor.user,
            target=f"host {host.id} {host.name}",
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
        raise PermissionDenied(PAIRING_NO_MANAGED_TEAM)
    now = timezone.now()
    with transaction.atomic():
        decided = PairingRequest.objects.filter(id=pairing.id, state=PairingState.PENDING).update(
            state=PairingState.DENIED, decided_by=user, decided_from=ip, decided_at=now
        )
        if decided != 1:
            raise PairingCodeError(PAIRING_CODE_USED)
        audit_record(action="pairing.denied", actor=user, target=pairing.name, ip=ip)


# The host confirms ---------------------------------------------------------------------


def host_for_token(*, token: str, states=(HostState.ACTIVE,)) -> Host | None:
    """The host a token belongs to, if it is in one of `states`."""
    if not isinstance(token, str) or len(token) != TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        return None
    return Host.objects.select_related("team").filter(token_hash=secret_hash(token), state__in=states).first()


def host_confirm(*, token: str) -> Host:
    host = _unconfirmed_host(token)
    with transaction.atomic():
        done = Host.objects.filter(id=host.id, state=HostState.UNCONFIRMED).update(
            state=HostState.ACTIVE, confirmed_at=timezone.now()
        )
        if done != 1:
            raise PairingError("invalid_token", "This token cannot be confirmed.", status=401)
        PairingRequest.objects.filter(host=host).update(state=PairingState.CONFIRMED)
        audit_record(action="host.confirmed", team=host.team, target=f"host {host.id} {host.name}")
    host.refresh_from_db()
    return host


def host_reject(*, token: str) -> None:
    host = _unconfirmed_host(token)
    with transaction.atomic():
        Host.objects.filter(id=host.id, state=HostState.UNCONFIRMED).update(state=HostState.REJECTED)
        PairingRequest.objects.filter(host=host).update(state=PairingState.REJECTED_BY_HOST)
        audit_record(action="host.rejected_by_host", team=host.team, target=f"host {host.id} {host.name}")


def _unconfirmed_host(token: str) -> Host:
    host = host_for_token(token=token, states=(HostState.UNCONFIRMED,))
    if host is None:
        raise PairingError("invalid_token", "Unknown, revoked or already confirmed token.", status=401)
    deadline = host.token_issued_at + timedelta(seconds=settings.PAIRING_TTL)
    if deadline <= timezone.now():
        raise PairingError("expired_token", "Too late to confirm: run `hostagent pair` again.", status=410)
    return host


# Managing hosts -------------------------------------------------------------------------


def hosts_for_team(*, team_id: int):
    live_projects = Count("projects", filter=Q(projects__removed_at__isnull=True))
    return (
        Host.objects.filter(team_id=team_id, state=HostState.ACTIVE)
        .annotate(project_count=live_projects)
        .order_by("name", "id")
    )


def host_get(*, user: User, host_id: int) -> Host:
    """A host of one of the user's teams (any state), or Host.DoesNotExist."""
    return Host.objects.visible_to(user).select_related("team").get(id=host_id)


def host_rename(*, host: Host, actor: Membership, name: str) -> Host:
    _require_manager(host, actor)
    old = host.name
    host.name = name
    host.save(update_fields=["name"])
    audit_record(
        action="host.renamed", team=host.team, actor=actor.user, target=f"host {host.id} {name}", old=old
    )
    presence_broadcast(host=host)
    return host


def host_approve_role_set(*, host: Host, actor: Membership, approve_role: str) -> Host:
    """Who may answer the permission requests of the host's agents."""
    _require_manager(host, actor)
    old = host.approve_role
    host.approve_role = approve_role
    host.save(update_fields=["approve_role"])
    audit_record(
        action="host.approve_role_changed",
        team=host.team,
        actor=actor.user,
        target=f"host {host.id} {host.name}",
        old=old,
        new=approve_role,
    )
    return host


def host_revoke(*, host: Host, actor: User | None, ip: str | None = None, reason: str = "revoked") -> bool:
    """Refuse the host's token from now on and close its live link at once.

    Returns False if it was already revoked."""
    with transaction.atomic():
        done = (
            Host.objects.filter(id=host.id)
            .exclude(state=HostState.REVOKED)
            .update(state=HostState.REVOKED, revoked_at=timezone.now(), link_channel="")
        )
        if done != 1:
            return False
        audit_record(
            action="host.revoked",
            team=host.team,
            actor=actor,
            target=f"host {host.id} {host.name}",
            ip=ip,
            reason=reason,
        )
        group_send_on_commit(host_group(host.id), {"type": "host.revoke"})
    host.refresh_from_db()
    presence_broadcast(host=host)
    return True


def host_revoke_by_manager(*, host: Host, actor: Membership, otp_code: str, ip: str) -> bool:
    _require_manager(host, actor)
    otp_verify(user=actor.user, code=otp_code)
    return host_revoke(host=host, actor=actor.user, ip=ip)


def _require_manager(host: Host, actor: Membership) -> None:
    if actor.team_id != host.team_id or not can_manage(actor):
        raise PermissionDenied(HOST_NOT_MANAGER)


# Presence and the live link -------------------------------------------------------------------


def host_group(host_id: int) -> str:
    return f"host.{host_id}"


def host_state_for_ui(host: Host) -> dict:
    return {
        "id": host.id,
        "team_id": host.team_id,
        "name": host.name,
        "online": host.online and host.is_active,
        "state": host.state,
        "last_seen_at": host.last_seen_at.isoformat() if host.last_seen_at else None,
    }


def presence_broadcast(*, host: Host) -> None:
    """Tell the phones of the host's team, once the change is committed."""
    message = {"type": "host.presence", "host": host_state_for_ui(host)}
    group_send_on_commit(team_group(host.team_id), message)


def host_link_opened(*, host_id: int, channel_name: str) -> tuple[Host, str] | None:
    """Record the new live link; returns the host and the channel of the link it
    replaces ("" if none), which the caller closes: the newest link wins.
    None if the host was revoked meanwhile."""
    with transaction.atomic():
        host = Host.objects.select_for_update().select_related("team").get(id=host_id)
        if host.state != HostState.ACTIVE:
            return None
        previous = host.link_channel
        host.link_channel = channel_name
        host.last_seen_at = timezone.now()
        host.save(update_fields=["link_channel", "last_seen_at"])
        presence_broadcast(host=host)
    return host, previous if previous != channel_name else ""


def host_link_closed(*, host_id: int, channel_name: str) -> None:
    with transaction.atomic():
        # Only the link that is current may mark the host offline: a replaced
        # link closing late must not hide its successor.
        closed = Host.objects.filter(id=host_id, link_channel=channel_name).update(
            link_channel="", last_seen_at=timezone.now()
        )
        if closed:
            presence_broadcast(host=Host.objects.get(id=host_id))


LINK_OK, LINK_REVOKED, LINK_REPLACED = "ok", "revoked", "replaced"


def hosts_seen(*, links: dict[int, str]) -> dict[int, str]:
    """Presence of many links at once, written coalesced (devices.presence):
    `links` maps a host to the channel of the link heard from. Refreshes
    last_seen_at of those still current in two queries, and returns, for the
    others, LINK_REVOKED or LINK_REPLACED: what a lost channel message might
    not have said."""
    if not links:
        return {}
    rows = Host.objects.filter(id__in=links).values_list("id", "state", "link_channel")
    current, lost = [], {}
    for host_id, state, channel in rows:
        if state != HostState.ACTIVE:
            lost[host_id] = LINK_REVOKED
        elif channel != links[host_id]:
            lost[host_id] = LINK_REPLACED
        else:
            current.append(host_id)
    lost.update({host_id: LINK_REVOKED for host_id in links.keys() - {row[0] for row in rows}})
    if current:
        Host.objects.filter(id__in=current).update(last_seen_at=timezone.now())
    return lost


def stream_positions(*, host_id: int) -> dict[str, int]:
    return dict(HostStream.objects.filter(host_id=host_id).values_list("name", "last_seq"))


# Sequenced messages ------------------------------------------------------------------------

APPLIED, DUPLICATE, GAP, REJECTED = "applied", "duplicate", "gap", "rejected"
apply_logger = logging.getLogger("devices.apply")


@dataclass(frozen=True)
class Incoming:
    """One sequenced message from a host, its envelope already checked."""

    host_id: int
    stream: str
    seq: int
    kind: str
    payload: object  # an object when the host keeps to the protocol


@dataclass(frozen=True)
class ApplyResult:
    outcome: str
    expected: int = 0
    error: str = ""


def host_messages_apply(*, messages: list[Incoming]) -> list[ApplyResult]:
    """Apply sequenced messages, from one link or several, exactly once and in
    order, in one transaction (group commit): each message's effect and its
    stream's position are committed together, so a redelivery is a no-op and
    the caller acks only what this returns.

    A message that can't be applied (unknown type, refused by its handler,
    or breaking a constraint) is consumed as REJECTED: its seq is taken, so it
    never blocks its stream or sits in the agent's outbox for ever. The batch
    runs first as one (handlers share a Batch: rows loaded once, rows written
    at once); if anything in it fails, it is rolled back and run again with
    each message in a savepoint and a Batch of its own."""
    try:
        with transaction.atomic():
            return _apply_in_order(messages, isolate=False)
    except _Isolate:
        pass
    with transaction.atomic():
        return _apply_in_order(messages, isolate=True)


def host_message_apply(*, host_id: int, stream: str, seq: int, kind: str, payload: dict) -> ApplyResult:
    """One message on its own: host_messages_apply of one."""
    message = Incoming(host_id=host_id, stream=stream, seq=seq, kind=kind, payload=payload)
    return host_messages_apply(messages=[message])[0]


class _Isolate(Exception):
    """A message of the batch failed: roll the batch back and run it isolated."""


class Batch:
    """What the handlers of the messages applied together share: rows they all
    read, loaded in one query for the whole batch (`load`), and rows they all
    write, inserted in one statement before the commit (`defer`)."""

    def __init__(self, messages: list[Incoming]):
        self.messages = messages
        self.loaded: dict[str, object] = {}
        self.deferred: dict[str, tuple[list, Callable[[list], None]]] = {}

    def load(self, key: str, loader: Callable[[list[Incoming]], dict]) -> dict:
        if key not in self.loaded:
            self.loaded[key] = loader(self.messages)
        return self.loaded[key]

    def forget(self, key: str) -> None:
        self.loaded.pop(key, None)

    def defer(self, key: str, row: object, write: Callable[[list], None]) -> None:
        self.deferred.setdefault(key, ([], write))[0].append(row)

    def flush(self) -> None:
        for rows, write in self.deferred.values():
            write(rows)
        self.deferred = {}


_applying = threading.local()


def current_batch() -> Batch:
    """The batch being applied in this thread (handlers run only inside one)."""
    return _applying.batch


def _apply_in_order(messages: list[Incoming], *, isolate: bool) -> list[ApplyResult]:
    positions = _locked_positions({(m.host_id, m.stream) for m in messages})
    batch = Batch(messages)  # isolated, each message has a batch of its own (_apply_one)
    results, moved = [], {}
    for message in messages:
        position = positions[(message.host_id, message.stream)]
        if message.seq <= position.last_seq:
            results.append(ApplyResult(DUPLICATE))
            continue
        if message.seq != position.last_seq + 1:
            results.append(ApplyResult(GAP, expected=position.last_seq + 1))
            continue
        results.append(_apply_one(message) if isolate else _apply_fast(message, batch))
        position.last_seq = message.seq
        moved[position.id] = position
    try:
        batch.flush()
    except Exception as exc:
        raise _Isolate from exc
    if moved:
        _positions_move(moved.values())
    return results


@dataclass
class _Position:
    id: int
    last_seq: int


def _positions_move(positions) -> None:
    """One executemany: bulk_update's CASE over hundreds of rows cost a tenth of a batch."""
    table = connection.ops.quote_name(HostStream._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET last_seq = %s WHERE id = %s",  # noqa: S608 (names quoted, values bound)
            [(position.last_seq, position.id) for position in positions],
        )


def _locked_positions(keys: set[tuple[int, str]]) -> dict[tuple[int, str], _Position]:
    """The positions of these (host, stream) pairs, created if new, locked
    until the commit (in id order, so that two hub processes never deadlock).
    Plain rows, not models: a batch reads a few hundred."""
    hosts, names = {host for host, _ in keys}, {name for _, name in keys}
    rows = HostStream.objects.select_for_update().filter(host_id__in=hosts, name__in=names).order_by("id")
    columns = ("id", "host_id", "name", "last_seq")
    found = {(host, name): _Position(id, seq) for id, host, name, seq in rows.values_list(*columns)}
    missing = keys - found.keys()
    if missing:
        new = [HostStream(host_id=host, name=name) for host, name in missing]
        HostStream.objects.bulk_create(new, ignore_conflicts=True)
        found = {(host, name): _Position(id, seq) for id, host, name, seq in rows.values_list(*columns)}
    return found


PAYLOAD_NOT_AN_OBJECT = "payload must be an object"


def _unappliable(message: Incoming) -> ApplyResult | None:
    """REJECTED for a message no handler can take, before anything runs."""
    from devices.handlers import UnknownMessage, handler_for

    if not isinstance(message.payload, dict):
        return ApplyResult(REJECTED, error=PAYLOAD_NOT_AN_OBJECT)
    try:
        handler_for(message.stream, message.kind)
    except UnknownMessage as exc:
        return ApplyResult(REJECTED, error=str(exc))
    return None


def _apply_fast(message: Incoming, batch: Batch) -> ApplyResult:
    from devices.handlers import handler_for

    if refused := _unappliable(message):
        return refused
    handler = handler_for(message.stream, message.kind)
    _applying.batch = batch
    try:
        handler(host_id=message.host_id, payload=message.payload)
    except Exception as exc:
        raise _Isolate from exc
    finally:
        _applying.batch = None
    return ApplyResult(APPLIED)


def _apply_one(message: Incoming) -> ApplyResult:
    """One message in a savepoint and a batch of its own: what it wrote is
    undone if it fails, and no other message sees what it loaded."""
    from devices.handlers import InvalidMessage, handler_for

    if refused := _unappliable(message):
        return refused
    handler = handler_for(message.stream, message.kind)
    _applying.batch = batch = Batch([message])
    try:
        with transaction.atomic():
            handler(host_id=message.host_id, payload=message.payload)
            batch.flush()
    except InvalidMessage as exc:
        return ApplyResult(REJECTED, error=str(exc))
    except DatabaseError as exc:
        if not _refused_by_data(exc):
            raise  # the database is down or busy: nothing is taken, the agent sends it again
        return ApplyResult(REJECTED, error=_failure(message, exc))
    except Exception as exc:
        return ApplyResult(REJECTED, error=_failure(message, exc))
    finally:
        _applying.batch = None
    return ApplyResult(APPLIED)


def _refused_by_data(exc: DatabaseError) -> bool:
    """A constraint or a value the database refuses, as opposed to an outage."""
    return isinstance(exc, DataError | IntegrityError)


def _failure(message: Incoming, exc: Exception) -> str:
    """A handler broke on this message: a bug or a hostile message the checks
    missed. Logged in full here; the host and the admin get the kind of failure."""
    apply_logger.error(
        "host %s: %s seq %s on %s could not be applied",
        message.host_id, printable(message.kind, 64), message.seq, printable(message.stream, 32),
        exc_info=exc,
    )  # fmt: skip
    return f"could not be applied ({type(exc).__name__})"


# Refused messages ---------------------------------------------------------------------------

refusal_logger = logging.getLogger("devices.refused")
refusal_budget = LogBudget()
REFUSED_TEXT = 200


def printable(value: object, limit: int = REFUSED_TEXT) -> str:
    """Host-sent text fit for a log line: control characters escaped, cut to `limit`."""
    if value is None:
        return ""
    if not isinstance(value, str | int):
        return f"<{type(value).__name__}>"
    text = str(value)[:limit]
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def host_message_refused(
    *, host_id: int, host_name: str, reason: str, stream: object = "", seq: object = None, kind: object = ""
) -> None:
    """Count a frame or upload the hub refused from a host, and within a budget
    per host (HOST_REFUSED_LOG_PER_MINUTE) log it and keep it for the admin."""
    reason, stream, kind = printable(reason), printable(stream, 32), printable(kind, 64)
    now = timezone.now()
    Host.objects.filter(id=host_id).update(
        refused_count=F("refused_count") + 1, last_refused_at=now, last_refused_reason=reason
    )
    logged, earlier = refusal_budget.take(host_id, settings.HOST_REFUSED_LOG_PER_MINUTE)
    if earlier:
        _log_more_refused(host_id, host_name, earlier)
    if not logged:
        return
    refusal_logger.warning(
        "host %s (%s) refused: stream=%s type=%s seq=%s: %s",
        host_id, printable(host_name, 64), stream or "-", kind or "-", printable(seq, 24) or "-", reason,
    )  # fmt: skip
    valid_seq = seq if type(seq) is int and 0 <= seq < 2**63 else None
    RefusedMessage.objects.create(
        host_id=host_id, at=now, stream=stream, seq=valid_seq, kind=kind, reason=reason
    )
    oldest_kept = (
        RefusedMessage.objects.filter(host_id=host_id)
        .order_by("-id")
        .values_list("id", flat=True)[settings.HOST_REFUSED_KEEP - 1 : settings.HOST_REFUSED_KEEP]
    )
    RefusedMessage.objects.filter(host_id=host_id, id__lt=oldest_kept).delete()


def host_refusals_flush(*, host_id: int, host_name: str) -> None:
    """The summary line of what the budget kept quiet, when a link closes."""
    more = refusal_budget.flush(host_id)
    if more:
        _log_more_refused(host_id, host_name, more)


def _log_more_refused(host_id: int, host_name: str, more: int) -> None:
    refusal_logger.warning(
        "host %s (%s) refused: and %d more not logged", host_id, printable(host_name, 64), more
    )
