from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        from tasks import (
            handlers,  # noqa: F401  (registers the task message handlers)
            hooks,
        )

        hooks.register()
