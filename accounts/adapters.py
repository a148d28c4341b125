from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return settings.ALLOW_SIGNUP


def user_display(user) -> str:
    return user.email or user.get_username()
