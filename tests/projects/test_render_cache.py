"""Rendered HTML is cached by content hash: each text is rendered once across
page views and fragment fetches, and a cache that is down costs a render,
never the page."""

from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse

from projects import render
from tests.kits.common import login
from tests.kits.mirror_stream import file_change, mirrored
from tests.kits.render_budget import counting_renders, step_clock

pytestmark = pytest.mark.django_db


def view(client, project, path, **params) -> str:
    response = client.get(reverse("file_detail", args=[project.id, path]), params)
    assert response.status_code == 200
    return response.content.decode()


def test_it_renders_markdown_once_for_two_views_and_a_fragment(alice_client, bob, team_a):
    bob_client = login(Client(), bob)
    project = mirrored(team_a, file_change("notes.md", "# Notes\n\n*hello*\n"))
    with counting_renders() as (markdown, _):
        view(alice_client, project, "notes.md")
        view(bob_client, project, "notes.md")
        fragment = view(alice_client, project, "notes.md", fragment="1")
    assert markdown.call_count == 1
    assert '<h1 id="md-notes">Notes</h1>' in fragment and "<em>hello</em>" in fragment


def test_it_highlights_code_once(alice_client, team_a):
    project = mirrored(team_a, file_change("app.py", "def main():\n    return 1\n"))
    with counting_renders() as (_, code):
        first = view(alice_client, project, "app.py")
        second = view(alice_client, project, "app.py", fragment="1")
    assert code.call_count == 1
    assert '<span class="k">def</span>' in first and '<span class="k">def</span>' in second


def test_the_same_text_in_two_files_is_rendered_once(alice_client, team_a):
    project = mirrored(team_a, file_change("a.md", "# Same\n"), file_change("b.md", "# Same\n"))
    with counting_renders() as (markdown, _):
        view(alice_client, project, "a.md")
        view(alice_client, project, "b.md")
    assert markdown.call_count == 1


def test_a_changed_file_is_rendered_again(alice_client, team_a):
    project = mirrored(team_a, file_change("notes.md", "# One\n"))
    with counting_renders() as (markdown, _):
        view(alice_client, project, "notes.md")
        project.entries.filter(path="notes.md").update(text="# Two\n")
        body = view(alice_client, project, "notes.md")
    assert markdown.call_count == 2 and '<h1 id="md-two">Two</h1>' in body


def test_a_text_over_the_budget_is_not_tried_again_on_each_view(alice_client, team_a):
    project = mirrored(team_a, file_change("hard.md", "[" * render.MARKDOWN_MAX_BYTES))
    with step_clock(), counting_renders() as (markdown, _):
        view(alice_client, project, "hard.md")
        body = view(alice_client, project, "hard.md")
    assert markdown.call_count == 1 and "too complex to render" in body


def test_the_cache_key_names_the_renderer_and_its_version():
    key = render._cache_key("markdown", "# a\n")
    assert key.startswith(f"render:{render.RENDER_VERSION}:markdown:") and len(key.rsplit(":", 1)[1]) == 64
    assert render._cache_key("code:PythonLexer", "# a\n") != key


class DownCache:
    def get_many(self, keys):
        raise ConnectionError("Redis is down")

    def set_many(self, values, timeout=None):
        raise ConnectionError("Redis is down")


def test_a_cache_that_is_down_does_not_break_the_page(alice_client, team_a):
    project = mirrored(team_a, file_change("notes.md", "# Notes\n"), file_change("app.py", "def f(): pass\n"))
    with mock.patch.object(render, "_cache", return_value=DownCache()):
        assert '<h1 id="md-notes">Notes</h1>' in view(alice_client, project, "notes.md")
        assert '<span class="k">def</span>' in view(alice_client, project, "app.py")
