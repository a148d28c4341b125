"""Shared set-up for benchmarks: Django on a throwaway SQLite database."""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_on_temp_db() -> None:
    sys.path.insert(0, str(ROOT))
    data = tempfile.mkdtemp(prefix="codexhub-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codexhub.settings")
    os.environ["CODEXHUB_DATA_DIR"] = data
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def timed(fn, runs: int) -> list[float]:
    """Wall time of each call in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered):8.2f} ms   p95 {p95:8.2f} ms   (n={len(ordered)})"
