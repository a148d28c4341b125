import pytest

from tasks import services


@pytest.fixture(autouse=True)
def dispatched(monkeypatch):
    """The dispatch jobs a test's requests handed over to be published after commit."""
    sent: list[int] = []
    monkeypatch.setattr(services, "job_on_commit", lambda job, host_id: sent.append(host_id))
    return sent
