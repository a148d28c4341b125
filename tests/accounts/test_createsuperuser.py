"""`make superuser`: an admin made from the command line by email and
password, who sets up two-factor before seeing anything, the admin included."""

import io

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.management.commands import createsuperuser as command
from accounts.models import User
from tests.kits.common import PASSWORD, make_user, page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def terminal(monkeypatch):
    """A person at a terminal who types `answers` in turn, passwords included."""
    answers: list[str] = []
    prompts: list[str] = []

    def ask(prompt=""):
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", ask)
    monkeypatch.setattr(command.getpass, "getpass", ask)
    return answers, prompts


def run(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("createsuperuser", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_it_asks_for_an_email_and_a_password_never_a_username(terminal):
    answers, prompts = terminal
    answers += ["Root@Example.com", PASSWORD, PASSWORD]
    out, _ = run()
    assert prompts == ["Email address: ", "Password: ", "Password (again): "]
    user = User.objects.get()
    assert (user.email, user.is_superuser, user.is_staff) == ("root@example.com", True, True)
    assert user.username == "root"
    assert user.check_password(PASSWORD)
    assert EmailAddress.objects.get(user=user).verified
    assert "Superuser root@example.com created" in out
    assert "two-factor" in out


def test_it_asks_again_after_a_bad_email_a_taken_one_a_mismatch_or_a_weak_password(terminal):
    make_user("taken@example.com")
    answers, _ = terminal
    answers += ["not an email", "TAKEN@example.com", "root@example.com"]
    answers += [PASSWORD, "something else", "123", "123", PASSWORD, PASSWORD]
    _, err = run()
    assert "Enter a valid email address." in err
    assert command.EMAIL_TAKEN in err
    assert command.PASSWORDS_DIFFER in err
    assert "This password is too short." in err
    assert User.objects.filter(is_superuser=True).get().email == "root@example.com"


def test_it_runs_without_questions_from_the_environment(monkeypatch):
    monkeypatch.setenv(command.PASSWORD_ENV, PASSWORD)
    run("--noinput", "--email", "ops@example.com")
    assert User.objects.get(email="ops@example.com").is_superuser


def test_without_questions_it_refuses_what_it_would_ask_again(monkeypatch):
    with pytest.raises(CommandError, match="--noinput needs --email"):
        run("--noinput", "--email", "ops@example.com")
    monkeypatch.setenv(command.PASSWORD_ENV, "123")
    with pytest.raises(CommandError, match="too short"):
        run("--noinput", "--email", "ops@example.com")
    assert not User.objects.exists()


def test_a_new_superuser_sets_up_two_factor_before_any_page_the_admin_included(client, monkeypatch):
    monkeypatch.setenv(command.PASSWORD_ENV, PASSWORD)
    run("--noinput", "--email", "root@example.com")
    response = client.post(reverse("account_login"), {"login": "root@example.com", "password": PASSWORD})
    assert response.status_code == 302
    for path in ("/", "/hosts/", "/settings/", "/teams/", "/admin/", "/admin/accounts/user/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(f"{reverse('otp_setup')}?next="), path
    assert "Set up two-factor" in page_text(client.get(response["Location"]))
