"""Channel-layer group names, shared by the consumers and the services that
send to them."""


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"
