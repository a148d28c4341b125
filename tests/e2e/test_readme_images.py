"""A README as a developer knows it from a code host, on a phone (390x844),
with a real agent: a centred HTML heading with the project's logo fetched
from the host on demand, a table of contents that goes to its headings, a
table whose cells keep their words, an SVG that runs nothing, ignored and
external images as their alt text; then, with the host offline, an image
never fetched says so."""

import struct
import zlib

import pytest
from playwright.sync_api import expect

from devices.models import Host
from projects.models import Entry, FileFetch, Project
from tests.e2e.conftest import PHONE
from tests.kits.common import make_host, make_owner
from tests.kits.phone import shot, sign_in
from tests.kits.processes import Agent, hub_env, hub_with_worker, wait_until, write_agent_config

pytestmark = pytest.mark.e2e

FAST_LINK = {"HOST_HEARTBEAT_INTERVAL": "0.5", "HOST_HEARTBEAT_TIMEOUT": "2"}

README = (
    """<h1 align="center">
  <img src="docs/logo.png" alt="Acme logo" width="96"><br>
  Acme
</h1>
<!-- TODO: a better logo -->
<p align="center"><a href="https://ci.example/acme">
  <img src="https://ci.example/badge.svg" alt="build passing"></a></p>

## Contents
- [Install](#install)
- [Usage](#usage)
- [The guide](docs/GUIDE.md)

## Install
Run the installer. ![architecture](docs/diagram.svg) ![private](secret.png)

"""
    + "Filler paragraph so the usage section starts below the fold.\n\n" * 30
    + """
## Usage
| option | meaning |
|---|---|
| `--verbose` | prints everything it does |
| `--configuration` | reads settings from a file |
"""
)

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><script>window.__pwned = 1</script>'
    '<rect width="40" height="20" fill="#3a7"/></svg>'
)


def png(width: int, height: int) -> bytes:
    """A real RGB PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x20\x60\xc0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "acme"
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text(README)
    (root / "NOTES.md").write_text("# Notes\n\n![chart](docs/chart.png)\n")
    (root / "docs" / "GUIDE.md").write_text("# Guide\n")
    (root / "docs" / "logo.png").write_bytes(png(48, 48))
    (root / "docs" / "chart.png").write_bytes(png(8, 8))
    (root / "docs" / "diagram.svg").write_text(SVG)
    (root / ".gitignore").write_text("secret.png\n")
    (root / "secret.png").write_bytes(png(4, 4))
    return root


@pytest.fixture
def setup(transactional_db, tmp_path, artifacts, tree):
    with hub_with_worker(hub_env(**FAST_LINK), artifacts) as hub:
        user, team = make_owner("ines@example.com", "Ines's")
        host, token = make_host(team, "studio")
        config = write_agent_config(
            tmp_path / "agent" / "agent.toml", hub=hub.url, host_id=host.id, name="studio", token=token
        )
        added = Agent(config, "project", "add", str(tree), "--name", "acme", log_dir=artifacts)
        assert added.exit_code(timeout=20) == 0, added.output()
        added.stop()
        agent = Agent(config, "run", log_dir=artifacts)
        try:
            yield {"hub": hub, "user": user, "host": host, "agent": agent}
        finally:
            agent.stop()


def test_a_readme_reads_as_on_a_code_host(setup, browser, artifacts):
    hub, host = setup["hub"], setup["host"]
    wait_until(lambda: Entry.objects.filter(path="NOTES.md").exists(), timeout=20, what="the mirror")
    project = Project.objects.get(name="acme")
    page = browser.new_context(**PHONE).new_page()
    sign_in(page, hub.url, setup["user"])
    page.goto(f"{hub.url}/projects/{project.id}/files/README.md")
    assert page.title() == "README.md · acme · codexhub"

    heading = page.locator("#file-body h1")
    expect(heading).to_contain_text("Acme")
    assert heading.evaluate("h => getComputedStyle(h).textAlign") == "center"
    expect(page.locator("#file-body")).not_to_contain_text("TODO")
    logo = heading.get_by_role("img", name="Acme logo")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 48", arg=logo.element_handle(), timeout=15_000
    )
    box = logo.bounding_box()
    assert box and box["width"] == 96  # its width attribute

    # An SVG shows as an image, and its script never runs.
    svg = page.get_by_role("img", name="architecture")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=svg.element_handle(), timeout=15_000
    )
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # Ignored and external images: their alt text, and why.
    expect(page.locator("#file-body")).to_contain_text("private (not in this project)")
    badge = page.get_by_role("link", name="build passing")
    expect(badge).to_have_attribute("href", "https://ci.example/acme")
    assert page.locator('#file-body img[src^="https:"]').count() == 0
    shot(page, artifacts, "readme-390")

    # The table of contents goes to its headings.
    page.get_by_role("link", name="Usage").click()
    expect(page).to_have_url(f"{hub.url}/projects/{project.id}/files/README.md#md-usage")
    usage = page.get_by_role("heading", name="Usage")
    expect(usage).to_be_in_viewport()
    # Table cells keep their words whole: each option is on one line.
    for option in ("--verbose", "--configuration"):
        cell = page.locator("#file-body td", has_text=option)
        height = cell.evaluate("td => td.querySelector('code').getClientRects().length")
        assert height == 1, f"{option} is split over {height} lines"
    shot(page, artifacts, "readme-usage-390")

    # A relative link opens the file in the hub.
    page.goto(f"{hub.url}/projects/{project.id}/files/README.md")
    page.get_by_role("link", name="The guide").click()
    expect(page).to_have_url(f"{hub.url}/projects/{project.id}/files/docs/GUIDE.md")
    assert FileFetch.objects.filter(path="docs/logo.png", data__isnull=False).exists()

    # With the host offline, an image never fetched says so instead of a broken icon.
    setup["agent"].stop()
    wait_until(lambda: not Host.objects.get(id=host.id).online, timeout=10, what="the host offline")
    page.goto(f"{hub.url}/projects/{project.id}/files/NOTES.md")
    expect(page.locator("#file-body")).to_contain_text("chart (studio is offline)")
    assert page.locator("#file-body img").count() == 0
    # What was fetched is kept: the logo still shows.
    page.goto(f"{hub.url}/projects/{project.id}/files/README.md")
    logo = page.locator("#file-body h1").get_by_role("img", name="Acme logo")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 48", arg=logo.element_handle(), timeout=10_000
    )
    shot(page, artifacts, "readme-offline-390")
