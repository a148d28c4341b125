"""One settings file, two modes: the embedded default with no variables, and
Postgres, Redis and real workers when DATABASE_URL and REDIS_URL are set."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({
    "db": settings.DATABASES["default"]["ENGINE"],
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "broker": settings.CELERY_BROKER_URL,
    "debug": settings.DEBUG,
}))
"""


def probe(tmp_path, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    clean.update(DJANGO_SETTINGS_MODULE="codexhub.settings", CODEXHUB_DATA_DIR=str(tmp_path), **env)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_embedded_default_needs_no_service(tmp_path):
    assert probe(tmp_path) == {
        "db": "django.db.backends.sqlite3",
        "layer": "channels.layers.InMemoryChannelLayer",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "eager": True,
        "broker": "memory://",
        "debug": False,
    }


def test_urls_switch_to_postgres_and_redis(tmp_path):
    modes = probe(tmp_path, DATABASE_URL="postgres://u@db.internal/x", REDIS_URL="redis://r.internal:6379/1")
    assert modes["db"] == "django.db.backends.postgresql"
    assert modes["layer"] == "codexhub.channel_layer.ResilientRedisChannelLayer"
    assert modes["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert modes["eager"] is False
    assert modes["broker"] == "redis://r.internal:6379/1"


def test_this_run_uses_the_services_it_was_given():
    if os.environ.get("DATABASE_URL"):
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    else:
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    if os.environ.get("REDIS_URL"):
        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
        assert layer == "codexhub.channel_layer.ResilientRedisChannelLayer"
    else:
        assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_ci_runs_on_the_real_services():
    if os.environ.get("CI"):
        assert os.environ.get("DATABASE_URL"), ".ci/run must set DATABASE_URL"
        assert os.environ.get("REDIS_URL"), ".ci/run must set REDIS_URL"
