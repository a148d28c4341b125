"""A signed-in page through the whole middleware stack (sessions, OTP, the
second-factor gate, team, CSP, templates) against /healthz, a bare view, in
the same process."""

from _setup import django_on_temp_db, summary, timed

django_on_temp_db()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django_otp import DEVICE_ID_SESSION_KEY  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import team_create  # noqa: E402

RUNS = 300


def main() -> None:
    settings.ALLOWED_HOSTS.append("testserver")
    user = User.objects.create(username="bench", email="bench@example.com")
    device = TOTPDevice.objects.create(user=user, name="a", confirmed=True)
    team_create(user=user, name="Bench")
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    for url in ("/hosts/", "/healthz"):  # warm up templates and connections
        assert client.get(url).status_code == 200

    hosts = timed(lambda: client.get("/hosts/"), RUNS)
    bare = timed(lambda: client.get("/healthz"), RUNS)
    print("in-process request, SQLite, signed in with a verified second factor")
    print(f"  GET /hosts/  (full stack)   {summary(hosts)}")
    print(f"  GET /healthz (baseline)     {summary(bare)}")
    print(f"  ratio p50                   {sorted(hosts)[RUNS // 2] / sorted(bare)[RUNS // 2]:.2f}")


if __name__ == "__main__":
    main()
