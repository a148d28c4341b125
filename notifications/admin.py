from django.contrib import admin

from codexhub.admin import ReadOnlyAdmin
from notifications.models import Delivery, InboxEntry, Preference


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "task_succeeded", "task_failed", "host_offline")
    search_fields = ("user__email",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("key", "user", "created_at", "sent_at", "error")
    list_filter = ("sent_at",)
    search_fields = ("key", "user__email")


@admin.register(InboxEntry)
class InboxEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "title", "key")
    search_fields = ("user__email", "title", "key")
    date_hierarchy = "created_at"
