from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

# allauth says this once the password is right; signing in is not done until
# the second factor, and accounts.views.otp_verify says it then (SIGNED_IN).
SIGNED_IN_TEMPLATE = "account/messages/logged_in.txt"


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return settings.ALLOW_SIGNUP

    def add_message(
        self, request, level, message_template=None, message_context=None, extra_tags="", message=None
    ):
        if message_template == SIGNED_IN_TEMPLATE:
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message)


def user_display(user) -> str:
    return user.email or user.get_username()
