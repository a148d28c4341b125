from django.urls import path

from notifications import views

urlpatterns = [
    path("settings/notifications/", views.notification_settings, name="notification_settings"),
    path("settings/notifications/preferences/", views.preferences_save, name="notification_preferences"),
    path("settings/notifications/webpush/", views.webpush_subscribe, name="webpush_subscribe"),
    path("settings/notifications/test/", views.notification_test, name="notification_test"),
    path(
        "settings/notifications/test/<int:run>/",
        views.notification_test_results,
        name="notification_test_results",
    ),
    path(
        "settings/notifications/teams/<int:team_id>/reminders/",
        views.team_reminder_save,
        name="team_reminder_save",
    ),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:entry_id>/open/", views.inbox_open, name="inbox_open"),
    path("inbox/read/", views.inbox_read_all, name="inbox_read_all"),
    path(
        "settings/notifications/devices/<str:kind>/<int:device_id>/toggle/",
        views.device_toggle,
        name="device_toggle",
    ),
    path(
        "settings/notifications/devices/<str:kind>/<int:device_id>/remove/",
        views.device_remove,
        name="device_remove",
    ),
    path("api/push/devices/", views.api_device_register, name="api_push_register"),
    path("api/push/devices/<str:kind>/<int:device_id>/", views.api_device_delete, name="api_push_delete"),
]
