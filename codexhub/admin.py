from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that only the system writes (audit, mirrors): staff read
    them, nobody adds, edits or deletes them, superusers included."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
