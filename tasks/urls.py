from django.urls import path

from tasks import views

urlpatterns = [
    path("", views.task_list, name="task_list"),
    path("new/", views.task_new, name="task_new"),
    path("<int:task_id>/", views.task_detail, name="task_detail"),
    path("<int:task_id>/log/", views.task_log, name="task_log"),
    path("<int:task_id>/cancel/", views.task_cancel, name="task_cancel"),
    path("<int:task_id>/rerun/", views.task_rerun, name="task_rerun"),
    path("<int:task_id>/artifacts/<str:name>", views.task_artifact, name="task_artifact"),
    path(
        "<int:task_id>/permissions/<int:permission_id>/",
        views.task_permission_answer,
        name="task_permission_answer",
    ),
    path("<int:task_id>/messages/", views.task_message, name="task_message"),
    path("<int:task_id>/interrupt/", views.task_interrupt, name="task_interrupt"),
    path("<int:task_id>/end/", views.task_end, name="task_end"),
    path("<int:task_id>/git/<str:action>/", views.task_git, name="task_git"),
    path("<int:task_id>/continue/", views.task_continue, name="task_continue"),
    path("<int:task_id>/resume/", views.task_resume, name="task_resume"),
]
