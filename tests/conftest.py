"""Shared fixtures: three people (alice and bob in team A, charlie in team B),
signed-in clients, and the checks that the configured services are up."""

import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.cache import caches

from accounts.models import Role, Team
from tests.kits.common import login, make_member, make_user
from tests.kits.processes import Process

# Services ----------------------------------------------------------------------


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def pytest_configure(config):
    # A missing service must fail the run with a message, not hang a handshake.
    for name, port, hint in (
        ("DATABASE_URL", 5432, "start PostgreSQL or unset DATABASE_URL for SQLite"),
        ("REDIS_URL", 6379, "start Redis or unset REDIS_URL for the in-memory default"),
    ):
        url = os.environ.get(name)
        if url and not _reachable(url, port):
            pytest.exit(f"{name}={url} is not reachable: {hint}.", returncode=3)


def pytest_collection_modifyitems(config, items):
    # Browser tests last: pytest-playwright's sync API leaves an event loop
    # running that breaks async tests after it.
    items.sort(key=lambda item: item.nodeid.startswith("tests/e2e/"))


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") and skipped:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; under CI every test must run.", red=True)
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def jobs_enqueued(monkeypatch):
    """Jobs the code under test handed over to run after its commit
    (codexhub.jobs.job_on_commit), as (name, *args), kept rather than run:
    tests run the job or its service themselves. Hub processes are unaffected."""
    from codexhub import jobs

    enqueued: list[tuple] = []
    monkeypatch.setattr(jobs, "_on_commit", lambda job, args, options: enqueued.append((job.name, *args)))
    return enqueued


@pytest.fixture
def jobs_published(monkeypatch):
    """Instead of jobs_enqueued: after the commit, jobs go to `apply_async` on
    the test's own thread (no background thread even without a broker)."""
    from django.db import transaction

    from codexhub import jobs

    def publish_on_commit(job, args, options):
        transaction.on_commit(lambda: jobs.publish(job, *args, **options))

    monkeypatch.setattr(jobs, "_on_commit", publish_on_commit)


@pytest.fixture(autouse=True)
def _no_stray_processes():
    """Stop what a test started and left running (a fixture that failed
    half-way): a stray Celery worker would take the next test's jobs."""
    yield
    for process in list(Process.running):
        process.stop()


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate-limit counters and rendered HTML live in the caches (Redis under CI): start each test clean.
    for alias in settings.CACHES:
        caches[alias].clear()
    yield


@pytest.fixture
def push_service(monkeypatch, settings, tmp_path):
    """The local push service, trusted and allowed, and a VAPID key of this test's own."""
    from notifications import vapid
    from tests.notifications.pushservice import PushService

    key_file = tmp_path / "vapid.pem"
    vapid.generate(key_file)
    settings.VAPID_PRIVATE_KEY_FILE = str(key_file)
    # django-push-notifications keeps a reference to this dict from import time.
    monkeypatch.setitem(settings.PUSH_NOTIFICATIONS_SETTINGS, "WP_PRIVATE_KEY", str(key_file))
    monkeypatch.setitem(settings.PUSH_NOTIFICATIONS_SETTINGS, "WP_CLAIMS", {"sub": "mailto:ops@example.com"})
    settings.PUSH_RETRY_BASE = 0.01
    with PushService() as service:
        service.trust(monkeypatch)
        settings.WEBPUSH_ALLOWED_HOSTS = [service.url.removeprefix("https://")]
        yield service


# People ------------------------------------------------------------------------


@pytest.fixture
def team_a(db):
    return Team.objects.create(name="Team A")


@pytest.fixture
def team_b(db):
    return Team.objects.create(name="Team B")


@pytest.fixture
def alice(team_a):
    return make_member(team_a, "alice@example.com", Role.OWNER)


@pytest.fixture
def bob(team_a):
    return make_member(team_a, "bob@example.com", Role.MEMBER)


@pytest.fixture
def charlie(team_b):
    return make_member(team_b, "charlie@example.com", Role.OWNER)


@pytest.fixture
def alice_client(client, alice):
    return login(client, alice)


@pytest.fixture(autouse=True)
def _allow_testserver(settings):
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


@pytest.fixture
def staff_client(client, db):
    """A superuser who passed their second factor."""
    user = make_user("root@example.com")
    user.is_staff = user.is_superuser = True
    user.save()
    return login(client, user)
