"""The hub hands out its own agent: /agent/<wheel> serves the wheel `make agent` built, to anyone
(it is public code, fetched by pipx), and the Hosts page's Pair card shows the one line that
installs it from this hub and the line that pairs it."""

import pytest
from django.test import Client
from django.urls import reverse

from devices import agent_dist
from hostagent import __version__
from tests.kits.common import page_text

pytestmark = pytest.mark.django_db

WHEEL = f"codexhub_agent-{__version__}-py3-none-any.whl"
URL = f"/agent/{WHEEL}"
CONTENT = b"PK\x03\x04 a wheel is a zip"


@pytest.fixture
def built(settings, tmp_path):
    settings.AGENT_WHEEL_DIR = tmp_path
    (tmp_path / WHEEL).write_bytes(CONTENT)
    (tmp_path / "secret_key").write_bytes(b"not for anyone")
    return tmp_path


@pytest.fixture
def not_built(settings, tmp_path):
    settings.AGENT_WHEEL_DIR = tmp_path / "nothing-here"


def test_it_serves_the_wheel_of_the_hubs_version_to_anyone(built):
    assert reverse("agent_wheel", args=[WHEEL]) == URL
    response = Client().get(URL)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="{WHEEL}"'
    assert response["Content-Length"] == str(len(CONTENT))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert Client().head(URL).status_code == 200


def test_it_takes_no_change(built):
    assert Client().post(URL).status_code == 405
    assert Client().put(URL).status_code == 405


def test_a_hub_that_has_not_built_it_says_what_to_run(not_built):
    response = Client().get(URL)
    assert response.status_code == 404
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == agent_dist.WHEEL_MISSING
    assert "run `make agent` where the hub runs" in response.content.decode()


@pytest.mark.parametrize(
    "name",
    [
        "codexhub_agent-0.0.1-py3-none-any.whl",
        "secret_key",
        "..",
        f"{WHEEL}.",
        WHEEL.upper(),
        f"{WHEEL}%00",
    ],
)
def test_any_other_name_answers_404_naming_the_wheel_it_serves(built, name):
    response = Client().get(f"/agent/{name}")
    assert response.status_code == 404
    assert response.content.decode() == (
        f"This hub serves codexhub-agent {__version__} only: http://testserver{URL}"
    )


@pytest.mark.parametrize("path", ["/agent/../secret_key", "/agent/%2e%2e/secret_key", "/agent/x/secret_key"])
def test_no_path_reaches_another_file(built, path):
    response = Client().get(path)
    assert response.status_code == 404
    assert b"not for anyone" not in response.content


def test_the_pair_card_shows_the_install_line_and_the_pair_line(alice_client, built):
    body = page_text(alice_client.get(reverse("host_list")))
    assert f"pipx install http://testserver{URL}" in body
    assert f"uv tool install http://testserver{URL}" in body
    assert 'codexhub-agent pair --hub http://testserver --name "My laptop"' in body
    assert 'data-copy="#install-command"' in body and 'data-copy="#pair-command"' in body
    assert "make agent" not in body


def test_the_lines_name_the_address_the_reader_reached(alice_client, built, settings):
    settings.ALLOWED_HOSTS = ["hub.example.com"]
    body = page_text(alice_client.get(reverse("host_list"), HTTP_HOST="hub.example.com", secure=True))
    assert f"pipx install https://hub.example.com{URL}" in body
    assert 'codexhub-agent pair --hub https://hub.example.com --name "My laptop"' in body


def test_the_pair_card_warns_when_the_hub_has_not_built_the_agent(alice_client, not_built):
    body = page_text(alice_client.get(reverse("host_list")))
    assert f"pipx install http://testserver{URL}" in body
    assert "This hub has not built the agent yet" in body
    assert "make agent" in body


def test_the_update_line_replaces_an_installed_agent():
    assert agent_dist.update_command("https://hub.example.com/") == (
        f"pipx install --force https://hub.example.com{URL}"
    )
