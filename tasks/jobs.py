from celery import shared_task

from tasks import housekeeping, notify, services


@shared_task
def dispatch_job(host_id: int) -> int:
    """Send a host its queued tasks (a no-op while it is offline)."""
    return services.host_dispatch(host_id=host_id)


@shared_task
def housekeeping_job() -> dict:
    return vars(housekeeping.housekeeping())


@shared_task
def notify_task_job(task_id: int) -> int:
    return notify.notify_task(task_id=task_id)


@shared_task
def notify_turn_job(task_id: int, turn: int) -> int:
    return notify.notify_turn(task_id=task_id, turn=turn)


@shared_task
def notify_permission_job(request_id: int) -> int:
    return notify.notify_permission(request_id=request_id)


@shared_task
def clear_permission_job(request_id: int) -> int:
    return notify.clear_permission(request_id=request_id)
