"""Hosts: their tokens, what a team's managers do to them, presence on the
phones, and the sequenced messages of the link (applied exactly once).
Pairing is in devices.pairing, the link's bookkeeping in devices.link."""

import hashlib
import ipaddress
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.groups import team_group
from accounts.models import Membership, User
from accounts.permissions import can_manage
from accounts.services import otp_verify
from codexhub.errors import ServiceError
from codexhub.events import group_send_on_commit
from devices.limits import LogBudget
from devices.models import Host, HostState, HostStream, RefusedMessage

TOKEN_PREFIX = "chub_"
TOKEN_LENGTH = len(TOKEN_PREFIX) + 43  # secrets.token_urlsafe(32)
HOST_NOT_MANAGER = "Only the team's owners and admins can rename or revoke hosts."


# Host tokens ----------------------------------------------------------------------------


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def host_for_token(*, token: str, states=(HostState.ACTIVE,)) -> Host | None:
    """The host a token belongs to, if it is in one of `states`."""
    if not isinstance(token, str) or len(token) != TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        return None
    return Host.objects.select_related("team").filter(token_hash=secret_hash(token), state__in=states).first()


# Managing hosts -------------------------------------------------------------------------


def host_audit(*, host: Host, action: str, actor: User | None = None, **detail: Any) -> None:
    """An audit log entry for the host's team, naming the host."""
    audit_record(action=action, team=host.team, actor=actor, target=f"host {host.id} {host.name}", **detail)


def hosts_for_team(*, team_id: int):
    live_projects = Count("projects", filter=Q(projects__removed_at__isnull=True))
    return (
        Host.objects.filter(team_id=team_id, state=HostState.ACTIVE)
        .annotate(project_count=live_projects)
        .order_by("name", "id")
    )


def hosts_pending_for_team(*, team_id: int):
    """Hosts approved on the phone whose agent has not confirmed yet (and still may:
    an unconfirmed host dies after PAIRING_TTL), newest first."""
    since = timezone.now() - timedelta(seconds=settings.PAIRING_TTL)
    still_open = Q(token_issued_at__isnull=True, created_at__gt=since) | Q(token_issued_at__gt=since)
    return Host.objects.filter(still_open, team_id=team_id, state=HostState.UNCONFIRMED).order_by(
        "-created_at"
    )


def host_rename(*, host: Host, actor: Membership, name: str) -> Host:
    _require_manager(host, actor)
    old = host.name
    host.name = name
    host.save(update_fields=["name"])
    host_audit(host=host, action="host.renamed", actor=actor.user, old=old)
    presence_broadcast(host=host)
    return host


def host_approve_role_set(*, host: Host, actor: Membership, approve_role: str) -> Host:
    """Who may answer the permission requests of the host's agents."""
    _require_manager(host, actor)
    old = host.approve_role
    host.approve_role = approve_role
    host.save(update_fields=["approve_role"])
    host_audit(host=host, action="host.approve_role_changed", actor=actor.user, old=old, new=approve_role)
    return host


def host_git_role_set(*, host: Host, actor: Membership, git_role: str) -> Host:
    """Who may commit, merge, push and discard the changes of the host's tasks."""
    _require_manager(host, actor)
    old = host.git_role
    host.git_role = git_role
    host.save(update_fields=["git_role"])
    host_audit(host=host, action="host.git_role_changed", actor=actor.user, old=old, new=git_role)
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
        host_audit(host=host, action="host.revoked", actor=actor, ip=ip, reason=reason)
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
        raise ServiceError(HOST_NOT_MANAGER, 403)


def host_protocol_refused(*, host: Host, offered: int | None, reason: str, ip: str) -> None:
    """The hub refused the host's link for its protocol version: audited, and counted with
    the host's refused messages for the fleet admin."""
    address = ip if _is_address(ip) else None
    host_audit(host=host, action="host.protocol_refused", ip=address, offered=offered)
    host_message_refused(host_id=host.id, host_name=host.name, reason=reason)


def _is_address(ip: str) -> bool:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True


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
        self.loaded: dict[str, dict] = {}
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
