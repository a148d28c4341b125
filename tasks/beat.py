"""Housekeeping without Celery beat: the embedded default (no Redis) runs it on
a daemon thread of the hub process instead."""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)
_started = threading.Event()


def start_in_process_beat() -> None:
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_loop, name="codexhub-housekeeping", daemon=True).start()


def _loop() -> None:
    from tasks.housekeeping import housekeeping

    stop = threading.Event()
    while not stop.wait(settings.TASK_SWEEP_INTERVAL):
        try:
            housekeeping()
        except Exception:
            logger.exception("task housekeeping failed")
        finally:
            close_old_connections()
