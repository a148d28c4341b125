import os
import sys
from pathlib import Path

import pytest

from hostagent.tasks.environment import TEMPLATE_ENV

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _agent_env(monkeypatch, tmp_path):
    # Loopback only: no proxy may intercept the fakes, and no real config is touched.
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CODEXHUB_AGENT_CONFIG", str(tmp_path / "default" / "agent.toml"))
    # The built-in agents' keys and config folders of whoever runs the tests never reach a test.
    for name in {name for names in TEMPLATE_ENV.values() for name in names}:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODEXHUB_AGENT_BACKOFF_BASE", "0.05")
    monkeypatch.setenv("CODEXHUB_AGENT_BACKOFF_CAP", "0.2")


@pytest.fixture
def config_path(tmp_path) -> Path:
    return tmp_path / "cfg" / "agent.toml"


@pytest.fixture
def agent_cmd():
    def build(*args: str) -> list[str]:
        return [sys.executable, "-m", "hostagent", *args]

    return build
