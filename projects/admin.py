from django.contrib import admin, messages

from codexhub.admin import ReadOnlyAdmin
from projects.models import Change, Entry, Project
from projects.paths import path_visible
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


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("shown_path", "project", "kind", "size", "binary", "updated_at")
    list_filter = ("kind", "binary", "project__host")
    search_fields = ("path", "project__name")
    exclude = ("text",)

    @admin.display(description="path", ordering="path")
    def shown_path(self, entry: Entry) -> str:
        return path_visible(entry.path)


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "op", "shown_path", "project")
    list_filter = ("op",)

    @admin.display(description="path", ordering="path")
    def shown_path(self, change: Change) -> str:
        return path_visible(change.path)
