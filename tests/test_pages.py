"""The phone shell: PWA manifest, service worker, icons, error pages, health."""

import json

import pytest
from django.contrib.staticfiles import finders
from django.core import mail
from django.urls import reverse

from tests.kits.common import page_text

pytestmark = pytest.mark.django_db


def test_the_manifest_makes_the_app_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any(icon.get("purpose") == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        assert finders.find(icon["src"].removeprefix("/static/")), icon["src"]


def test_the_service_worker_is_served_from_the_root(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript"
    assert response["Service-Worker-Allowed"] == "/"
    assert b"addEventListener" in response.content


def test_the_favicon_points_at_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("/static/icons/icon.svg")


def test_health_names_each_dependency_and_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "channel_layer", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


def test_a_missing_page_is_a_styled_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = page_text(response)
    assert "Not found" in body
    assert "/static/css/app.css" in body


def test_a_visitor_is_sent_to_sign_in(client):
    for url in ("/", "/hosts/", "/projects/", "/tasks/", "/settings/", "/teams/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login")), url


def test_the_tabs_are_there_once_signed_in(alice_client):
    body = page_text(alice_client.get("/hosts/"))
    for tab in ("Hosts", "Projects", "Tasks", "Settings"):
        assert f"<span>{tab}</span>" in body
    assert 'aria-current="page"' in body
    assert "Team A" in body  # the team switcher


def test_every_page_sends_a_strict_csp(alice_client):
    csp = alice_client.get("/hosts/")["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_password_reset_emails_a_link(client, alice):
    response = client.post(reverse("account_reset_password"), {"email": alice.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_sign_out_ends_the_session(alice_client):
    response = alice_client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert alice_client.get("/hosts/").status_code == 302
