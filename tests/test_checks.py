"""System checks that refuse host-link settings which would break it at run time."""

from codexhub import checks


def test_presence_written_at_or_past_half_the_heartbeat_timeout_is_refused(settings):
    settings.HOST_HEARTBEAT_TIMEOUT = 60
    settings.HOST_PRESENCE_INTERVAL = 30
    [error] = checks.check_presence_interval(None)
    assert error.id == "codexhub.E004"
    assert "under half of HOST_HEARTBEAT_TIMEOUT (60 s)" in error.msg
    settings.HOST_PRESENCE_INTERVAL = 5
    assert checks.check_presence_interval(None) == []


def test_more_than_one_apply_thread_on_sqlite_is_refused():
    sqlite, postgres = "django.db.backends.sqlite3", "django.db.backends.postgresql"
    assert checks.apply_threads_error(sqlite, 2).id == "codexhub.E005"
    assert checks.apply_threads_error(sqlite, 1) is None
    assert checks.apply_threads_error(postgres, 4) is None
    assert checks.apply_threads_error(postgres, 0).id == "codexhub.E005"


def test_this_runs_settings_pass_the_apply_threads_check():
    assert checks.check_apply_threads(None) == []
