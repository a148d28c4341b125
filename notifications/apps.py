from django.apps import AppConfig
from django.conf import settings


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        if settings.FCM_SERVICE_ACCOUNT_FILE:
            import firebase_admin
            from firebase_admin import credentials

            credential = credentials.Certificate(settings.FCM_SERVICE_ACCOUNT_FILE)
            settings.PUSH_NOTIFICATIONS_SETTINGS["FIREBASE_APP"] = firebase_admin.initialize_app(credential)
