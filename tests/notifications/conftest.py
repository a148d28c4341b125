import pytest
from django.conf import settings as django_settings

from notifications import vapid
from tests.notifications.pushservice import PushService


@pytest.fixture
def push_service(monkeypatch, settings, tmp_path):
    """The local push service, trusted and allowed, and a VAPID key of this test's own."""
    key_file = tmp_path / "vapid.pem"
    vapid.generate(key_file)
    settings.VAPID_PRIVATE_KEY_FILE = str(key_file)
    # django-push-notifications keeps a reference to this dict from import time.
    monkeypatch.setitem(django_settings.PUSH_NOTIFICATIONS_SETTINGS, "WP_PRIVATE_KEY", str(key_file))
    monkeypatch.setitem(
        django_settings.PUSH_NOTIFICATIONS_SETTINGS, "WP_CLAIMS", {"sub": "mailto:ops@example.com"}
    )
    settings.PUSH_RETRY_BASE = 0.01
    with PushService() as service:
        service.trust(monkeypatch)
        settings.WEBPUSH_ALLOWED_HOSTS = [service.url.removeprefix("https://")]
        yield service
