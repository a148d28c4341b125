from django.contrib import admin, messages

from codexhub.admin import ReadOnlyAdmin
from projects.models import Change, Entry, Project
from projects.services import mirror_resync


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ("name", "host", "last_change_at", "removed_at", "created_at")
    list_filter = ("host__team", "host")
    search_fields = ("name", "host__name")
    actions = ["resync"]

    @admin.action(description="Ask the host for a full snapshot")
    def resync(self, request, queryset):
        for project in queryset.select_related("host"):
            mirror_resync(project=project)
        self.message_user(request, f"Asked for {queryset.count()} snapshot(s).", messages.SUCCESS)

    def get_actions(self, request):
        # Actions need change permission by default; this one only sends a message.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("path", "project", "kind", "size", "binary", "updated_at")
    list_filter = ("kind", "binary", "project__host")
    search_fields = ("path", "project__name")
    exclude = ("text",)


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "op", "path", "project")
    list_filter = ("op",)
