"""`manage.py createsuperuser` (and `make superuser`) for a hub that signs
people in by email: asks for an email and a password, never a username.

It replaces django.contrib.auth's command: accounts comes before
django.contrib.auth in INSTALLED_APPS for that."""

import getpass
import os
import sys

from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import User

PASSWORD_ENV = "DJANGO_SUPERUSER_PASSWORD"
EMAIL_TAKEN = "An account with this email address exists already."
PASSWORDS_DIFFER = "The two passwords differ."
NEXT_STEP = (
    "Superuser {email} created. Sign in at /accounts/login/ with this email and password: "
    "the hub then has you set up two-factor authentication with an authenticator app "
    "before anything else, the admin included."
)


def email_check(email: str) -> str:
    """The address to store; raises ValidationError with a sentence."""
    email = email.strip().lower()
    validate_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(EMAIL_TAKEN)
    return email


@transaction.atomic
def superuser_create(*, email: str, password: str) -> User:
    username = get_adapter().generate_unique_username([email, "admin"])
    user = User.objects.create_superuser(username=username, email=email, password=password)
    # Typed by whoever runs the hub: as good as a confirmed address, so an
    # ACCOUNT_EMAIL_VERIFICATION of "mandatory" does not hold the admin out.
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


class Command(BaseCommand):
    help = "Create an admin account: an email address and a password (two-factor is set up at first sign-in)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--email", help="The admin's email address; asked for if left out.")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help=f"Ask nothing: needs --email, and the password in {PASSWORD_ENV}.",
        )

    def handle(self, *args, **options) -> None:
        if options["interactive"]:
            if not sys.stdin.isatty():
                raise CommandError(f"Not a terminal: use --noinput with --email and {PASSWORD_ENV}.")
            try:
                email = self._ask_email(options["email"])
                password = self._ask_password(email)
            except (KeyboardInterrupt, EOFError):
                raise CommandError("Cancelled: no account was created.") from None
        else:
            email, password = self._given(options["email"])
        superuser_create(email=email, password=password)
        self.stdout.write(NEXT_STEP.format(email=email))

    def _given(self, email: str | None) -> tuple[str, str]:
        password = os.environ.get(PASSWORD_ENV, "")
        if not email or not password:
            raise CommandError(f"--noinput needs --email and the password in {PASSWORD_ENV}.")
        try:
            email = email_check(email)
            validate_password(password, User(email=email))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        return email, password

    def _ask_email(self, email: str | None) -> str:
        while True:
            raw = email if email is not None else input("Email address: ")
            email = None
            try:
                return email_check(raw)
            except ValidationError as exc:
                self.stderr.write(f"Error: {' '.join(exc.messages)}")

    def _ask_password(self, email: str) -> str:
        while True:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                self.stderr.write(f"Error: {PASSWORDS_DIFFER}")
                continue
            try:
                validate_password(password, User(email=email))
            except ValidationError as exc:
                self.stderr.write(f"Error: {' '.join(exc.messages)}")
                continue
            return password
