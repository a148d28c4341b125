"""A database or Redis that is down: a 503 that says so, never a 500, and
nothing half-written. (The real outage, with processes, is in
tests/integration/test_redis_outage.py.)"""

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.urls import path
from redis.exceptions import ConnectionError as RedisConnectionError

from codexhub import health, jobs
from tasks.models import Task
from tests.kits.common import PASSWORD, make_host

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _answer_like_a_server(client):
    # The test client re-raises a view's exception; a server answers with handler500.
    client.raise_request_exception = False


@pytest.fixture
def redis_down(monkeypatch):
    """Every cache call fails the way redis-py fails when Redis is stopped."""

    def refuse(*args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for name in ("get", "set", "add", "incr", "get_many", "delete"):
        monkeypatch.setattr(cache, name, refuse)


def test_sign_in_while_redis_is_down_is_a_503_with_words(client, alice, redis_down):
    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 503
    assert response["Retry-After"] == str(health.OUTAGE_RETRY_AFTER)
    assert health.OUTAGE_MESSAGE in response.content.decode().replace("&#x27;", "'")


def test_an_api_call_while_redis_is_down_gets_json(client, redis_down):
    response = client.post("/api/pairing/", {"name": "x"}, content_type="application/json")
    assert response.status_code == 503
    assert response.json() == {"error": health.OUTAGE_MESSAGE}


def test_a_task_sent_while_redis_is_down_writes_nothing(alice_client, team_a, redis_down):
    from projects.models import Project

    host, _ = make_host(team_a)
    project = Project.objects.create(host=host, name="docs")
    response = alice_client.post("/tasks/new/", {"project": project.id, "prompt": "hello"})
    assert response.status_code == 503
    assert Task.objects.count() == 0


def _database_down(request):
    raise OperationalError("connection to server at 127.0.0.1 port 5432 failed: Connection refused")


urlpatterns = [path("database-down/", _database_down)]
handler500 = "codexhub.views.server_error"


@pytest.mark.urls("tests.test_outage")
def test_a_database_that_is_down_is_a_503_too(client):
    response = client.get("/database-down/")
    assert response.status_code == 503
    assert "can't reach its database or Redis" in response.content.decode().replace("&#x27;", "'")


def test_a_bug_is_still_a_500():
    assert not health.is_outage(ValueError("a bug"))


def test_an_error_caused_by_an_outage_counts_as_one():
    try:
        try:
            raise RedisConnectionError("refused")
        except RedisConnectionError as inner:
            raise RuntimeError("the layer failed") from inner
    except RuntimeError as exc:
        assert health.is_outage(exc)


def test_health_reports_a_dependency_that_is_down(client, redis_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is False
    assert "Connection refused" in body["checks"]["cache"]["error"]


class FlakyJob:
    """A Celery job whose broker refuses the first `failures` publishes."""

    name = "tests.flaky"

    def __init__(self, failures: int):
        self.failures = failures
        self.published: list[tuple] = []

    def apply_async(self, args):
        if self.failures:
            self.failures -= 1
            from kombu.exceptions import OperationalError as BrokerError

            raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.published.append(tuple(args))


def test_a_job_the_broker_refused_is_published_in_order_once_it_is_back(monkeypatch):
    from tests.kits.processes import wait_until

    monkeypatch.setattr(jobs, "RETRY_FIRST", 0.01)
    job = FlakyJob(failures=3)
    for n in range(5):
        jobs.publish(job, n)
    wait_until(lambda: len(job.published) == 5, timeout=10, what="the waiting jobs to be published")
    assert job.published == [(0,), (1,), (2,), (3,), (4,)]
    assert jobs.waiting_count() == 0
