from django.contrib import admin, messages
from django.utils import timezone

from codexhub.admin import ReadOnlyInline
from devices.models import Host, HostState, PairingRequest, RefusedMessage
from devices.services import host_revoke
from devices.versions import HUB_AGENT_VERSION, is_older


class OnlineFilter(admin.SimpleListFilter):
    title = "online"
    parameter_name = "online"

    def lookups(self, request, model_admin):
        return [("yes", "Online"), ("no", "Offline")]

    def queryset(self, request, queryset):
        from datetime import timedelta

        from django.conf import settings

        fresh = timezone.now() - timedelta(seconds=settings.HOST_HEARTBEAT_TIMEOUT)
        online = queryset.exclude(link_channel="").filter(last_seen_at__gt=fresh)
        if self.value() == "yes":
            return online
        if self.value() == "no":
            return queryset.exclude(id__in=online.values("id"))
        return queryset


class AgentFilter(admin.SimpleListFilter):
    """Hosts whose agent is older than the one this hub serves (versions compared as versions)."""

    title = "agent"
    parameter_name = "agent"

    def lookups(self, request, model_admin):
        return [("outdated", f"Older than {HUB_AGENT_VERSION}"), ("current", "Current or unknown")]

    def queryset(self, request, queryset):
        if self.value() not in ("outdated", "current"):
            return queryset
        versions = queryset.exclude(agent_version="").values_list("agent_version", flat=True).distinct()
        older = [version for version in versions if is_older(version)]
        if self.value() == "outdated":
            return queryset.filter(agent_version__in=older)
        return queryset.exclude(agent_version__in=older)


class RefusedMessageInline(ReadOnlyInline):
    """The latest messages the hub refused from the host (read-only)."""

    model = RefusedMessage
    verbose_name_plural = "latest refused messages"
    fields = ("at", "stream", "seq", "kind", "reason")
    readonly_fields = fields


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "team",
        "state",
        "is_online",
        "approve_role",
        "git_role",
        "platform",
        "agent_version",
        "protocol_version",
        "last_seen_at",
        "refused_count",
    )
    list_filter = (
        "team",
        OnlineFilter,
        "state",
        AgentFilter,
        "agent_version",
        "protocol_version",
        "platform",
    )
    search_fields = ("name", "team__name", "platform")
    readonly_fields = (
        "team", "state", "token_hash", "token_issued_at", "approved_by", "created_at", "confirmed_at",
        "revoked_at", "last_seen_at", "link_channel", "platform", "agent_version", "protocol_version",
        "agent_clis", "capabilities", "refused_count", "last_refused_at", "last_refused_reason",
    )  # fmt: skip
    fields = ("name", "approve_role", "git_role", *readonly_fields)
    actions = ["revoke_hosts"]
    inlines = [RefusedMessageInline]

    @admin.display(boolean=True, description="online")
    def is_online(self, host: Host) -> bool:
        return host.online

    def has_add_permission(self, request):
        return False  # hosts join by pairing only

    def has_delete_permission(self, request, obj=None):
        # Deleting a host would leave its live link open: revoke it instead.
        return False

    @admin.action(description="Revoke the selected hosts (closes their links)")
    def revoke_hosts(self, request, queryset):
        revoked = sum(
            host_revoke(host=host, actor=request.user, ip=request.META.get("REMOTE_ADDR"), reason="admin")
            for host in queryset.exclude(state=HostState.REVOKED)
        )
        self.message_user(request, f"Revoked {revoked} host(s).", messages.SUCCESS)


@admin.register(PairingRequest)
class PairingRequestAdmin(admin.ModelAdmin):
    list_display = ("name", "state", "requested_from", "team", "decided_by", "created_at", "expires_at")
    list_filter = ("state",)
    search_fields = ("name", "requested_from")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
