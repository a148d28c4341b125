import pytest

from tasks import jobs


@pytest.fixture(autouse=True)
def dispatched(monkeypatch):
    """The dispatch jobs a test's requests handed to Celery (after commit)."""
    sent: list[int] = []
    monkeypatch.setattr(jobs.dispatch_job, "delay_on_commit", lambda host_id: sent.append(host_id))
    return sent
