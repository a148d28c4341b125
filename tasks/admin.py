from django.contrib import admin, messages

from codexhub.admin import ReadOnlyAdmin, ReadOnlyInline
from codexhub.errors import ServiceError
from tasks.models import GitAction, PermissionRequest, Task, TaskFileChange, TaskItem, TaskMessage
from tasks.services import task_cancel


class TaskFileChangeInline(ReadOnlyInline):
    model = TaskFileChange
    fields = ("op", "path", "binary", "too_large")
    readonly_fields = fields


class PermissionRequestInline(ReadOnlyInline):
    model = PermissionRequest
    fields = (
        "request_id",
        "title",
        "state",
        "option_id",
        "outcome",
        "answered_by",
        "created_at",
        "closed_at",
    )
    readonly_fields = fields


class TaskMessageInline(ReadOnlyInline):
    model = TaskMessage
    fields = ("text", "created_by", "created_at", "delivered_at")
    readonly_fields = fields


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "state", "host", "project", "executor", "created_by", "created_at")
    list_filter = ("state", "executor", "host__team", "host")
    search_fields = ("prompt", "target", "host__name", "project__name", "created_by__email")
    date_hierarchy = "created_at"
    inlines = [TaskFileChangeInline, PermissionRequestInline, TaskMessageInline]
    actions = ["cancel"]

    @admin.action(description="Cancel the selected tasks")
    def cancel(self, request, queryset):
        cancelled = 0
        for task in queryset:
            try:
                task_cancel(task=task, user=request.user)
                cancelled += 1
            except ServiceError:
                pass  # already finished
        self.message_user(request, f"Cancelled or asked to stop {cancelled} task(s).", messages.SUCCESS)


@admin.register(PermissionRequest)
class PermissionRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "task", "title", "state", "outcome", "option_id", "answered_by", "created_at")
    list_filter = ("state", "outcome", "task__host")
    search_fields = ("title", "request_id")
    raw_id_fields = ("task",)


@admin.register(TaskItem)
class TaskItemAdmin(ReadOnlyAdmin):
    """A session's timeline (up to 2,000 entries a task: too many for an inline)."""

    list_display = ("id", "task", "kind", "key", "updated_at")
    list_filter = ("kind",)
    search_fields = ("=task__id", "key")
    raw_id_fields = ("task",)


@admin.register(GitAction)
class GitActionAdmin(ReadOnlyAdmin):
    """The git requests sent to hosts and what they answered (git's own words)."""

    list_display = (
        "id",
        "action",
        "state",
        "task",
        "project",
        "host",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("action", "state", "host__team", "host")
    search_fields = ("=request", "=task__id", "project__name", "host__name", "error")
    date_hierarchy = "created_at"
    raw_id_fields = ("task", "chain")
