"""Handing Celery jobs over once the change that needs them commits: the one
way every app enqueues work.

With a broker (Redis), which may be down for a moment: the change is already
committed then, so the request must not fail: the job waits in this process and
is published again, in order, as soon as the broker answers. (A task's dispatch
has a second net: the housekeeping sweep dispatches queued tasks anyway.)

Without one (the embedded default, CELERY_TASK_ALWAYS_EAGER) there is no worker:
the job runs on a thread of this process, after its countdown if it has one, so
a slow job (a push service, a mail server) never holds up the request or the
host link that asked for it.
"""

import logging
import threading
import time
from collections import deque

from celery.exceptions import Retry
from django.conf import settings
from django.db import close_old_connections, transaction
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


def job_on_commit(job, *args, **options) -> None:
    """Hand `job(*args)` over after the current transaction commits. `options`
    go to `apply_async` (countdown, argsrepr); a rolled-back change hands over nothing."""
    _on_commit(job, args, options)


def _on_commit(job, args: tuple, options: dict) -> None:  # tests record jobs here (tests/conftest.py)
    transaction.on_commit(lambda: hand_over(job, args, options))


def hand_over(job, args: tuple, options: dict) -> None:
    """To the broker, or without one to a thread of this process."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        _run_in_background(job, args, options)
    else:
        publish(job, *args, **options)


def _run_in_background(job, args: tuple, options: dict, retries: int = 0) -> None:
    """As a worker would: after the countdown, and a Celery retry (which an eager
    job raises instead of scheduling) comes back after its own countdown."""

    def run() -> None:
        try:
            job.apply(args, retries=retries, throw=True)
        except Retry as retry:
            countdown = retry.when if isinstance(retry.when, int | float) else 0
            _run_in_background(job, args, {**options, "countdown": countdown}, retries + 1)
        except Exception:  # a worker would log it and go on; so does this thread
            logger.exception("job %s failed", job.name)
        finally:
            close_old_connections()

    timer = threading.Timer(options.get("countdown") or 0, run)
    timer.daemon = True
    timer.start()


def publish(job, *args, **options) -> None:
    """Publish now (the caller is past its commit); a broker outage keeps it waiting here."""
    with _lock:
        if _waiting:  # keep the order: behind the jobs already waiting
            _wait(job, args, options)
            return
    try:
        job.apply_async(args, **options)
    except BROKER_DOWN as exc:
        logger.warning("broker unreachable (%s): %s will be published when it is back", exc, job.name)
        with _lock:
            _wait(job, args, options)


def waiting_count() -> int:
    return len(_waiting)


def _wait(job, args: tuple, options: dict) -> None:
    global _retrier
    _waiting.append((job, args, options))
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
                job, args, options = _waiting[0]
            try:
                job.apply_async(args, **options)
            except BROKER_DOWN:
                break
            with _lock:
                _waiting.popleft()
        delay = min(delay * 2, RETRY_MAX)
