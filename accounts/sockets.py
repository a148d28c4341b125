"""Ending the live sockets of a session or a user when their access ends
(ASVS 7.4.2): the socket read the session once, at connect."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from accounts.groups import session_group, user_group
from codexhub import events

CLOSE_ACCESS_CHANGED = 4000  # the page reconnects and gets its new state
CLOSE_SIGNED_OUT = 4401
CLOSE_DEACTIVATED = 4403


def sockets_close(group: str, code: int) -> None:
    events.group_send(group, {"type": "force.close", "code": code})


@receiver(user_logged_out)
def close_the_sessions_sockets(sender, request, user, **kwargs):
    # Sent before the session is flushed, so its key still names its sockets.
    if request is not None and request.session.session_key:
        sockets_close(session_group(request.session.session_key), CLOSE_SIGNED_OUT)


def user_sockets_close(*, user_id: int, code: int = CLOSE_DEACTIVATED) -> None:
    sockets_close(user_group(user_id), code)
