import pytest

from tasks import services
from tests.kits.sessions import make_session, session_project, waiting_session


@pytest.fixture(autouse=True)
def dispatched(monkeypatch):
    """The hosts a test's requests asked to dispatch to after commit."""
    sent: list[int] = []
    monkeypatch.setattr(services, "dispatch_on_commit", sent.append)
    return sent


# The agent-session tests' project and task; a module that means another
# project or task defines its own fixture of that name.


@pytest.fixture
def project(team_a):
    """The project of team A's host Studio, which offers an `acp` executor."""
    return session_project(team_a)


@pytest.fixture
def task(project, alice):
    """Alice's session on it, waiting for a message (its first turn done)."""
    return make_session(project, alice)


@pytest.fixture
def session(team_a, alice):
    """Alice's running session on team A's host "studio", waiting for her (tests.kits.sessions)."""
    return waiting_session(team_a, alice)
