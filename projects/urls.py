from django.urls import path

from projects import image_views, views

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("<int:project_id>/", views.project_detail, name="project_detail"),
    path("<int:project_id>/tree/<path:path>", views.folder_detail, name="folder_detail"),
    path("<int:project_id>/search", views.project_search, name="project_search"),
    path("<int:project_id>/files/<path:path>", views.file_detail, name="file_detail"),
    path("<int:project_id>/raw/<path:path>", image_views.project_raw, name="project_raw"),
]
