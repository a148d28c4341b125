"""A host's live link as the database sees it: which link is current (the
newest wins), presence written coalesced, and the stream positions it resumes
from. What other apps send a host whose link opens is in devices.hooks."""

from django.db import transaction
from django.utils import timezone

from devices.models import Host, HostState, HostStream
from devices.services import presence_broadcast


def host_link_opened(*, host_id: int, channel_name: str) -> tuple[Host, str] | None:
    """Record the new live link; returns the host and the channel of the link it
    replaces ("" if none), which the caller closes: the newest link wins.
    None if the host was revoked meanwhile."""
    with transaction.atomic():
        host = Host.objects.select_for_update().select_related("team").get(id=host_id)
        if host.state != HostState.ACTIVE:
            return None
        previous = host.link_channel
        host.link_channel = channel_name
        host.last_seen_at = timezone.now()
        host.save(update_fields=["link_channel", "last_seen_at"])
        presence_broadcast(host=host)
    return host, previous if previous != channel_name else ""


def host_link_closed(*, host_id: int, channel_name: str) -> None:
    with transaction.atomic():
        # Only the link that is current may mark the host offline: a replaced
        # link closing late must not hide its successor.
        closed = Host.objects.filter(id=host_id, link_channel=channel_name).update(
            link_channel="", last_seen_at=timezone.now()
        )
        if closed:
            presence_broadcast(host=Host.objects.get(id=host_id))


LINK_OK, LINK_REVOKED, LINK_REPLACED = "ok", "revoked", "replaced"


def hosts_seen(*, links: dict[int, str]) -> dict[int, str]:
    """Presence of many links at once, written coalesced (devices.presence):
    `links` maps a host to the channel of the link heard from. Refreshes
    last_seen_at of those still current in two queries, and returns, for the
    others, LINK_REVOKED or LINK_REPLACED: what a lost channel message might
    not have said."""
    if not links:
        return {}
    rows = Host.objects.filter(id__in=links).values_list("id", "state", "link_channel")
    current, lost = [], {}
    for host_id, state, channel in rows:
        if state != HostState.ACTIVE:
            lost[host_id] = LINK_REVOKED
        elif channel != links[host_id]:
            lost[host_id] = LINK_REPLACED
        else:
            current.append(host_id)
    lost.update({host_id: LINK_REVOKED for host_id in links.keys() - {row[0] for row in rows}})
    if current:
        Host.objects.filter(id__in=current).update(last_seen_at=timezone.now())
    return lost


def stream_positions(*, host_id: int) -> dict[str, int]:
    return dict(HostStream.objects.filter(host_id=host_id).values_list("name", "last_seq"))
