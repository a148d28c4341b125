import os

import pytest

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
