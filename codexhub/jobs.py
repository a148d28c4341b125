"""Handing Celery jobs to the broker once the change that needs them commits.

The broker is Redis, which may be down for a moment. The change is already
committed then, so the request must not fail: the job waits in this process and
is published again, in order, as soon as the broker answers. (A task's dispatch
has a second net: the housekeeping sweep dispatches queued tasks anyway.)
"""

import logging
import threading
import time
from collections import deque

from django.db import transaction
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("codexhub.jobs")

BROKER_DOWN = (OperationalError, RedisConnectionError, RedisTimeoutError, OSError)
WAITING_MAX = 10_000  # jobs kept while the broker is down; the oldest go first past this
RETRY_FIRST, RETRY_MAX = 0.5, 5.0  # seconds between tries

_waiting: deque[tuple] = deque(maxlen=WAITING_MAX)
_lock = threading.Lock()
_retrier: threading.Thread | None = None


def job_on_commit(job, *args) -> None:
    """Publish `job(*args)` after the current transaction commits."""
    transaction.on_commit(lambda: publish(job, *args))


def publish(job, *args) -> None:
    with _lock:
        if _waiting:  # keep the order: behind the jobs already waiting
            _wait(job, args)
            return
    try:
        job.apply_async(args)
    except BROKER_DOWN as exc:
        logger.warning("broker unreachable (%s): %s will be published when it is back", exc, job.name)
        with _lock:
            _wait(job, args)


def waiting_count() -> int:
    return len(_waiting)


def _wait(job, args) -> None:
    global _retrier
    _waiting.append((job, args))
    if _retrier is None:
        _retrier = threading.Thread(target=_retry_until_published, name="job-retrier", daemon=True)
        _retrier.start()


def _retry_until_published() -> None:
    global _retrier
    delay = RETRY_FIRST
    while True:
        time.sleep(delay)
        while True:
            with _lock:
                if not _waiting:
                    _retrier = None
                    logger.info("broker back: the waiting jobs are published")
                    return
                job, args = _waiting[0]
            try:
                job.apply_async(args)
            except BROKER_DOWN:
                break
            with _lock:
                _waiting.popleft()
        delay = min(delay * 2, RETRY_MAX)
