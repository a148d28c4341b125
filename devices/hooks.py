"""What other apps plug into devices, so that devices imports none of them:
the messages a host is sent when its link opens, and more context for the
hosts page (about the team, and about the person reading it), and where a
host's live frame goes. Apps register in their AppConfig.ready (tasks.hooks)."""

from collections.abc import Callable
from dataclasses import dataclass

LinkOpenHook = Callable[..., list[dict]]
HostListHook = Callable[..., dict]
HomeHook = Callable[..., dict]

_link_open: list[LinkOpenHook] = []
_host_list: list[HostListHook] = []
_home: list[HomeHook] = []
_live_frame: list[Callable[..., "FrameTarget"]] = []


def on_link_open(hook: LinkOpenHook) -> LinkOpenHook:
    """Register `hook(*, host_id) -> list[dict]`: what a host whose link just
    opened must be sent after the welcome, in order (what it missed while it
    was away). Runs in a database thread."""
    if hook not in _link_open:
        _link_open.append(hook)
    return hook


def link_open_messages(*, host_id: int) -> list[dict]:
    return [message for hook in _link_open for message in hook(host_id=host_id)]


def on_host_list(hook: HostListHook) -> HostListHook:
    """Register `hook(*, team_id) -> dict`: more context for the hosts page,
    which is also the home page."""
    if hook not in _host_list:
        _host_list.append(hook)
    return hook


def host_list_context(*, team_id: int) -> dict:
    context: dict = {}
    for hook in _host_list:
        context.update(hook(team_id=team_id))
    return context


def on_home(hook: HomeHook) -> HomeHook:
    """Register `hook(*, user, team_id) -> dict`: context about the person who
    reads the hosts page, the home page (team_id is None before they have a team)."""
    if hook not in _home:
        _home.append(hook)
    return hook


def home_context(*, user, team_id: int | None) -> dict:
    context: dict = {}
    for hook in _home:
        context.update(hook(user=user, team_id=team_id))
    return context


@dataclass(frozen=True)
class FrameTarget:
    """Where a host's live frame goes: a `group` of the channel layer, none (dropped quietly),
    or `refused` with the reason the host is told."""

    group: str | None = None
    refused: str = ""


NO_TARGET = FrameTarget(refused="this hub takes no live frames")


def on_live_frame(hook: Callable[..., FrameTarget]) -> Callable[..., FrameTarget]:
    """Register `hook(*, host_id, task_id) -> FrameTarget`: where the live frame a host sends
    of its task goes (docs/protocol.md, "Watching a computer task live"). Runs in a database
    thread; the last one registered decides."""
    if hook not in _live_frame:
        _live_frame.append(hook)
    return hook


def live_frame_target(*, host_id: int, task_id: int) -> FrameTarget:
    return _live_frame[-1](host_id=host_id, task_id=task_id) if _live_frame else NO_TARGET
