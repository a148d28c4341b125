from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

ADMIN_NOT_STAFF = "This account has no access to the admin. Sign out and sign in with an admin account."


class HubAdminSite(admin.AdminSite):
    """The admin behind the hub's own sign-in and second factor, with no login
    form of its own: /admin/login/ sends a visitor to the hub's sign-in and
    back. A signed-in session reaches it only past accounts' second-factor
    middleware, which sends one without its factor to set it up or type it."""

    def has_permission(self, request) -> bool:
        is_verified = getattr(request.user, "is_verified", None)
        return super().has_permission(request) and is_verified is not None and is_verified()

    def login(self, request, extra_context=None):
        index = reverse("admin:index", current_app=self.name)
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
            next_url = index
        if not request.user.is_authenticated:
            return redirect_to_login(next_url)
        if self.has_permission(request):
            return redirect(next_url)
        context = {**self.each_context(request), "title": "No access", "message": ADMIN_NOT_STAFF}
        return render(request, "admin/no_access.html", context, status=403)


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
