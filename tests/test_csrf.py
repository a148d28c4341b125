"""SECURITY.md case 26: state-changing POSTs need the CSRF token and our Origin."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Team
from tests.kits.common import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def csrf_client(alice):
    client = Client(enforce_csrf_checks=True)
    return login(client, alice)


def csrf_token(client) -> str:
    client.get(reverse("team_list"))
    return client.cookies["csrftoken"].value


def test_a_post_without_the_token_is_403(csrf_client):
    response = csrf_client.post(reverse("team_list"), {"name": "Forged"})
    assert response.status_code == 403
    assert not Team.objects.filter(name="Forged").exists()


def post_with_token(client, name: str, origin: str):
    """A new team named `name`, posted with the CSRF token from `origin`."""
    token = csrf_token(client)
    return client.post(reverse("team_list"), {"name": name, "csrfmiddlewaretoken": token}, HTTP_ORIGIN=origin)


def test_a_post_with_the_token_from_a_foreign_origin_is_403(csrf_client):
    response = post_with_token(csrf_client, "Forged", "https://evil.example")
    assert response.status_code == 403
    assert not Team.objects.filter(name="Forged").exists()


def test_a_post_with_the_token_from_our_origin_passes(csrf_client):
    response = post_with_token(csrf_client, "Real", "http://testserver")
    assert response.status_code == 302
    assert Team.objects.filter(name="Real").exists()


def test_the_csrf_failure_page_explains_itself(csrf_client):
    response = csrf_client.post(reverse("team_list"), {"name": "Forged"})
    assert "This form could not be checked" in response.content.decode()
