"""Browser tests: Debian's Chromium driven by Playwright at a phone viewport,
against a live daphne (and, with Redis, a Celery worker) on loopback."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.kits.desktop import NotificationDaemon
from tests.kits.notes_host import notes_world
from tests.kits.phone import PHONE, off_the_loop  # noqa: F401 (the e2e tests import it from here)
from tests.kits.processes import Hub, hub_env, hub_with_worker

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXPECTED_STATUS_LINE = "Failed to load resource: the server responded with a status of 4"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the tests make around it are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def artifacts(request) -> Path:
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def mail_dir(tmp_path) -> Path:
    folder = tmp_path / "mail"
    folder.mkdir()
    return folder


@pytest.fixture
def hub(transactional_db, artifacts):
    """daphne serving the hub, with no worker."""
    hub = Hub(hub_env(), artifacts)
    yield hub
    hub.stop()


@pytest.fixture
def live_hub(transactional_db, artifacts, mail_dir):
    env = hub_env(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail_dir),
    )
    with hub_with_worker(env, artifacts) as hub:
        yield hub


class Phones:
    """Phone-sized browser contexts, one per person; page errors are kept."""

    def __init__(self, browser):
        self.browser = browser
        self.contexts = []
        self.errors: list[str] = []

    def new_page(self):
        context = self.browser.new_context(**PHONE)
        context.on("weberror", lambda error: self.errors.append(str(error.error)))
        context.on("console", self._on_console)
        self.contexts.append(context)
        return context.new_page()

    def _on_console(self, message) -> None:
        # CSP violations and script errors land here; a page answered with a
        # 4xx on purpose (a wrong code, a used link) logs a line too.
        if message.type == "error" and not message.text.startswith(EXPECTED_STATUS_LINE):
            self.errors.append(message.text)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def phones(browser):
    phones = Phones(browser)
    yield phones
    phones.close()


@pytest.fixture
def world(transactional_db, tmp_path, artifacts):
    """A hub, a team with one owner, and a host sharing `notes/` (agent not started):
    tests.kits.notes_host."""
    with notes_world(tmp_path, artifacts) as world:
        yield world


@pytest.fixture
def daemon():
    if not shutil.which("dbus-daemon"):
        pytest.fail("dbus-daemon is missing: apt-get install -y dbus-daemon")
    with tempfile.TemporaryDirectory(prefix="bus-") as folder:  # short: a socket path has 108 bytes
        daemon = NotificationDaemon(Path(folder))
        yield daemon
        daemon.stop()


@pytest.fixture
def desktop(browser, daemon, tmp_path):
    """A phone-sized Chromium with a profile of its own, on the daemon's bus."""
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": daemon.address},
        **PHONE,
    )
    yield context
    context.close()
