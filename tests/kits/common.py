"""Helpers the tests share: people, second factors, signed-in clients."""

import html
import re
from base64 import b32encode

import pyotp
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User

PASSWORD = "correct horse battery staple"


def make_user(email: str, *, otp: bool = True) -> User:
    user = User.objects.create_user(username=email.split("@")[0], email=email, password=PASSWORD)
    if otp:
        TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)
    return user


def make_member(team, email: str, role: str) -> User:
    """A new person (with a second factor) in `team`, with `role`."""
    from accounts.models import Membership

    user = make_user(email)
    Membership.objects.create(team=team, user=user, role=role)
    return user


def make_owner(email: str, team_name: str):
    """A new team and its owner: (user, team)."""
    from accounts.models import Role, Team

    team = Team.objects.create(name=team_name)
    return make_member(team, email, Role.OWNER), team


def totp_for(user: User) -> pyotp.TOTP:
    device = TOTPDevice.objects.get(user=user)
    return pyotp.TOTP(b32encode(device.bin_key).decode())


def fresh_totp_code(user: User) -> str:
    """A code the hub will take now. A code's 30 s step cannot be spent twice,
    so a person would wait for the next one; the test forgets the last step
    used (and any clock drift learnt from it) instead."""
    TOTPDevice.objects.filter(user=user).update(last_t=-1, drift=0)
    return totp_for(user).now()


def login(client, user: User, *, verified: bool = True):
    """Sign the client in as user; `verified` also passes the second factor."""
    client.force_login(user)
    if verified:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
        session.save()
    return client


def page_text(response) -> str:
    """The response body with HTML entities decoded, as a reader sees it."""
    return html.unescape(response.content.decode())


def visible_text(response) -> str:
    """The words of a page's body as a reader sees them: no tags, white space collapsed."""
    body = re.sub(r"(?s)<(script|style)\b.*?</\1>|<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(body).split())


def make_host(team, name: str = "Workstation", *, state: str = "active"):
    """An already paired host; returns (host, token)."""
    import secrets

    from django.utils import timezone

    from devices.models import Host
    from devices.services import TOKEN_PREFIX, secret_hash

    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    host = Host.objects.create(
        team=team,
        name=name,
        platform="linux-x86_64",
        state=state,
        token_hash=secret_hash(token),
        token_issued_at=timezone.now(),
    )
    return host, token


class SequencedStream:
    """Sends one host's sequenced messages on one stream, numbering them, as
    its agent's outbox would."""

    name = ""

    def __init__(self, host_id: int):
        self.host_id = host_id
        self.seq = 0

    def send(self, kind: str, payload: dict, seq: int | None = None):
        from devices.services import host_message_apply

        if seq is None:
            self.seq += 1
            seq = self.seq
        return host_message_apply(host_id=self.host_id, stream=self.name, seq=seq, kind=kind, payload=payload)
