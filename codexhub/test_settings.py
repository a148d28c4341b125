"""Settings for the test suite: the real settings, made fast and quiet."""

from codexhub.env import env_bool, env_float, env_int
from codexhub.settings import *  # noqa: F403
from codexhub.settings import DATA_DIR, DATABASES, HOST_HEARTBEAT_TIMEOUT

# PBKDF2 costs ~0.25 s a hash here; the tests hash hundreds of passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file, not memory, so that processes the tests start (daphne, Celery) share it.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_db.sqlite3")}

# Consumers reach the database from a thread pool; a connection kept open
# there would block dropping the test database at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("TEST_DB_CONN_MAX_AGE", 0)

# pytest's own process never sweeps behind a test's back; a daphne child may (tests.kits.processes).
TASK_IN_PROCESS_BEAT = env_bool("TASK_IN_PROCESS_BEAT", False)

# Presence is written this often: a lost revocation closes the link within it.
HOST_PRESENCE_INTERVAL = env_float("HOST_PRESENCE_INTERVAL", min(0.2, HOST_HEARTBEAT_TIMEOUT / 4))
