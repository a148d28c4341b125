from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from accounts.models import Invitation


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def invitation_email_job(invitation_id: int, link: str) -> None:
    invitation = Invitation.objects.select_related("team", "invited_by").filter(id=invitation_id).first()
    if invitation is None or invitation.accepted_at is not None:
        return
    context = {"invitation": invitation, "link": link, "site_name": settings.SITE_NAME}
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Join {invitation.team.name}",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )
