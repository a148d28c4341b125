import pytest


@pytest.fixture
def logs(tmp_path):
    """Where the processes a test starts write their output."""
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder
