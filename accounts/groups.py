"""Channel-layer group names, shared by the consumers and the services that
send to them."""

import hashlib


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


def session_group(session_key: str) -> str:
    """The sockets of one browser session (the key itself is a secret)."""
    return f"session.{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"
