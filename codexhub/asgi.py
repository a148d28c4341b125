"""The hub's ASGI entry: HTTP, the phone's /ws/ui/ and the hosts' /ws/host/."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codexhub.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: consumers load models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from codexhub.security import SameOriginValidator  # noqa: E402
from codexhub.ui import UIConsumer  # noqa: E402
from devices.auth import HostTokenAuthMiddleware  # noqa: E402
from devices.consumers import HostConsumer  # noqa: E402
from tasks.beat import start_in_process_beat  # noqa: E402

websocket_routes = URLRouter(
    [
        path("ws/ui/", SameOriginValidator(AuthMiddlewareStack(UIConsumer.as_asgi()))),
        # Agents send no Origin and no cookies: they authenticate by token.
        path("ws/host/", HostTokenAuthMiddleware(HostConsumer.as_asgi())),
    ]
)

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_routes})

if settings.TASK_IN_PROCESS_BEAT:
    start_in_process_beat()
