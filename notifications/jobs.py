import logging

from celery import shared_task

from accounts.models import User
from notifications import services
from notifications.services import Notice, TransientPushError

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=services.RETRIES - 2)  # notice_push made the first try
def push_job(self, user_id: int, notice: dict, key: str) -> int:
    """The pushes of a notice that failed for a moment, retried by Celery with
    backoff. The Delivery keys skip each device already sent, so a retry (or a
    redelivered job) pushes at most once per device."""
    user = User.objects.filter(id=user_id).first()
    if user is None:
        return 0
    try:
        return services.notice_deliver(user=user, notice=Notice.from_job_argument(notice), key=key)
    except TransientPushError as exc:
        attempt = self.request.retries + 2
        if self.request.retries >= self.max_retries:
            logger.warning("push %s not delivered after %s tries: %s", key, attempt, exc)
            services.notice_give_up(key=key, tries=attempt)
            return 0
        # Not autoretry_for's retry_backoff: that counts whole seconds fixed at
        # import; PUSH_RETRY_BASE is read now, and may be under a second.
        raise self.retry(exc=exc, countdown=services.retry_delay(attempt=attempt)) from exc


@shared_task
def notify_test_job(user_id: int, run: int | None = None) -> int:
    user = User.objects.filter(id=user_id).first()
    return services.notify_test(user=user, run=run) if user else 0
