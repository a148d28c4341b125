from django.conf import settings
from django.db import models

from accounts.models import Team
from devices.models import Host
from projects.models import Project


class TaskState(models.TextChoices):
    QUEUED = "queued", "Queued"
    ASSIGNED = "assigned", "Assigned"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class SessionState(models.TextChoices):
    """An agent session's turn (docs/protocol.md, "Agent sessions"); "" for other tasks."""

    NONE = "", "Not a session"
    WORKING = "working", "Working"
    WAITING = "waiting", "Waiting"
    ENDED = "ended", "Ended"


# The host holds the task (or may): cancel must go through it.
LIVE_STATES = (TaskState.QUEUED, TaskState.ASSIGNED, TaskState.RUNNING)
FINISHED_STATES = (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.EXPIRED)


class Workspace(models.TextChoices):
    """Where a task runs on its host (docs/protocol.md, "Git")."""

    WORKING_COPY = "working_copy", "In the working copy"
    WORKTREE = "worktree", "On its own branch"


class TaskQuerySet(models.QuerySet):
    def visible_to(self, user) -> "TaskQuerySet":
        """Tasks of the teams the user is a member of."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(team__memberships__user=user)


class Task(models.Model):
    """Work sent from the phone to one project of one host."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="tasks")
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="tasks")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    executor = models.CharField(max_length=32)
    executor_label = models.CharField(max_length=64, blank=True)
    # Its executor's kind when it was sent ("browser", "computer", ...; "" for older tasks): what
    # its steps are and how the task page names them.
    executor_kind = models.CharField(max_length=16, blank=True)
    target = models.TextField(blank=True)
    prompt = models.TextField()
    # Browser and computer tasks: the steps sent, and what each one that ran gave back.
    steps = models.JSONField(default=list, blank=True)
    step_results = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=16, choices=TaskState.choices, default=TaskState.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    assigned_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)  # the agent acked the assignment
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    duration = models.FloatField(null=True, blank=True)
    log_truncated = models.BooleanField(default=False)
    log_pruned = models.BooleanField(default=False)
    assign_count = models.PositiveIntegerField(default=0)
    session_state = models.CharField(max_length=16, choices=SessionState.choices, blank=True, default="")
    end_requested_at = models.DateTimeField(null=True, blank=True)
    # Git (docs/protocol.md, "Git"): where it runs; a worktree task's branch as the agent reports it.
    workspace = models.CharField(max_length=16, choices=Workspace.choices, default=Workspace.WORKING_COPY)
    base_branch = models.CharField(max_length=200, blank=True)  # asked for ("": the working copy's)
    worktree_of = models.ForeignKey(  # a continuation runs in this earlier task's worktree
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="continuations"
    )
    branch = models.CharField(max_length=200, blank=True)
    base = models.CharField(max_length=200, blank=True)  # the branch it started from, as reported
    base_commit = models.CharField(max_length=64, blank=True)
    # Codex threads (docs/protocol.md, "Codex threads"): the thread it runs, as the host reported
    # it; the one it was asked to continue, and the task that ran that thread before (if one did).
    thread_id = models.CharField(max_length=64, blank=True)
    resume_thread = models.CharField(max_length=64, blank=True)
    # A codex task's model and reasoning effort, among those its host's Codex offers ("": its own).
    model = models.CharField(max_length=100, blank=True)
    effort = models.CharField(max_length=16, blank=True)
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumptions"
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["host", "state", "id"], name="task_host_state"),
            models.Index(fields=["team", "-id"], name="task_team_recent"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=TaskState.values), name="task_state_valid"),
            models.CheckConstraint(
                condition=models.Q(session_state__in=SessionState.values), name="task_session_state_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(workspace__in=Workspace.values), name="task_workspace_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.id}: {self.title}"

    @property
    def title(self) -> str:
        """The prompt's first words, for lists and notifications."""
        words = " ".join(self.prompt.split())
        return words if len(words) <= 80 else words[:79].rstrip() + "…"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def cancellable(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def in_worktree(self) -> bool:
        return self.workspace == Workspace.WORKTREE

    @property
    def worktree_task_id(self) -> int:
        """The task whose worktree (and branch) this one runs in: itself, or the one it continues."""
        return self.worktree_of_id or self.id

    @property
    def can_resume(self) -> bool:
        """A finished task whose Codex thread a new task may continue (tasks.threads)."""
        return self.finished and bool(self.thread_id)

    @property
    def is_session(self) -> bool:
        return bool(self.session_state)

    @property
    def model_drives(self) -> bool:
        """A computer task a model drives toward the prompt (no steps): a session whose timeline
        shows each action, that takes no follow-ups (docs/protocol.md, "Computer tasks")."""
        return self.executor_kind == "computer" and not self.steps

    @property
    def session_open(self) -> bool:
        """A session that still takes follow-ups."""
        return (
            self.is_session
            and self.state in LIVE_STATES
            and self.session_state != SessionState.ENDED
            and self.end_requested_at is None
        )


class TaskLog(models.Model):
    """A piece of a task's output, numbered by the agent from 1."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="logs")
    seq = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="task_log_unique_seq")]

    def __str__(self) -> str:
        return f"task {self.task_id} log {self.seq}"


class FileOp(models.TextChoices):
    CREATED = "created", "Created"
    MODIFIED = "modified", "Modified"
    DELETED = "deleted", "Deleted"


class TaskFileChange(models.Model):
    """A file the task changed, with its unified diff when it is text."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="file_changes")
    path = models.TextField()
    op = models.CharField(max_length=8, choices=FileOp.choices)
    diff = models.TextField(null=True, blank=True)  # noqa: DJ001 (None: binary or too large)
    binary = models.BooleanField(default=False)
    too_large = models.BooleanField(default=False)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.op} {self.path}"


class TaskArtifact(models.Model):
    """A screenshot or PDF a browser task produced, served only to its team."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=32)
    content_type = models.CharField(max_length=32)
    data = models.BinaryField()
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "name"], name="artifact_unique_name")]

    def __str__(self) -> str:
        return f"task {self.task_id} {self.name}"


# Agent sessions ------------------------------------------------------------------------


class ItemKind(models.TextChoices):
    USER = "user", "User"
    AGENT = "agent", "Agent"
    THOUGHT = "thought", "Thought"
    PLAN = "plan", "Plan"
    TOOL = "tool", "Tool call"
    NOTICE = "notice", "Notice"


class TaskItem(models.Model):
    """One entry of a session's timeline; the agent replaces it whole by key."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=80)
    kind = models.CharField(max_length=16, choices=ItemKind.choices)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]  # an update keeps the entry's place
        constraints = [
            models.UniqueConstraint(fields=["task", "key"], name="task_item_unique_key"),
            models.CheckConstraint(condition=models.Q(kind__in=ItemKind.values), name="task_item_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} {self.kind} {self.key}"


class PermissionState(models.TextChoices):
    PENDING = "pending", "Waiting for an answer"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class PermissionOutcome(models.TextChoices):
    SELECTED = "selected", "Selected"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"


class OnTimeout(models.TextChoices):
    REJECT = "reject", "Reject"
    WAIT = "wait", "Wait"


class PermissionRequest(models.Model):
    """The agent asks before it acts; a person of the team answers."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="permissions")
    request_id = models.CharField(max_length=64)
    title = models.CharField(max_length=200, blank=True)
    tool_kind = models.CharField(max_length=16, blank=True)
    locations = models.JSONField(default=list, blank=True)
    diffs = models.JSONField(default=list, blank=True)
    options = models.JSONField(default=list)
    on_timeout = models.CharField(max_length=8, choices=OnTimeout.choices, default=OnTimeout.WAIT)
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=PermissionState.choices, default=PermissionState.PENDING)
    option_id = models.CharField(max_length=64, blank=True)  # the chosen one
    outcome = models.CharField(max_length=16, choices=PermissionOutcome.choices, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "request_id"], name="permission_unique_request"),
            models.CheckConstraint(
                condition=models.Q(state__in=PermissionState.values), name="permission_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} permission {self.request_id}: {self.title}"

    @property
    def pending(self) -> bool:
        return self.state == PermissionState.PENDING

    def option(self, option_id: str) -> dict | None:
        return next((o for o in self.options if o.get("option_id") == option_id), None)


class TaskMessage(models.Model):
    """A follow-up from the phone; its id is the protocol's message_id."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="messages")
    text = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)  # a turn carried it

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"task {self.task_id} message {self.id}"


# Git (docs/protocol.md, "Git") -----------------------------------------------------------


class GitActionKind(models.TextChoices):
    STATE = "state", "Repository state"
    COMMIT = "commit", "Commit"
    MERGE = "merge", "Merge"
    PUSH = "push", "Push"
    PULL_REQUEST = "pull_request", "Pull request"
    DISCARD = "discard", "Discard"


class GitActionState(models.TextChoices):
    PENDING = "pending", "Waiting for the host"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"


class GitAction(models.Model):
    """One `git.request` the hub sent (a person's decision on a chain's changes, or a
    project's `state`) and what its `git.result` said. Sent again on every link open
    while pending; a chain has at most one pending at a time, a project one `state`."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="git_actions")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="git_actions")
    task = models.ForeignKey(  # the task decided on from its page; null for a project's state
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="git_actions"
    )
    chain = models.ForeignKey(  # the first task of the task's chain (Task.worktree_task_id)
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="chain_git_actions"
    )
    action = models.CharField(max_length=16, choices=GitActionKind.choices)
    request = models.CharField(max_length=64, unique=True)  # secrets.token_urlsafe(24)
    params = models.JSONField(default=dict)  # the git.request as sent
    state = models.CharField(max_length=16, choices=GitActionState.choices, default=GitActionState.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)  # git's own words, verbatim
    files = models.JSONField(default=list, blank=True)  # the files the error names
    result = models.JSONField(default=dict, blank=True)  # the git.result (a state's is the snapshot)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=GitActionKind.values), name="git_action_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=GitActionState.values), name="git_action_state_valid"
            ),
            models.UniqueConstraint(
                fields=["chain"], condition=models.Q(state="pending"), name="git_action_one_pending_per_chain"
            ),
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(state="pending", action="state"),
                name="git_action_one_pending_state",
            ),
        ]
        indexes = [models.Index(fields=["host", "state"], name="git_action_host_state")]

    def __str__(self) -> str:
        return f"{self.action} {self.request} ({self.state})"

    @property
    def pending(self) -> bool:
        return self.state == GitActionState.PENDING


class GitOutcome(models.Model):
    """What became of a chain's changes in git, keyed by the chain's first task (for a task
    in the working copy, the task itself): its last commit, its merge, its push, its pull
    request, its discard. Written only from the host's results (tasks.git)."""

    task = models.OneToOneField(Task, primary_key=True, on_delete=models.CASCADE, related_name="git_outcome")
    commit = models.CharField(max_length=64, blank=True)  # the last commit on the branch
    commit_message = models.TextField(blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.CharField(max_length=200, blank=True)
    merge_commit = models.CharField(max_length=64, blank=True)  # `merged_into`'s commit after it
    merged_at = models.DateTimeField(null=True, blank=True)
    pushed_remote = models.CharField(max_length=100, blank=True)  # "": the branch's upstream, or origin
    pushed_branch = models.CharField(max_length=200, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    pr_url = models.CharField("pull request", max_length=2000, blank=True)
    discarded_at = models.DateTimeField(null=True, blank=True)
    restored = models.JSONField(default=list, blank=True)  # a working-copy discard's files

    def __str__(self) -> str:
        return f"git of task {self.task_id}"

    @property
    def merged(self) -> bool:
        return self.merged_at is not None

    @property
    def discarded(self) -> bool:
        return self.discarded_at is not None

    @property
    def closed(self) -> bool:
        """The worktree and branch are gone (merged or discarded): nothing more runs there."""
        return self.merged or self.discarded


class RepoSnapshot(models.Model):
    """A project's repository as its host last reported it (a `state` result): branch,
    upstream, ahead/behind, uncommitted files and diff, branches, remotes."""

    project = models.OneToOneField(Project, primary_key=True, on_delete=models.CASCADE, related_name="repo")
    state = models.JSONField(default=dict)  # protocol.git.RepoState
    taken_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"repository of project {self.project_id}"


# Codex threads (docs/protocol.md, "The host's threads") ----------------------------------


class CodexThreadList(models.Model):
    """One `codex.threads` the hub sent a host, and the threads it answered with (newest
    first, as the protocol's CodexThread dumps them). The latest answered one is what the
    host's Codex threads page shows, and the only threads a person may resume from it."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="codex_thread_lists")
    executor = models.CharField(max_length=32)
    request = models.CharField(max_length=64, unique=True)  # secrets.token_urlsafe(24)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    threads = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["host", "-id"], name="codex_threads_host_recent")]

    def __str__(self) -> str:
        return f"codex threads {self.request} of host {self.host_id}"

    @property
    def pending(self) -> bool:
        return self.finished_at is None

    def thread(self, thread_id: str) -> dict | None:
        return next((t for t in self.threads if t.get("id") == thread_id), None)
