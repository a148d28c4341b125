"""The notice of devices: a host of the team went offline.
notifications.services carries it."""

from django.utils import timezone

from accounts.models import Membership
from devices.models import Host
from notifications.services import Notice, notice_push


def host_offline_message(host: Host) -> Notice:
    return Notice(
        title=f"{host.name} went offline",
        body=f"Last seen {timezone.localtime(host.last_seen_at):%H:%M}. Its tasks wait until it is back.",
        url=f"/hosts/{host.id}/",
        tag=f"host-{host.id}",
    )


def notify_host_offline(*, host: Host) -> int:
    """Members of the host's team who asked to hear of it; each device once per outage."""
    if host.last_seen_at is None:  # never linked, so never offline
        return 0
    notice = host_offline_message(host)
    key = f"host:{host.id}:{host.last_seen_at.timestamp():.0f}"
    members = Membership.objects.filter(team_id=host.team_id, user__notify__host_offline=True)
    members = members.select_related("user")
    return sum(notice_push(user=member.user, notice=notice, key=key) for member in members)
