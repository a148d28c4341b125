"""/ws/ui/: the phone's live socket, hub-wide. It joins one group per team of
the user, one for the user and one for the session, and the groups of the
projects and tasks a page subscribes to; the apps send their events there.
It sits above the apps (beside codexhub.asgi) and reads their current state
through their selectors."""

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.groups import session_group, team_group, user_group
from accounts.services import otp_session_is_verified, teams_for_user
from codexhub.consumers import DirectDispatch
from devices.services import host_group, host_state_for_ui, hosts_for_team
from projects.models import Project
from projects.services import mirror_changes_seen, project_group
from protocol.paths import path_error
from tasks.live import watch_message, watched_task_host
from tasks.models import Task
from tasks.selectors import task_get
from tasks.services import task_group


@database_sync_to_async
def _can_see_project(user, project_id: int) -> bool:
    return Project.objects.visible_to(user).filter(id=project_id).exists()


@database_sync_to_async
def _can_see_task(user, task_id: int) -> bool:
    try:
        task_get(user=user, task_id=task_id)
    except Task.DoesNotExist:
        return False
    return True


@database_sync_to_async
def _session_state(user, device_id):
    """The current state a page needs on (re)connect, or None if refused: a
    session that has not passed a second factor (or has none) gets nothing."""
    if not otp_session_is_verified(user=user, device_id=device_id):
        return None
    teams = list(teams_for_user(user=user).values("id", "name"))
    hosts = [host_state_for_ui(h) for team in teams for h in hosts_for_team(team_id=team["id"])]
    return teams, hosts


def _page_scope(content: dict) -> dict[str, str] | None:
    """What a page that follows a project shows: a folder ("" for the top), a
    file's path, or neither (the whole project); None if it names a bad one."""
    for key in ("folder", "path"):
        if key in content:
            value = content[key]
            if not isinstance(value, str) or (value and path_error(value)) or (key == "path" and not value):
                return None
            return {key: value}
    return {}


# What a page may subscribe to: who may see one, and its group.
SUBSCRIPTIONS = {"project": (_can_see_project, project_group), "task": (_can_see_task, task_group)}
WATCH_GAP = 2.0  # seconds between two `watch` of one task from one page that reach its host
FRAME_SHOWN_WAIT = 2.0  # seconds a page may take to show a live frame before it is sent the next


def _layer_failures(layer) -> int:
    """How often the layer failed so far (codexhub.channel_layer); 0 for one that can't."""
    return getattr(layer, "failures", 0)


class UIConsumer(DirectDispatch, AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake answers 403
            return
        device_id = self.scope["session"].get(DEVICE_ID_SESSION_KEY)
        state = await _session_state(user, device_id)
        if state is None:
            await self.close()
            return
        teams, hosts = state
        self.scopes: dict[int, dict[str, str]] = {}  # project -> what the page shows of it
        self.watch_sent: dict[int, float] = {}  # task -> when its host was last told
        self.frame_sent: dict[int, float] = {}  # task -> when the page was sent a frame not shown yet
        self.frame_waiting: dict[int, dict] = {}  # task -> the latest frame that came meanwhile
        self.groups_joined = [user_group(user.id), session_group(self.scope["session"].session_key)]
        self.groups_joined += [team_group(t["id"]) for t in teams]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.layer_failures_seen = _layer_failures(self.channel_layer)
        await self._send_hello(teams, hosts)

    async def _send_hello(self, teams, hosts):
        user = self.scope["user"].email
        await self.send_json({"type": "hello", "user": user, "teams": teams, "hosts": hosts})

    async def _renew_groups(self):
        """Pages ping every 20 s: group memberships expire in Redis and are lost
        when it restarts, so each ping renews them. If the channel layer failed
        since this page was last in sync, events may have been lost meanwhile:
        a fresh hello makes the page catch up, as after a reconnect."""
        before = _layer_failures(self.channel_layer)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        after = _layer_failures(self.channel_layer)
        await self.send_json({"type": "pong"})
        if after != self.layer_failures_seen:
            state = await _session_state(self.scope["user"], self.scope["session"].get(DEVICE_ID_SESSION_KEY))
            if state is None:
                await self.close(code=4403)
                return
            await self._send_hello(*state)
        if after == before:  # the groups are renewed: in sync from here on
            self.layer_failures_seen = after

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self.send_json({"type": "error", "error": "send JSON text frames"})
            return
        await super().receive(text_data=text_data, **kwargs)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self._renew_groups()
        elif kind == "subscribe":
            await self._subscribe("task" if "task" in content else "project", content)
        elif kind == "watch":
            await self._watch(content.get("task"))
        elif kind == "frame.shown":
            await self._frame_shown(content.get("task"))
        else:
            await self.send_json({"type": "error", "error": "unknown message type"})

    async def _subscribe(self, kind: str, content: dict):
        """Join a project's or a task's group: only if it belongs to one of the
        user's teams (another team's id gets the same answer as a missing one)."""
        object_id = content.get(kind)
        can_see, group_of = SUBSCRIPTIONS[kind]
        if type(object_id) is not int or not await can_see(self.scope["user"], object_id):
            await self.send_json({"type": "error", "error": f"no such {kind}"})
            return
        scope = _page_scope(content) if kind == "project" else {}
        if scope is None:
            await self.send_json({"type": "error", "error": "invalid folder or path"})
            return
        if kind == "project":
            self.scopes[object_id] = scope
        await self._join(group_of(object_id))
        await self.send_json({"type": "subscribed", kind: object_id})

    async def _join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)

    # Watching a computer task live (tasks.live) --------------------------------------------

    async def _watch(self, task_id) -> None:
        """The page shows task `task_id` live: tell its host (at most every WATCH_GAP seconds),
        only for a computer task this page follows that has not ended; else nothing."""
        if type(task_id) is not int or task_group(task_id) not in self.groups_joined:
            await self.send_json({"type": "error", "error": "no such task"})
            return
        now = time.monotonic()
        if now - self.watch_sent.get(task_id, -WATCH_GAP) < WATCH_GAP:
            return
        self.watch_sent[task_id] = now
        host_id = await database_sync_to_async(watched_task_host)(user=self.scope["user"], task_id=task_id)
        if host_id is not None:
            await self.channel_layer.group_send(host_group(host_id), watch_message(task_id))

    async def computer_frame(self, event):
        """A frame of a task this page follows. One at a time: until the page says it showed the
        last one (or FRAME_SHOWN_WAIT passed), the latest waits and replaces any older."""
        task = event["task"]
        if time.monotonic() - self.frame_sent.get(task, -FRAME_SHOWN_WAIT) < FRAME_SHOWN_WAIT:
            self.frame_waiting[task] = event
            return
        await self._send_frame(event)

    async def _send_frame(self, event) -> None:
        self.frame_sent[event["task"]] = time.monotonic()
        fields = ("task", "frame", "mime", "width", "height", "data")
        await self.send_json({"type": "computer.frame", **{key: event[key] for key in fields}})

    async def _frame_shown(self, task_id) -> None:
        if type(task_id) is not int or task_id not in self.frame_sent:
            return
        del self.frame_sent[task_id]
        waiting = self.frame_waiting.pop(task_id, None)
        if waiting is not None:
            await self._send_frame(waiting)

    async def task_step(self, event):
        await self.send_json({"type": "task.step", "task": event["task"], "index": event["index"]})

    async def task_changed(self, event):
        await self.send_json({"type": "task.changed", "task": event["task"], "state": event["state"]})

    async def task_log(self, event):
        await self.send_json({"type": "task.log", "task": event["task"], "seq": event["seq"]})

    # An agent session's timeline changed: the page fetches it again.

    async def task_item(self, event):
        await self.send_json({"type": "task.item", "task": event["task"], "key": event["key"]})

    async def task_turn(self, event):
        await self.send_json({"type": "task.turn", "task": event["task"], "state": event["state"]})

    async def task_permission(self, event):
        fields = ("task", "request", "state")
        await self.send_json({"type": "task.permission", **{key: event[key] for key in fields}})

    async def mirror_changed(self, event):
        """Only what the page shows, however large the batch (mirror_changes_seen)."""
        message = mirror_changes_seen(event=event, **self.scopes.get(event["project"], {}))
        if message is not None:
            await self.send_json(message)

    async def projects_changed(self, event):
        await self.send_json({"type": "projects.changed"})

    async def codex_threads(self, event):
        """A host answered with its Codex threads: its threads page fetches them."""
        await self.send_json({"type": "codex.threads", "host": event["host"]})

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def notify(self, event):
        """A task of this user ended (or a test): the page shows a toast."""
        fields = ("title", "body", "url", "tag")
        await self.send_json({"type": "notify", **{key: event[key] for key in fields}})

    async def inbox(self, event):
        """The user's count of unread inbox entries changed: the tab bar's badge."""
        await self.send_json({"type": "inbox", "unread": event["unread"]})

    async def host_presence(self, event):
        await self.send_json({"type": "host.presence", "host": event["host"]})

    async def host_changed(self, event):
        """A host's agent told the hub something new of itself: its page fetches it again."""
        await self.send_json({"type": "host.changed", "host": event["host"]})

    async def force_close(self, event):
        """Sent to user.<id> when the session ends (sign-out, deactivation)."""
        await self.close(code=event.get("code", 4403))
