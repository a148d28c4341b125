from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Team
from accounts.validators import validate_no_control_characters
from devices.versions import is_older


class HostState(models.TextChoices):
    UNCONFIRMED = "unconfirmed", "Waiting for the host to confirm"
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"
    REJECTED = "rejected", "Rejected by the host"


class ApproveRole(models.TextChoices):
    """Who may answer the permission requests of the host's agents (approve_role), and who
    may decide what becomes of its tasks' changes in git (git_role)."""

    MEMBER = "member", "Any member of the team"
    ADMIN = "admin", "Only owners and admins"


class HostQuerySet(models.QuerySet):
    def visible_to(self, user) -> "HostQuerySet":
        """Hosts (in any state) of the teams the user is a member of."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(team__memberships__user=user)


class Host(models.Model):
    """A paired workstation. Its token is kept only as a SHA-256 hash."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="hosts")
    name = models.CharField(max_length=64, validators=[validate_no_control_characters])
    platform = models.CharField(max_length=64, blank=True)
    agent_version = models.CharField(max_length=32, blank=True)
    protocol_version = models.PositiveIntegerField(null=True, blank=True)  # as its last hello said
    # The agent CLIs on its PATH ({"name", "version"} each), as its last hello said.
    agent_clis = models.JSONField("agent CLIs", default=list, blank=True)
    capabilities = models.JSONField(default=list, blank=True)
    # What the host's agent offers to run tasks with (docs/protocol.md, "Tasks").
    executors = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=16, choices=HostState.choices, default=HostState.UNCONFIRMED)
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    token_issued_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    offline_notified_at = models.DateTimeField(null=True, blank=True)  # the team was told it went offline
    # The channel name of the live link; empty while the host is offline.
    link_channel = models.CharField(max_length=200, blank=True, default="")
    approve_role = models.CharField(
        "who may answer its agents",
        max_length=8,
        choices=ApproveRole.choices,
        default=ApproveRole.MEMBER,
        help_text="Agents ask before they edit files or run commands. Who may allow it?",
    )
    git_role = models.CharField(
        "who may commit, merge, push and discard",
        max_length=8,
        choices=ApproveRole.choices,
        default=ApproveRole.MEMBER,
        help_text="A task's changes on this host become commits, merges and pushes, or are thrown away. "
        "Who may decide?",
    )
    # Frames and uploads the hub refused from this host (services.host_message_refused).
    refused_count = models.PositiveBigIntegerField("refused messages", default=0, editable=False)
    last_refused_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_refused_reason = models.CharField(max_length=200, blank=True, default="", editable=False)

    objects = HostQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=HostState.values), name="host_state_valid"),
            models.CheckConstraint(
                condition=models.Q(approve_role__in=ApproveRole.values), name="host_approve_role_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(git_role__in=ApproveRole.values), name="host_git_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def online(self) -> bool:
        """Linked, and heard from within the heartbeat timeout: a hub process
        that died cannot leave its hosts looking online for long."""
        if not self.link_channel or self.last_seen_at is None:
            return False
        fresh_after = timezone.now() - timedelta(seconds=settings.HOST_HEARTBEAT_TIMEOUT)
        return self.last_seen_at > fresh_after

    @property
    def is_active(self) -> bool:
        return self.state == HostState.ACTIVE

    @property
    def agent_outdated(self) -> bool:
        """Its agent is older than the one this hub serves (an unknown version is not)."""
        return is_older(self.agent_version)

    @property
    def file_executors(self) -> list[dict]:
        """The executors that can work on a file: a browser or a computer runs steps, not a prompt."""
        steps = ("browser", "computer")
        return [executor for executor in self.executors if executor.get("kind") not in steps]

    @property
    def offered_models(self) -> list[dict]:
        """The models its codex executors offer, each with the executor's name, for the task form."""
        return [
            {"executor": executor["name"], "id": model["id"], "label": model.get("label") or model["id"]}
            for executor in self.executors
            if executor.get("kind") == "codex"
            for model in executor.get("models") or []
        ]

    @property
    def offered_efforts(self) -> list[dict]:
        """Each reasoning effort those models take, with the ids of the models taking it."""
        takers: dict[str, list[str]] = {}
        for executor in self.executors:
            for model in executor.get("models") or [] if executor.get("kind") == "codex" else []:
                for effort in model.get("efforts") or []:
                    takers.setdefault(effort, []).append(model["id"])
        return [{"name": name, "models": " ".join(ids)} for name, ids in takers.items()]

    @property
    def offers_codex(self) -> bool:
        """Whether it offers a `codex` executor (its Codex threads can be listed)."""
        return any(executor.get("kind") == "codex" for executor in self.executors)

    @property
    def executor_environments(self) -> list[dict]:
        """The executors whose agent said which of their variables pass or which needed ones are unset."""
        return [executor for executor in self.executors if executor.get("env") or executor.get("env_missing")]


class HostStream(models.Model):
    """The last sequence number applied per (host, stream): the hub's half of
    exactly-once delivery from the agent's outbox."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="streams")
    name = models.CharField(max_length=32)
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "name"], name="host_stream_unique")]

    def __str__(self) -> str:
        return f"{self.host_id}/{self.name}@{self.last_seq}"


class RefusedMessage(models.Model):
    """A frame or upload the hub refused from a host, kept for its admins: the
    latest few per host, at most a few a minute (the host's count has them all)."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="refused_messages")
    at = models.DateTimeField(default=timezone.now)
    stream = models.CharField(max_length=32, blank=True)
    seq = models.BigIntegerField(null=True, blank=True)
    kind = models.CharField("type", max_length=64, blank=True)
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["host", "-id"], name="refused_host_latest")]

    def __str__(self) -> str:
        return f"{self.host_id} {self.stream}#{self.seq}: {self.reason}"


class PairingState(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    CLAIMED = "claimed", "Token issued"
    CONFIRMED = "confirmed", "Confirmed by the host"
    REJECTED_BY_HOST = "rejected_by_host", "Rejected by the host"


class PairingRequest(models.Model):
    """One run of the device authorization grant (RFC 8628), started by a host."""

    device_code_hash = models.CharField(max_length=64, unique=True, editable=False)
    user_code = models.CharField(max_length=8)
    name = models.CharField(max_length=64)
    platform = models.CharField(max_length=64, blank=True)
    agent_version = models.CharField(max_length=32, blank=True)
    requested_from = models.GenericIPAddressField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    interval = models.PositiveIntegerField()
    last_polled_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=PairingState.choices, default=PairingState.PENDING)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_from = models.GenericIPAddressField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    host = models.OneToOneField(
        Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="pairing"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user_code"],
                condition=models.Q(state="pending"),
                name="pairing_user_code_pending_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=PairingState.values), name="pairing_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def user_code_display(self) -> str:
        return f"{self.user_code[:4]}-{self.user_code[4:]}"
