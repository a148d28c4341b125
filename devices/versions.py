"""Agent versions: which hosts run an older agent than the one this hub serves, and what an
agent whose protocol the hub refuses is told (docs/protocol.md, "Versions"). The wheel and
the install and update lines are devices.agent_dist's."""

from packaging.version import InvalidVersion, Version

from devices.agent_dist import AGENT_VERSION as HUB_AGENT_VERSION
from devices.agent_dist import update_command, wheel_url
from protocol.version import PROTOCOL_VERSION, accepted_range


def is_older(version: str, than: str = HUB_AGENT_VERSION) -> bool:
    """Whether `version` (as an agent reported it) is older than `than`. A version that does
    not parse (an agent built from a checkout, or one that said nothing) is not called older."""
    try:
        return Version(version) < Version(than)
    except InvalidVersion:
        return False


def uv_update_command(hub: str) -> str:
    """update_command for an agent installed with uv."""
    return f"uv tool install --force {wheel_url(hub)}"


def hub_url_of(scope: dict) -> str:
    """The hub's address as a WebSocket handshake reached it (its Host header and scheme, which
    daphne takes from the proxy's X-Forwarded-Proto behind one)."""
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin1") or "localhost"
    secure = scope.get("scheme") in ("wss", "https")
    return f"{'https' if secure else 'http'}://{host}"


def protocol_refusal(offered: int | None, hub_url: str) -> tuple[str, str]:
    """(the message the agent shows, the close frame's short reason) for a protocol the hub
    does not take; `offered` None when the agent's header was not a number."""
    said = "an unreadable protocol version" if offered is None else f"protocol {offered}"
    what = "update the agent"
    if offered is not None and offered > PROTOCOL_VERSION:
        what = "this agent is newer than the hub: update the hub, or install the agent it serves"
    message = (
        f"this hub needs agent protocol {accepted_range()} and this agent speaks {said}: "
        f"{what}: {update_command(hub_url)}"
    )
    reason = f"agent protocol {'?' if offered is None else offered} refused: the hub takes {accepted_range()}"
    return message, reason[:120]


__all__ = [
    "HUB_AGENT_VERSION",
    "hub_url_of",
    "is_older",
    "protocol_refusal",
    "update_command",
    "uv_update_command",
]
