from django.contrib import admin, messages

from codexhub.admin import ReadOnlyAdmin
from tasks.models import Task, TaskFileChange
from tasks.services import TaskError, task_cancel


class TaskFileChangeInline(admin.TabularInline):
    model = TaskFileChange
    fields = ("op", "path", "binary", "too_large")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "state", "host", "project", "executor", "created_by", "created_at")
    list_filter = ("state", "executor", "host__team", "host")
    search_fields = ("prompt", "target", "host__name", "project__name", "created_by__email")
    date_hierarchy = "created_at"
    inlines = [TaskFileChangeInline]
    actions = ["cancel"]

    @admin.action(description="Cancel the selected tasks")
    def cancel(self, request, queryset):
        cancelled = 0
        for task in queryset:
            try:
                task_cancel(task=task, user=request.user)
                cancelled += 1
            except TaskError:
                pass  # already finished
        self.message_user(request, f"Cancelled or asked to stop {cancelled} task(s).", messages.SUCCESS)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
