"""Managing a host from the phone (docs/protocol.md, "Managing a host"): the folders it lets the
phone pick from (host_folders_request), sharing one of them (host_project_add), no longer sharing
a project (host_project_remove), restarting its agent (host_agent_restart). One function per verb.

Only the team's owners and admins manage a host, and only a host whose agent.toml allows it
(`manage` among its capabilities); anyone else is refused before anything is sent. Each request
is a ManageAction, sent as a `host.manage` built through protocol.manage.ManageRequest, and again
on every link open (manage_resends) until its `host.manage_result` comes back
(manage_result_apply), or it fails after MANAGE_TTL (manage_actions_expire). The host checks
every request again itself: the hub asks, the host decides."""

import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import ValidationError

from accounts.groups import team_group
from accounts.models import Membership, User
from accounts.permissions import role_can_manage
from codexhub.errors import ServiceError
from codexhub.events import group_send_on_commit
from devices.handlers import handles
from devices.models import Host
from devices.services import host_audit, host_group
from projects.models import (
    ManageAction,
    ManageActionKind,
    ManageActionState,
    Project,
)
from protocol import limits
from protocol.base import reason
from protocol.manage import ManageRequest, ManageResult
from protocol.text import CONTROL, unencodable

MANAGE_TTL = 600  # seconds a request may wait for its host before it fails
FOLDERS_FRESH = 10  # seconds a folder list stands for a new one
HOST_DID_NOT_ANSWER = "the host did not answer"

NO_SUCH_HOST = "No such host."
ONLY_MANAGERS = "Only the team's owners and admins may manage {host}."
NOT_ALLOWED = (
    "{host} does not let the hub manage it. To allow it, add [manage] with allow = true and the "
    "folders to pick from (roots) to its agent.toml."
)
NOT_ACTIVE = "{host} is not an active host."
ONE_AT_A_TIME = "Waiting for {host} to answer: {action}. One change at a time."
NOT_LISTED = "Pick a folder from the list {host} gave: that one is not in it."
SHARED_ALREADY = "{path} is shared already, as {project}."
NAME_EMPTY = "Give the project a name."
NAME_TOO_LONG = f"A project name has at most {limits.MAX_PROJECT_NAME} characters."
NAME_BAD = "A project name must not contain / or control characters."
NAME_TAKEN = "{host} shares a project named {name} already: choose another name."
NOT_SENT = "Not sent: {reason}."

AUDITED = (ManageActionKind.ADD_PROJECT, ManageActionKind.REMOVE_PROJECT, ManageActionKind.RESTART)


def may_manage(*, user: User, host: Host) -> bool:
    """Whether the user owns or administers the host's team."""
    role = Membership.objects.filter(user=user, team_id=host.team_id).values_list("role", flat=True).first()
    return role_can_manage(role)


def manageable(host: Host) -> bool:
    """Whether the host's agent.toml lets the hub manage it, as its last hello said."""
    return host.is_active and "manage" in (host.capabilities or [])


def host_manager_check(*, user: User, host: Host) -> None:
    """404 outside the team, 403 for a member, 409 for a host that does not allow it."""
    if not Membership.objects.filter(user=user, team_id=host.team_id).exists():
        raise ServiceError(NO_SUCH_HOST, status=404)
    if not may_manage(user=user, host=host):
        raise ServiceError(ONLY_MANAGERS.format(host=host.name), status=403)
    if not host.is_active:
        raise ServiceError(NOT_ACTIVE.format(host=host.name), status=409)
    if not manageable(host):
        raise ServiceError(NOT_ALLOWED.format(host=host.name), status=409)


def _send(*, user: User, host: Host, action: str, fields: dict) -> ManageAction:
    request = secrets.token_urlsafe(24)
    try:
        message = ManageRequest.model_validate({"request": request, "action": action, **fields})
    except ValidationError as exc:  # the checks above should have said why in the person's words
        raise ServiceError(NOT_SENT.format(reason=reason(exc))) from None
    wire = message.wire()
    try:
        with transaction.atomic():
            sent = ManageAction.objects.create(
                team_id=host.team_id,
                host=host,
                action=action,
                request=request,
                params=wire,
                requested_by=user,
            )
    except IntegrityError:  # another change (or list) of this host waits already
        pending = ManageAction.objects.filter(host=host, state=ManageActionState.PENDING).first()
        label = (pending.get_action_display() if pending else ManageActionKind(action).label).lower()
        raise ServiceError(ONE_AT_A_TIME.format(host=host.name, action=label), status=409) from None
    if action in AUDITED:
        detail = {key: wire[key] for key in ("name", "path") if key in wire}
        host_audit(host=host, action=f"host.manage.{action}.requested", actor=user, request=request, **detail)
    group_send_on_commit(host_group(host.id), wire)  # now if online; else when its link opens
    return sent


# What the phone asks ------------------------------------------------------------------------------


def folders_latest(*, host: Host) -> ManageAction | None:
    """The host's latest answered folder list."""
    answered = ManageAction.objects.filter(
        host=host, action=ManageActionKind.FOLDERS, finished_at__isnull=False
    )
    return answered.order_by("-id").first()


def host_folders_request(*, user: User, host: Host) -> ManageAction:
    """Ask the host for the folders under its roots: a list waiting for it, or one answered in
    the last FOLDERS_FRESH seconds, stands for a new one."""
    host_manager_check(user=user, host=host)
    with transaction.atomic():
        Host.objects.select_for_update().filter(id=host.id).first()
        asked = (
            ManageAction.objects.filter(host=host, action=ManageActionKind.FOLDERS).order_by("-id").first()
        )
        fresh_after = timezone.now() - timedelta(seconds=FOLDERS_FRESH)
        if asked is not None and (asked.finished_at is None or asked.finished_at > fresh_after):
            return asked
        return _send(user=user, host=host, action=ManageActionKind.FOLDERS, fields={})


def host_project_add(*, user: User, host: Host, path: str, name: str) -> ManageAction:
    """Share `path`, one of the folders the host listed last, as project `name`."""
    host_manager_check(user=user, host=host)
    name = _project_name(host, name)
    latest = folders_latest(host=host)
    listed = latest.result.get("folders", []) if latest is not None and latest.state == "succeeded" else []
    folder = next((f for f in listed if f.get("path") == path), None)
    if folder is None:
        raise ServiceError(NOT_LISTED.format(host=host.name))
    if folder.get("project"):
        raise ServiceError(SHARED_ALREADY.format(path=path, project=folder["project"]), status=409)
    return _send(
        user=user, host=host, action=ManageActionKind.ADD_PROJECT, fields={"path": path, "name": name}
    )


def _project_name(host: Host, raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name:
        raise ServiceError(NAME_EMPTY)
    if len(name) > limits.MAX_PROJECT_NAME:
        raise ServiceError(NAME_TOO_LONG)
    if "/" in name or CONTROL.search(name) or unencodable(name):
        raise ServiceError(NAME_BAD)
    if Project.objects.filter(host=host, name=name, removed_at__isnull=True).exists():
        raise ServiceError(NAME_TAKEN.format(host=host.name, name=name), status=409)
    return name


def host_project_remove(*, user: User, project: Project) -> ManageAction:
    """Stop sharing the project: its line goes from the host's agent.toml (its files stay)."""
    host = project.host
    host_manager_check(user=user, host=host)
    return _send(user=user, host=host, action=ManageActionKind.REMOVE_PROJECT, fields={"name": project.name})


def host_agent_restart(*, user: User, host: Host) -> ManageAction:
    """Restart the host's agent (it answers first, then runs itself again)."""
    host_manager_check(user=user, host=host)
    return _send(user=user, host=host, action=ManageActionKind.RESTART, fields={})


# What the host answers ---------------------------------------------------------------------------


@handles(ManageResult)
def manage_result_apply(*, host_id: int, message: ManageResult) -> None:
    """A host's `host.manage_result`. One the hub does not know (or another host's), or already
    has, is ignored. (A project added or removed arrives as the host's `mirror.projects`.)"""
    action = (
        ManageAction.objects.select_for_update(of=("self",))
        .select_related("host__team")
        .filter(request=message.request, host_id=host_id)
        .first()
    )
    if action is None or not action.pending:
        return
    error = "" if message.ok else (message.error or "the host gave no reason")
    _finish(action, ok=message.ok, error=error, result=message.model_dump(mode="json"))


def _finish(action: ManageAction, *, ok: bool, error: str, result: dict) -> None:
    action.state = ManageActionState.SUCCEEDED if ok else ManageActionState.FAILED
    action.error, action.result, action.finished_at = error, result, timezone.now()
    action.save(update_fields=["state", "error", "result", "finished_at"])
    if action.action in AUDITED:
        failure: dict[str, object] = {} if ok else {"error": error[:500]}
        audited = f"host.manage.{action.action}.{action.state}"
        host_audit(host=action.host, action=audited, actor=None, request=action.request, **failure)
    # The host's management pages fetch their live part again.
    group_send_on_commit(team_group(action.team_id), {"type": "projects.changed", "host": action.host_id})


def manage_resends(*, host_id: int) -> list[dict]:
    """The requests a host whose link just opened has not answered, oldest first."""
    pending = ManageAction.objects.filter(host_id=host_id, state=ManageActionState.PENDING).order_by("id")
    return [action.params for action in pending]


def manage_actions_expire(*, now=None) -> int:
    """Fail the requests pending longer than MANAGE_TTL: the host did not answer."""
    deadline = (now or timezone.now()) - timedelta(seconds=MANAGE_TTL)
    expired = 0
    stale = ManageAction.objects.filter(state=ManageActionState.PENDING, created_at__lte=deadline)
    for action_id in stale.values_list("id", flat=True):
        with transaction.atomic():
            action = (
                ManageAction.objects.select_for_update(of=("self",))
                .select_related("host__team")
                .get(id=action_id)
            )
            if action.pending:
                _finish(action, ok=False, error=HOST_DID_NOT_ANSWER, result={})
                expired += 1
    return expired


# What the pages read ------------------------------------------------------------------------------


def manage_latest(*, host: Host) -> ManageAction | None:
    """The host's latest change (not a folder list): pending, or what became of it."""
    changes = ManageAction.objects.filter(host=host).exclude(action=ManageActionKind.FOLDERS)
    return changes.select_related("requested_by").order_by("-id").first()
