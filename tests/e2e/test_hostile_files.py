"""Hostile Markdown and file names, opened in Chromium (SECURITY.md 56, 57)."""

import pytest
from playwright.sync_api import expect

from projects.models import Project
from tests.e2e.conftest import PHONE, off_the_loop
from tests.kits.common import make_host, make_owner
from tests.kits.mirror_stream import HOSTILE_MARKDOWN, Stream, file_change
from tests.kits.phone import shot, sign_in

pytestmark = pytest.mark.e2e

EVIL_NAME = '<img src=x onerror="window.__pwned=1">.md'


def _mirror_with_hostile_files():
    user, team = make_owner("rae@example.com", "Rae's")
    host, _ = make_host(team, "box")
    stream = Stream(host.id)
    stream.projects("docs")
    stream.batch("docs", file_change("evil.md", HOSTILE_MARKDOWN), file_change(EVIL_NAME, "x"), reset=True)
    return user


@pytest.fixture
def reader(transactional_db):
    return off_the_loop(_mirror_with_hostile_files)


def test_nothing_from_a_file_runs_in_the_browser(hub, reader, browser, artifacts):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text))
    sign_in(page, hub.url, reader)
    project = Project.objects.get(name="docs")
    page.goto(f"{hub.url}/projects/{project.id}/")
    expect(page.get_by_role("tree").get_by_text(EVIL_NAME)).to_be_visible()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.goto(f"{hub.url}/projects/{project.id}/files/evil.md")
    expect(page.locator("#file-body h1")).to_have_text("Title")
    shot(page, artifacts, "hostile-markdown")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#file-body script, #file-body iframe, #file-body img, #file-body svg").count() == 0
    links = page.locator("#file-body a")
    assert links.count() == 1
    assert links.first.get_attribute("rel") == "noopener noreferrer"
    assert links.first.get_attribute("href") == "https://example.com"
    # The CSP forbids inline script, so even an injected one would not run.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__pwned = 2';"
        " document.body.appendChild(s); }"
    )
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert any("Content Security Policy" in text for text in violations)
