from celery import shared_task

from tasks import housekeeping, services


@shared_task
def dispatch_job(host_id: int) -> int:
    """Send a host its queued tasks (a no-op while it is offline)."""
    return services.host_dispatch(host_id=host_id)


@shared_task
def housekeeping_job() -> dict:
    return vars(housekeeping.housekeeping())
