from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "projects"

    def ready(self) -> None:
        from devices.hooks import on_link_open
        from projects import services  # noqa: F401  (registers the mirror message handlers)
        from projects.manage import manage_resends  # registers host.manage_result

        on_link_open(manage_resends)  # a host that links again gets the requests it has not answered
