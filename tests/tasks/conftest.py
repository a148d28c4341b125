import pytest

from tasks import jobs


@pytest.fixture(autouse=True)
def dispatched(monkeypatch):
    """The dispatch jobs a test's requests handed to Celery (after commit)."""
    sent: list[int] = []
    monkeypatch.setattr(jobs.dispatch_job, "apply_async", lambda args: sent.append(*args))
    return sent
