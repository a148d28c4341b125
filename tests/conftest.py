"""Shared fixtures: three people (alice and bob in team A, charlie in team B),
signed-in clients, and the checks that the configured services are up."""

import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.cache import caches

from accounts.models import Membership, Role, Team
from tests.helpers import login, make_user
from tests.processes import Process

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
def notifications_enqueued(monkeypatch):
    """Notification jobs the code under test handed over (after commit); tests
    of notifications run the service themselves. Hub processes are unaffected."""
    from notifications import jobs

    enqueued: list[tuple] = []
    monkeypatch.setattr(jobs, "enqueue", lambda job, *args: enqueued.append((job.name, *args)))
    return enqueued


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


# People ------------------------------------------------------------------------


@pytest.fixture
def team_a(db):
    return Team.objects.create(name="Team A")


@pytest.fixture
def team_b(db):
    return Team.objects.create(name="Team B")


@pytest.fixture
def alice(team_a):
    user = make_user("alice@example.com")
    Membership.objects.create(team=team_a, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob(team_a):
    user = make_user("bob@example.com")
    Membership.objects.create(team=team_a, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def charlie(team_b):
    user = make_user("charlie@example.com")
    Membership.objects.create(team=team_b, user=user, role=Role.OWNER)
    return user


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
