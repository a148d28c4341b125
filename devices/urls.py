from django.urls import path

from devices import views

urlpatterns = [
    path("", views.host_list, name="host_list"),
]
