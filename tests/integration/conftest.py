import os

import pytest

from tests.kits.deployed import Deployment
from tests.kits.processes import RedisServer


@pytest.fixture
def logs(tmp_path):
    """Where the processes a test starts write their output."""
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


@pytest.fixture
def redis_url(logs):
    """The CI's Redis when REDIS_URL is set; otherwise a private redis-server."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer(logs)
    yield server.url
    server.stop()


@pytest.fixture
def deployed(redis_url, logs):
    """The hub as the README's Deploy section runs it (daphne, a Celery worker
    and beat), on redis_url; stopped when the test ends."""
    with Deployment(redis_url=redis_url, logs=logs) as deployment:
        yield deployment
