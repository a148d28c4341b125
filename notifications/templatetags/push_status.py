from django import template

from notifications import services

register = template.Library()


@register.simple_tag
def push_status() -> dict[str, bool]:
    return services.status()
