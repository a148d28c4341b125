from django.conf import settings
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
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)

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

    class Meta:
        verbose_name_plural = "inbox entries"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="inbox_one_entry_per_notice")]
        indexes = [models.Index(fields=["user", "-id"], name="inbox_newest_first")]

    def __str__(self) -> str:
        return f"{self.user}: {self.title}"
