import pytest

from tasks import services


@pytest.fixture(autouse=True)
def dispatched(monkeypatch):
    """The hosts a test's requests asked to dispatch to after commit."""
    sent: list[int] = []
    monkeypatch.setattr(services, "dispatch_on_commit", sent.append)
    return sent
