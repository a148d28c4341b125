"""The images a README shows, fetched from the host on demand: the hub's
/projects/<id>/raw/<path> (team only, images only, inert) and the host's
answers (PUT /api/host/files/<request>, POST .../refused)."""

import hashlib
import json
from datetime import timedelta

import pytest
from channels.layers import get_channel_layer
from django.urls import reverse
from django.utils import timezone

from devices.services import host_group
from projects import images
from projects.models import FileFetch, Project
from tests.kits.common import make_host
from tests.kits.hostlink import open_link
from tests.kits.mirror_stream import Stream, file_change

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>window.__pwned=1</script>'
    b'<rect width="9" height="9"/></svg>'
)


def binary(path: str, data: bytes) -> dict:
    return file_change(path, None, binary=True, size=len(data), hash=hashlib.sha256(data).hexdigest())


@pytest.fixture
def host_and_token(team_a):
    host, token = make_host(team_a, "Build box")
    stream = Stream(host.id)
    stream.projects("acme")
    stream.batch(
        "acme",
        binary("docs/logo.png", PNG),
        binary("docs/diagram.svg", SVG),
        binary("docs/huge.png", b"x" * (images.MAX_FETCH + 1)),
        file_change("src/main.rs", "fn main() {}\n"),
        reset=True,
    )
    host.link_channel = "specific.test!1"
    host.last_seen_at = timezone.now()
    host.save(update_fields=["link_channel", "last_seen_at"])
    host.stream = stream
    return host, token


@pytest.fixture
def project(host_and_token):
    return Project.objects.get(name="acme")


@pytest.fixture
def asked(monkeypatch):
    """What the hub sends the host, instead of sending it; the view waits briefly."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(images, "group_send_on_commit", lambda group, message: sent.append((group, message)))
    monkeypatch.setattr(images, "FETCH_WAIT", 0.3)
    monkeypatch.setattr(images, "FETCH_POLL", 0.05)
    return sent


def raw(client, project, path):
    return client.get(reverse("project_raw", args=[project.id, path]))


def answer(client, token, request, data, **extra):
    url = reverse("api_file_upload", args=[request])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    return client.generic("PUT", url, data, content_type="application/octet-stream", **auth, **extra)


def refuse(client, token, request, reason):
    url = reverse("api_file_refused", args=[request])
    body = json.dumps({"reason": reason})
    return client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_it_asks_the_host_then_serves_its_bytes_inertly(alice_client, client, project, host_and_token, asked):
    host, token = host_and_token
    first = raw(alice_client, project, "docs/logo.png")
    assert first.status_code == 504 and images.HOST_TOO_SLOW in first.content.decode()
    [(group, message)] = asked
    assert group == host_group(host.id)
    assert message == {
        "type": "file.fetch", "request": message["request"], "project": "acme",
        "path": "docs/logo.png", "max_size": 5 * 1024 * 1024,
    }  # fmt: skip
    assert answer(client, token, message["request"], PNG).status_code == 201
    shown = raw(alice_client, project, "docs/logo.png")
    assert shown.status_code == 200 and shown.content == PNG
    assert shown["Content-Type"] == "image/png"
    assert shown["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert shown["X-Content-Type-Options"] == "nosniff"
    assert len(asked) == 1  # kept by its hash: not asked again


def test_an_svg_is_served_as_an_image_that_runs_nothing(alice_client, client, project, host_and_token, asked):
    _, token = host_and_token
    raw(alice_client, project, "docs/diagram.svg")
    answer(client, token, asked[0][1]["request"], SVG)
    shown = raw(alice_client, project, "docs/diagram.svg")
    assert shown["Content-Type"] == "image/svg+xml"
    assert shown["Content-Security-Policy"] == "sandbox; default-src 'none'"


def test_the_same_bytes_elsewhere_are_not_asked_again(alice_client, client, project, host_and_token, asked):
    host, token = host_and_token
    raw(alice_client, project, "docs/logo.png")
    answer(client, token, asked[0][1]["request"], PNG)
    host.stream.batch("acme", binary("img/copy.png", PNG))
    assert raw(alice_client, project, "img/copy.png").content == PNG
    assert len(asked) == 1


def test_another_team_gets_404_and_asks_nothing(client, charlie, project, asked):
    from tests.kits.common import login

    assert raw(login(client, charlie), project, "docs/logo.png").status_code == 404
    assert asked == []


@pytest.mark.parametrize(
    "path",
    [
        "secret.png",
        ".git/logo.png",
        ".git/config",
        "src/main.rs",
        "../out.png",
        "docs/../../x.png",
        "/etc/x.png",
    ],
)
def test_only_images_the_mirror_shares_are_asked_for(alice_client, project, asked, path):
    """Ignored files and .git are never mirrored; a path outside the project is none."""
    response = raw(alice_client, project, path)
    assert response.status_code == 404 and response.content.decode() == images.NO_SUCH_IMAGE
    assert asked == []


def test_an_oversized_image_is_refused_without_asking(alice_client, project, asked):
    response = raw(alice_client, project, "docs/huge.png")
    assert response.status_code == 413 and "larger than the 5 MB" in response.content.decode()
    assert asked == []


def test_an_offline_host_is_not_asked(alice_client, project, host_and_token, asked):
    host, _ = host_and_token
    host.link_channel = ""
    host.save(update_fields=["link_channel"])
    response = raw(alice_client, project, "docs/logo.png")
    assert response.status_code == 503 and "offline" in response.content.decode()
    assert asked == []


def test_the_hosts_refusal_is_shown_and_believed(alice_client, client, project, host_and_token, asked):
    _, token = host_and_token
    raw(alice_client, project, "docs/logo.png")
    assert refuse(client, token, asked[0][1]["request"], "ignored").status_code == 200
    response = raw(alice_client, project, "docs/logo.png")
    assert response.status_code == 404 and response.content.decode() == images.REFUSAL_TEXT["ignored"]
    assert len(asked) == 1


def test_only_the_asked_host_may_answer_once(alice_client, client, project, host_and_token, asked, team_b):
    _, token = host_and_token
    _, other_token = make_host(team_b, "Elsewhere")
    raw(alice_client, project, "docs/logo.png")
    request = asked[0][1]["request"]
    assert answer(client, other_token, request, b"fake").status_code == 404
    assert answer(client, "nope", request, b"fake").status_code == 401
    assert answer(client, token, "unknown-request-0000", PNG).status_code == 404
    assert refuse(client, token, request, "because").status_code == 400
    too_big = answer(client, token, request, b"", CONTENT_LENGTH=str(images.MAX_FETCH + 1))
    assert too_big.status_code == 413
    assert answer(client, token, request, PNG).status_code == 201
    assert answer(client, token, request, b"again").status_code == 409
    assert FileFetch.objects.get(request=request).data == PNG


@pytest.mark.django_db(transaction=True)
async def test_the_host_link_carries_the_request(host_and_token):
    host, token = host_and_token
    link = await open_link(token)
    message = {"type": "file.fetch", "request": "r" * 32, "project": "acme", "path": "a.png", "max_size": 9}
    await get_channel_layer().group_send(host_group(host.id), message)
    frame = await link.receive_json_from(timeout=5)
    assert frame == message
    await link.disconnect()


def test_housekeeping_forgets_what_no_file_has_any_longer(project):
    from tasks.housekeeping import housekeeping

    entry = project.entries.get(path="docs/logo.png")
    old = timezone.now() - timedelta(days=2)
    kept = FileFetch.objects.create(
        project=project, path=entry.path, path_hash=entry.path_hash, request="k" * 20,
        answered_at=old, hash=entry.hash, size=len(PNG), data=PNG,
    )  # fmt: skip
    FileFetch.objects.create(
        project=project, path=entry.path, path_hash=entry.path_hash, request="g" * 20,
        answered_at=old, hash="0" * 64, size=3, data=b"old",
    )  # fmt: skip
    FileFetch.objects.create(project=project, path=entry.path, path_hash=entry.path_hash, request="u" * 20)
    FileFetch.objects.filter(request="u" * 20).update(requested_at=old)
    assert housekeeping().fetches_pruned == 2
    assert list(FileFetch.objects.all()) == [kept]
