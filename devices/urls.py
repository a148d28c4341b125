from django.urls import path

from devices import views

urlpatterns = [
    path("", views.host_list, name="host_list"),
    path("<int:host_id>/", views.host_detail, name="host_detail"),
    path("<int:host_id>/rename/", views.host_rename, name="host_rename"),
    path("<int:host_id>/approvals/", views.host_approvals, name="host_approvals"),
    path("<int:host_id>/git-role/", views.host_git_role, name="host_git_role"),
    path("<int:host_id>/revoke/", views.host_revoke, name="host_revoke"),
]
