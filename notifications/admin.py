from django.contrib import admin

from codexhub.admin import ReadOnlyAdmin
from notifications.models import Delivery, DeviceHealth, InboxEntry, Preference, TeamReminder


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "task_succeeded", "task_failed", "host_offline")
    search_fields = ("user__email",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("key", "user", "created_at", "sent_at", "gave_up_at", "error")
    list_filter = ("sent_at", "gave_up_at", "kind")
    search_fields = ("key", "user__email")


@admin.register(InboxEntry)
class InboxEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "title", "key", "read_at")
    search_fields = ("user__email", "title", "key")
    date_hierarchy = "created_at"


@admin.register(DeviceHealth)
class DeviceHealthAdmin(ReadOnlyAdmin):
    list_display = ("kind", "device_id", "user", "last_sent_at", "last_error_at", "last_error", "off_reason")
    list_filter = ("kind",)
    search_fields = ("user__email", "last_error", "off_reason")


@admin.register(TeamReminder)
class TeamReminderAdmin(admin.ModelAdmin):
    list_display = ("team", "remind_after", "escalate")
    search_fields = ("team__name",)
