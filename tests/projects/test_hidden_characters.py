"""File names from a host show their invisible and bidi control characters as
marked ⟨U+202E⟩, wherever they are displayed: "invoice\u202egnp.exe" must not
read as "invoiceexe.png"."""

import pytest
from django.urls import reverse

from projects.paths import path_visible
from tests.kits.mirror_stream import dir_change, file_change, mirrored

pytestmark = pytest.mark.django_db

SPOOF = "invoice\u202egnp.exe"
MARKER = '<span class="invisible-char" title="A hidden character in this name">⟨U+202E⟩</span>'


@pytest.fixture
def project(team_a):
    return mirrored(team_a, dir_change("bills\u200b"), file_change(f"bills\u200b/{SPOOF}", "hello\n"))


def test_the_tree_and_recent_changes_show_the_markers(alice_client, project):
    html = alice_client.get(reverse("project_detail", args=[project.id])).content.decode()
    assert f"invoice{MARKER}gnp.exe" in html and "⟨U+200B⟩" in html
    assert "\u202e" not in html.replace(f'data-path="bills\u200b/{SPOOF}"', "")
    assert f"bills{MARKER.replace('202E', '200B')}/invoice{MARKER}gnp.exe" in html  # recent changes


def test_the_file_page_shows_the_markers_in_title_crumbs_and_heading(alice_client, project):
    html = alice_client.get(
        reverse("file_detail", args=[project.id, f"bills\u200b/{SPOOF}"])
    ).content.decode()
    assert "<title>invoice⟨U+202E⟩gnp.exe · docs" in html
    assert f'<h1 class="break">invoice{MARKER}gnp.exe</h1>' in html
    crumbs = html.split('class="crumbs', 1)[1].split("</nav>", 1)[0]
    assert '">bills<span class="invisible-char"' in crumbs  # the folder's crumb, a link to it


@pytest.mark.parametrize(
    "char",
    [
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\u200e",
        "\u200f",
        "\u061c",
        "\u200b",
        "\u200c",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u180e",
        "\u00ad",
        "\U000e0041",
    ],
)
def test_each_hidden_character_gets_a_marker(char):
    assert path_visible(f"a{char}b") == f"a⟨U+{ord(char):04X}⟩b"


def test_visible_names_are_left_alone():
    assert path_visible("docs/résumé 日本語 😀.md") == "docs/résumé 日本語 😀.md"


def test_the_admin_lists_show_the_markers(staff_client, project):
    html = staff_client.get(reverse("admin:projects_entry_changelist")).content.decode()
    assert "invoice⟨U+202E⟩gnp.exe" in html and "\u202e" not in html
