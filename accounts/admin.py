from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from accounts.models import AuditEvent, Invitation, Membership, Team, User
from accounts.sockets import user_sockets_close
from codexhub.admin import ReadOnlyAdmin


@admin.register(User)
class CodexhubUserAdmin(UserAdmin):
    list_display = ("email", "username", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "username")
    ordering = ("email",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            # The next request finds the session's user inactive; open sockets must go now.
            transaction.on_commit(lambda: user_sockets_close(user_id=obj.id))


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "team", "role", "invited_by", "created_at", "expires_at", "accepted_at")
    list_filter = ("role",)
    search_fields = ("email", "team__name")
    readonly_fields = ("token_hash", "accepted_at", "accepted_by", "created_at")
    raw_id_fields = ("invited_by",)

    def has_add_permission(self, request):
        # An invitation's link is shown once, to its creator: create them on the team page.
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """An audit log that can be edited is not one."""

    list_display = ("created_at", "action", "target", "team", "actor", "ip")
    list_filter = ("action", "team")
    search_fields = ("target", "actor__email", "ip")
