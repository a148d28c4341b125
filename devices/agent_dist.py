"""The host agent this hub hands out: the wheel of its own version, built by `make agent` into
AGENT_WHEEL_DIR and served at /agent/<wheel>, and the lines a person copies to install it, pair
it and update it (the Hosts page, a host's "update" line)."""

from pathlib import Path

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from hostagent import __version__ as AGENT_VERSION  # the agent in this checkout: the one served

AGENT_COMMAND = "codexhub-agent"  # the console script the wheel installs
WHEEL_MISSING = "This hub has not built the agent's wheel yet: run `make agent` where the hub runs."
WHEEL_OTHER_VERSION = "This hub serves codexhub-agent {version} only: {url}"


def wheel_name() -> str:
    return f"codexhub_agent-{AGENT_VERSION}-py3-none-any.whl"


def wheel_file() -> Path | None:
    """The built wheel of this hub's version, or None before `make agent`."""
    path = Path(settings.AGENT_WHEEL_DIR) / wheel_name()
    return path if path.is_file() else None


def hub_url(request: HttpRequest) -> str:
    """This hub's address as the reader reached it (through the proxy's Host and scheme)."""
    return request.build_absolute_uri("/").rstrip("/")


def wheel_url(hub: str) -> str:
    """Where pipx fetches the wheel from the hub at `hub` (hub_url, or a socket's own)."""
    return hub.rstrip("/") + reverse("agent_wheel", args=[wheel_name()])


def install_command(hub: str) -> str:
    return f"pipx install {wheel_url(hub)}"


def uv_install_command(hub: str) -> str:
    return f"uv tool install {wheel_url(hub)}"


def update_command(hub: str) -> str:
    """Replaces an installed agent of another version with this hub's (its config stays)."""
    return f"pipx install --force {wheel_url(hub)}"


def pair_command(hub: str, name: str = "My laptop") -> str:
    return f'{AGENT_COMMAND} pair --hub {hub.rstrip("/")} --name "{name}"'
