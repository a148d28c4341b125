import threading

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, transaction

from codexhub.jobs import job_on_commit
from notifications import services


@shared_task
def notify_task_job(task_id: int) -> int:
    return services.notify_task(task_id=task_id)


@shared_task
def notify_permission_job(request_id: int) -> int:
    return services.notify_permission(request_id=request_id)


@shared_task
def notify_turn_job(task_id: int, turn: int) -> int:
    return services.notify_turn(task_id=task_id, turn=turn)


@shared_task
def notify_test_job(user_id: int) -> int:
    from accounts.models import User

    user = User.objects.filter(id=user_id).first()
    return services.notify_test(user=user) if user else 0


def enqueue(job, *args) -> None:
    """After the commit, hand the job to a worker; without one (the embedded
    default) run it on a thread, so a slow push service never holds up the
    request or the host link that ended the task."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        job_on_commit(job, *args)
        return

    def run():
        try:
            job(*args)
        finally:
            close_old_connections()

    transaction.on_commit(lambda: threading.Thread(target=run, daemon=True).start())
