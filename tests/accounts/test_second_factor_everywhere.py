"""SECURITY.md section 5: the second factor gates every signed-in read and
socket. dana signed up, skipped the setup and accepted an invitation into team
A: until she sets up a second factor she reaches only the setup page, sign-out
and what pages need to load. The URLs come from the URLconf, so a new page is
covered (or fails here until its kwargs are known)."""

import json

import pyotp
import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.http import urlencode
from push_notifications.models import APNSDevice

from accounts import services
from accounts.middleware import SECOND_FACTOR_SETUP
from codexhub.asgi import application
from devices import agent_dist
from tasks.models import PermissionRequest, TaskArtifact, TaskLog
from tasks.notify import answer_token
from tests.kits.common import login, make_host, make_user, page_text
from tests.kits.task_stream import make_task, shared_project

OUR_APPS = ("accounts.", "devices.", "projects.", "tasks.", "notifications.", "codexhub.", "allauth.")
# What a session may reach before its second factor; every other URL is gated.
OPEN_URL_NAMES = {
    "manifest",
    "service_worker",
    "favicon",
    "healthz",
    "otp_setup",
    "otp_verify",
    "account_logout",
    "account_confirm_email",
    "account_email_verification_sent",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OPTIONS = [{"option_id": "allow", "name": "Allow", "kind": "allow_once"}]


def our_patterns(resolver=None, namespace=""):
    """(name to reverse, pattern) of each URL our code answers, the admin's
    login (codexhub.admin.HubAdminSite) as "admin:login"."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from our_patterns(entry, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
        elif isinstance(entry, URLPattern):
            if getattr(entry.callback, "__module__", "").startswith(OUR_APPS):
                yield f"{namespace}{entry.name}", entry


@pytest.fixture
def dana(team_a, alice):
    """A new account with no second factor that accepted an invitation."""
    user = make_user("dana@example.com", otp=False)
    new = services.invitation_create(actor=alice.memberships.get(), email=user.email, role="admin")
    services.invitation_accept(token=new.token, user=user)
    return user


@pytest.fixture
def world(team_a, alice, dana):
    """Something of team A behind every kind of id."""
    host, _ = make_host(team_a, "studio")
    project = shared_project(host)
    task = make_task(project, alice, state="running", session_state="waiting")
    TaskLog.objects.create(task=task, seq=1, text="secret build output")
    TaskArtifact.objects.create(
        task=task, name="step-1.png", content_type="image/png", data=PNG, size=len(PNG)
    )
    permission = PermissionRequest.objects.create(task=task, request_id="p1", title="Edit", options=OPTIONS)
    device = APNSDevice.objects.create(user=dana, registration_id="ab" * 32)
    return {
        "team_id": team_a.id,
        "member_id": dana.memberships.get().id,
        "host_id": host.id,
        "project_id": project.id,
        "path": "README.md",
        "task_id": task.id,
        "permission_id": permission.id,
        "device_id": device.id,
        "kind": "apns",
        "name": "step-1.png",
        "token": "some-invitation-token",
        "key": "some-key",
        "uidb36": "1",
        "run": 1,
        "entry_id": 1,
        "request_id": "some-file-request",
        "action": "commit",
        "filename": agent_dist.wheel_name(),
        "permission": permission,
    }


@pytest.fixture
def dana_client(dana):
    return login(Client(), dana, verified=False)


def gated_urls(world) -> list[tuple[str, str]]:
    urls = []
    for name, pattern in our_patterns():
        if name in OPEN_URL_NAMES:
            continue
        names = set(pattern.pattern.converters) | set(pattern.pattern.regex.groupindex)
        unknown = names - set(world)
        assert not unknown, f"{name}: add {unknown} to the world fixture"
        urls.append((name, reverse(name, kwargs={n: world[n] for n in names})))
    return urls


def setup_url(next_url: str) -> str:
    return f"{reverse('otp_setup')}?{urlencode({'next': next_url})}"


def set_up_totp(client) -> None:
    response = client.get(reverse("otp_setup"))
    totp = pyotp.TOTP(response.context["key_text"].replace(" ", ""))
    assert client.post(reverse("otp_setup"), {"code": totp.now()}).status_code == 200


def answer(client, token):
    url = reverse("api_permission_answer")
    return client.post(url, json.dumps({"token": token}), content_type="application/json")


@pytest.mark.django_db
def test_every_signed_in_page_sends_a_session_without_a_factor_to_setup(dana_client, world):
    urls = gated_urls(world)
    names = {name for name, _ in urls}
    assert {"home", "host_list", "project_detail", "file_detail", "task_detail", "task_log"} <= names
    assert {"task_artifact", "api_push_register", "api_permission_answer", "invitation_accept"} <= names
    assert {"host_manage", "host_folders", "host_folder_add", "host_project_remove", "host_restart"} <= names
    for name, url in urls:
        response = dana_client.get(url)
        if url.startswith("/api/"):
            assert response.status_code == 403, name
            assert response.json() == {"error": SECOND_FACTOR_SETUP}, name
        else:
            assert response.status_code == 302, name
            assert response["Location"] == setup_url(url), name
    # What pages need to load, the setup page and sign-out stay open.
    for name in ("manifest", "service_worker", "healthz"):
        assert dana_client.get(reverse(name)).status_code != 302, name
    assert dana_client.get(reverse("otp_setup")).status_code == 200
    assert dana_client.post(reverse("account_logout")).status_code == 302
    assert "_auth_user_id" not in dana_client.session


@pytest.mark.django_db
def test_every_change_from_a_session_without_a_factor_is_403(dana_client, world):
    for name, url in gated_urls(world):
        response = dana_client.post(url)
        assert response.status_code == 403, name
        assert SECOND_FACTOR_SETUP in page_text(response), name


@pytest.mark.django_db
def test_the_pages_with_data_answer_only_after_setup(dana_client, world):
    pages = [
        reverse("host_list"),
        reverse("host_detail", args=[world["host_id"]]),
        reverse("project_detail", args=[world["project_id"]]),
        reverse("file_detail", args=[world["project_id"], "README.md"]),
        reverse("task_detail", args=[world["task_id"]]),
        reverse("task_log", args=[world["task_id"]]),
        reverse("task_artifact", args=[world["task_id"], "step-1.png"]),
    ]
    for url in pages:
        response = dana_client.get(url)
        assert response.status_code == 302 and response["Location"] == setup_url(url), url
        assert b"secret build output" not in response.content and PNG not in response.content
    set_up_totp(dana_client)
    for url in pages:
        assert dana_client.get(url).status_code == 200, url
    assert dana_client.get(pages[-1]).content == PNG


@pytest.mark.django_db
def test_registering_a_push_device_needs_the_second_factor(dana_client, dana):
    body = json.dumps({"type": "apns", "token": "cd" * 32, "name": "Watch"})
    response = dana_client.post(reverse("api_push_register"), body, content_type="application/json")
    assert response.status_code == 403
    assert response.json() == {"error": SECOND_FACTOR_SETUP}
    assert not APNSDevice.objects.filter(user=dana).exists()


@pytest.mark.django_db
def test_a_notification_answer_needs_the_second_factor(dana, world):
    permission = world["permission"]
    token = answer_token(permission, dana, OPTIONS[0])
    client = Client(enforce_csrf_checks=True)  # as the service worker sends it
    client.cookies = login(Client(), dana, verified=False).cookies
    response = answer(client, token)
    assert response.status_code == 403
    assert response.json() == {"error": SECOND_FACTOR_SETUP}
    permission.refresh_from_db()
    assert permission.state == "pending"


@pytest.mark.django_db
def test_an_invitation_opened_by_a_new_person_continues_after_setup(client, alice, team_a):
    new = services.invitation_create(actor=alice.memberships.get(), email="erin@example.com", role="member")
    invite = reverse("invitation_accept", args=[new.token])
    signup = f"{reverse('account_signup')}?{urlencode({'next': invite})}"
    password = "a long enough passphrase 42"
    response = client.post(
        signup, {"email": "erin@example.com", "password1": password, "password2": password}
    )
    assert response.status_code == 302 and response["Location"] == invite
    response = client.get(invite)
    assert response.status_code == 302 and response["Location"] == setup_url(invite)
    response = client.get(response["Location"])
    totp = pyotp.TOTP(response.context["key_text"].replace(" ", ""))
    response = client.post(setup_url(invite), {"code": totp.now()})
    assert response.status_code == 200 and response.context["next"] == invite
    assert f'href="{invite}"' in response.content.decode()
    assert client.post(invite).status_code == 302
    assert team_a.memberships.filter(user__email="erin@example.com").exists()


# The live socket ------------------------------------------------------------------------


@pytest.fixture
def socket_headers(dana):
    client = login(Client(), dana, verified=False)
    return [
        (b"host", b"testserver"),
        (b"origin", b"http://testserver"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_ui_socket_refuses_a_session_without_a_factor(socket_headers):
    communicator = WebsocketCommunicator(application, "/ws/ui/", headers=socket_headers)
    connected, _ = await communicator.connect(timeout=5)
    assert not connected
