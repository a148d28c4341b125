"""SECURITY.md case 27: production settings pass `check --deploy`, and the
responses carry the security headers and cookie flags."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RESPONSE_PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="hub.example.com")
plain = client.get("/accounts/login/")
page = client.get("/accounts/login/", secure=True)
cookie = page.cookies["csrftoken"]
print(json.dumps({
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location"),
    "status": page.status_code,
    "headers": dict(page.headers),
    "csrf_cookie": {"secure": cookie["secure"], "samesite": cookie["samesite"]},
}))
"""


@pytest.fixture
def production_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "CSRF_TRUSTED_ORIGINS")}
    env.update(
        DJANGO_SETTINGS_MODULE="codexhub.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="hub.example.com",
        CSRF_TRUSTED_ORIGINS="https://hub.example.com",
        HTTPS="true",
        CODEXHUB_DATA_DIR=str(tmp_path),
    )
    return env


def run(args, env):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_check_deploy_reports_nothing(production_env):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_on_a_wildcard_host(production_env):
    production_env["ALLOWED_HOSTS"] = "*"
    result = run(["manage.py", "check", "--deploy"], production_env)
    assert result.returncode != 0
    assert "codexhub.E001" in result.stderr


def test_a_bad_boolean_stops_start_up_with_its_name(production_env):
    production_env["HTTPS"] = "maybe"
    result = run(["manage.py", "check"], production_env)
    assert result.returncode != 0
    assert "HTTPS='maybe': use true or false" in result.stderr


def test_production_responses_carry_the_security_headers(production_env):
    result = run(["-c", RESPONSE_PROBE], production_env)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["plain_status"] == 301
    assert probe["plain_location"] == "https://hub.example.com/accounts/login/"
    headers = probe["headers"]
    assert probe["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert probe["csrf_cookie"] == {"secure": True, "samesite": "Lax"}


def test_the_secret_key_is_generated_once_into_the_data_dir(tmp_path, production_env):
    del production_env["SECRET_KEY"]
    probe = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    first = run(["-c", probe], production_env)
    second = run(["-c", probe], production_env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(first.stdout.strip()) >= 50
    key_file = tmp_path / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
