from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from codexhub import views
from codexhub.admin import HubAdminSite
from devices import api as device_api
from devices import views as device_views
from projects import image_views as raw_views
from projects import manage_views
from tasks import api as task_api
from tasks import thread_views
from tasks import views as task_views

# Staff reach the admin through the hub's sign-in and second factor.
admin.site.__class__ = HubAdminSite
admin.site.site_header = "codexhub admin"
admin.site.site_title = "codexhub admin"
admin.site.index_template = "admin/codexhub_index.html"  # adds the push notification status

urlpatterns = [
    path("", views.home, name="home"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service_worker"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/login/", account_views.LoginView.as_view(), name="account_login"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("hosts/", include("devices.urls")),
    path("pair/", device_views.pair, name="pair"),
    path("agent/<str:filename>", device_views.agent_wheel, name="agent_wheel"),
    path("api/pairing/", device_api.pairing_start, name="api_pairing_start"),
    path("api/pairing/token/", device_api.pairing_token, name="api_pairing_token"),
    path("api/pairing/confirm/", device_api.pairing_confirm, name="api_pairing_confirm"),
    path("api/pairing/reject/", device_api.pairing_reject, name="api_pairing_reject"),
    path("api/host/unpair/", device_api.host_unpair, name="api_host_unpair"),
    path("api/host/status/", device_api.host_status, name="api_host_status"),
    path(
        "api/host/tasks/<int:task_id>/artifacts/<str:name>",
        task_api.artifact_upload,
        name="api_task_artifact",
    ),
    path("api/host/files/<str:request_id>", raw_views.file_upload, name="api_file_upload"),
    path("api/host/files/<str:request_id>/refused", raw_views.file_refused, name="api_file_refused"),
    path("api/push/answer/", task_views.api_permission_answer, name="api_permission_answer"),
    path("projects/<int:project_id>/repo/", task_views.project_repo, name="project_repo"),
    path("projects/<int:project_id>/screen/", task_views.project_screen, name="project_screen"),
    path("hosts/<int:host_id>/codex/", thread_views.host_codex_threads, name="host_codex_threads"),
    path("hosts/<int:host_id>/codex/resume/", thread_views.host_codex_resume, name="host_codex_resume"),
    path("hosts/<int:host_id>/manage/", manage_views.host_manage, name="host_manage"),
    path("hosts/<int:host_id>/manage/folders/", manage_views.host_folders, name="host_folders"),
    path("hosts/<int:host_id>/manage/add/", manage_views.host_folder_add, name="host_folder_add"),
    path("hosts/<int:host_id>/manage/remove/", manage_views.host_project_remove, name="host_project_remove"),
    path("hosts/<int:host_id>/manage/restart/", manage_views.host_restart, name="host_restart"),
    path("projects/", include("projects.urls")),
    path("tasks/", include("tasks.urls")),
    path("", include("notifications.urls")),
]

handler500 = "codexhub.views.server_error"
