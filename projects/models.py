from django.conf import settings
from django.db import models

from accounts.models import Team
from accounts.validators import validate_no_control_characters
from devices.models import Host, HostState


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ProjectQuerySet":
        """Live projects, on active hosts, of the teams the user is a member of."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(
            removed_at__isnull=True,
            host__state=HostState.ACTIVE,
            host__team__memberships__user=user,
        )


class Project(models.Model):
    """A folder a host shares; its entries mirror the files in it."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=64, validators=[validate_no_control_characters])
    created_at = models.DateTimeField(auto_now_add=True)
    last_change_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    is_git = models.BooleanField("a git repository", default=False)  # mirror.projects' `git`

    objects = ProjectQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "name"], name="project_unique_per_host")]

    def __str__(self) -> str:
        return f"{self.host.name}: {self.name}"


class EntryKind(models.TextChoices):
    FILE = "file", "File"
    DIR = "dir", "Folder"
    SYMLINK = "symlink", "Symbolic link"


class Entry(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="entries")
    path = models.TextField()
    path_hash = models.CharField(max_length=64)
    # The path_hash of the folder the entry is in (of "" at the top): a folder's page
    # reads its entries through an index, and a deleted folder takes what is below it
    # in one statement (services._delete_entries).
    parent_hash = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=EntryKind.choices)
    size = models.BigIntegerField(null=True, blank=True)
    mtime = models.FloatField(null=True, blank=True)
    hash = models.CharField(max_length=64, blank=True)
    # None: no text kept (binary or too large); "": an empty text file.
    text = models.TextField(null=True, blank=True)  # noqa: DJ001
    binary = models.BooleanField(default=False)
    too_large = models.BooleanField(default=False)
    target_inside = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "path_hash"], name="entry_unique_path"),
            models.CheckConstraint(condition=models.Q(kind__in=EntryKind.values), name="entry_kind_valid"),
        ]
        indexes = [models.Index(fields=["project", "parent_hash"], name="entry_project_parent")]
        verbose_name_plural = "entries"

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        """The folder the entry is in, "" at the top."""
        return self.path.rpartition("/")[0]


class ChangeOp(models.TextChoices):
    CREATED = "created", "Created"
    MODIFIED = "modified", "Modified"
    DELETED = "deleted", "Deleted"


class Change(models.Model):
    """Recent changes of a project, newest first; older ones are pruned."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="changes")
    path = models.TextField()
    kind = models.CharField(max_length=8, choices=EntryKind.choices)
    op = models.CharField(max_length=8, choices=ChangeOp.choices)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.op} {self.path}"


class FileFetch(models.Model):
    """A file's bytes asked of its host (an image a README shows), kept by the
    hash of the content: a page showing the same bytes again finds them here.
    `request` is what the host answers to; `refused` the host's reason."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="fetches")
    path = models.TextField()
    path_hash = models.CharField(max_length=64)
    request = models.CharField(max_length=64, unique=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    refused = models.CharField(max_length=16, blank=True)
    hash = models.CharField(max_length=64, blank=True, db_index=True)
    size = models.IntegerField(null=True, blank=True)
    data = models.BinaryField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "path_hash"], name="fetch_project_path")]

    def __str__(self) -> str:
        return self.path


# Managing a host from the phone (docs/protocol.md, "Managing a host") ------------------------------


class ManageActionKind(models.TextChoices):
    FOLDERS = "folders", "List its folders"
    ADD_PROJECT = "add_project", "Share a folder"
    REMOVE_PROJECT = "remove_project", "Stop sharing a project"
    RESTART = "restart", "Restart the agent"


class ManageActionState(models.TextChoices):
    PENDING = "pending", "Waiting for the host"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"


class ManageAction(models.Model):
    """One `host.manage` the hub sent a host and what its `host.manage_result` said. Sent again
    on every link open while pending; a host has at most one change and one folder list pending."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="manage_actions")
    action = models.CharField(max_length=16, choices=ManageActionKind.choices)
    request = models.CharField(max_length=64, unique=True)  # secrets.token_urlsafe(24)
    params = models.JSONField(default=dict)  # the host.manage as sent
    state = models.CharField(
        max_length=16, choices=ManageActionState.choices, default=ManageActionState.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)  # the host's own words
    result = models.JSONField(default=dict, blank=True)  # the host.manage_result

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=ManageActionKind.values), name="manage_action_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=ManageActionState.values), name="manage_action_state_valid"
            ),
            models.UniqueConstraint(
                fields=["host"],
                condition=models.Q(state="pending") & ~models.Q(action="folders"),
                name="manage_action_one_change_pending",
            ),
            models.UniqueConstraint(
                fields=["host"],
                condition=models.Q(state="pending", action="folders"),
                name="manage_action_one_list_pending",
            ),
        ]
        indexes = [models.Index(fields=["host", "state"], name="manage_action_host_state")]

    def __str__(self) -> str:
        return f"{self.action} {self.request} ({self.state})"

    @property
    def pending(self) -> bool:
        return self.state == ManageActionState.PENDING
