"""What other apps plug into devices, so that devices imports none of them:
the messages a host is sent when its link opens, and more context for the
hosts page (about the team, and about the person reading it). Apps register
in their AppConfig.ready (tasks.hooks)."""

from collections.abc import Callable

LinkOpenHook = Callable[..., list[dict]]
HostListHook = Callable[..., dict]
HomeHook = Callable[..., dict]

_link_open: list[LinkOpenHook] = []
_host_list: list[HostListHook] = []
_home: list[HomeHook] = []


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
