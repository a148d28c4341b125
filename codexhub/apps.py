from django.apps import AppConfig


class CodexhubConfig(AppConfig):
    name = "codexhub"
    verbose_name = "codexhub"

    def ready(self) -> None:
        from codexhub import checks  # noqa: F401  (registers the system checks)
