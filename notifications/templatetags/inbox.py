from django import template

from notifications import services

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_unread(context) -> int:
    """Unread inbox entries of the signed-in user, for the tab bar's badge."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return 0
    return services.inbox_unread(user=user)
