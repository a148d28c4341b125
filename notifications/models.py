from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models


class Preference(models.Model):
    """What a user wants to be told about. Devices are switched on and off
    one by one (the push device's `active`)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify")
    task_succeeded = models.BooleanField("A task I sent finished", default=True)
    task_failed = models.BooleanField("A task I sent failed, expired or was stopped", default=True)
    host_offline = models.BooleanField("A host of my team went offline", default=False)
    permission_asked = models.BooleanField("An agent asks for my answer", default=True)

    def __str__(self) -> str:
        return f"notification preferences of {self.user}"


class Delivery(models.Model):
    """One notification to one device: the key makes a redelivered job send
    it at most once."""

    key = models.CharField(max_length=120, unique=True)  # e.g. "task:42:webpush:7"
    notice_key = models.CharField(max_length=120, blank=True, db_index=True)  # e.g. "task:42"
    kind = models.CharField(max_length=10, blank=True)  # webpush, apns or fcm
    device_id = models.IntegerField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)  # the last failure, in words
    # Set when the hub stops trying: a refusal for good, or the last retry failed.
    gave_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return self.key


class InboxEntry(models.Model):
    """One notice shown to one user (the toast, and the push to each device),
    written once per notice: the key is the notice's, so a job run again
    writes nothing more. The newest INBOX_KEEP per user are kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox")
    key = models.CharField(max_length=120)  # e.g. "task:42"
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=300, blank=True)
    tag = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "inbox entries"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="inbox_one_entry_per_notice")]
        indexes = [models.Index(fields=["user", "-id"], name="inbox_newest_first")]

    def __str__(self) -> str:
        return f"{self.user}: {self.title}"


class DeviceHealth(models.Model):
    """How pushing to one device went: its last delivery, its last failure in
    words, and why the hub turned it off (the push service refused it for
    good). The devices are django-push-notifications' models, one table per
    kind, so the row names the kind and the id."""

    kind = models.CharField(max_length=10)  # webpush, apns or fcm
    device_id = models.IntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    off_reason = models.CharField(max_length=300, blank=True)  # blank unless the hub turned it off

    class Meta:
        verbose_name_plural = "device health"
        constraints = [models.UniqueConstraint(fields=["kind", "device_id"], name="one_health_per_device")]

    def __str__(self) -> str:
        return f"{self.kind} {self.device_id}"

    @property
    def failing(self) -> bool:
        """The last attempt failed."""
        if self.last_error_at is None:
            return False
        return self.last_sent_at is None or self.last_error_at > self.last_sent_at


class TeamReminder(models.Model):
    """A team's rule for agent questions nobody answered: remind the people
    asked once after `remind_after` minutes (0: never), and with `escalate`
    also ask the team's owners and admins then."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="reminder")
    remind_after = models.PositiveIntegerField(
        "Remind after (minutes, 0 for never)",
        default=10,
        validators=[MaxValueValidator(7 * 24 * 60)],
    )
    escalate = models.BooleanField("Then ask the team's owners and admins too", default=False)

    def __str__(self) -> str:
        return f"reminders of {self.team}"
