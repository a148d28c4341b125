"""The file page renders within a budget (SECURITY.md section 5): Markdown and
code over the size limit, or over the time budget, are shown as escaped plain
text with a notice saying why."""

import html

import pytest
from django.urls import reverse

from projects import render
from tests.kits.mirror_stream import file_change, mirrored
from tests.kits.render_budget import SHAPES, step_clock

pytestmark = pytest.mark.django_db

LIMIT = render.MARKDOWN_MAX_BYTES


def file_body(client, project, path) -> str:
    response = client.get(reverse("file_detail", args=[project.id, path]))
    assert response.status_code == 200
    return response.content.decode().split('class="muted small file-meta"', 1)[1]


def too_large(size: int, limit: int = LIMIT, template: str = render.MARKDOWN_TOO_LARGE) -> str:
    words = template.format(what="this file", size=f"{-(-size // 1024)} KB", limit=f"{limit // 1024} KB")
    return html.escape(words)


def too_complex(template: str = render.MARKDOWN_TOO_COMPLEX) -> str:
    budget = f"{round(render.RENDER_BUDGET_SECONDS * 1000)} ms"
    return html.escape(template.format(what="this file", budget=budget))


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_over_the_size_limit_is_plain_text_saying_why(alice_client, team_a, shape):
    text = SHAPES[shape](LIMIT + 1)
    project = mirrored(team_a, file_change("big.md", text))
    body = file_body(alice_client, project, "big.md")
    assert too_large(LIMIT + 1) in body
    assert f'<pre class="plain-text">{html.escape(text)}</pre>' in body
    assert 'class="card markdown"' not in body


def test_the_notice_gives_the_size_and_the_limit(alice_client, team_a):
    project = mirrored(team_a, file_change("big.md", "[" * 400_000))
    body = file_body(alice_client, project, "big.md")
    assert f"this file is 391 KB, larger than the {LIMIT // 1024} KB the hub renders as Markdown." in body


CHEAP = ("blockquotes", "nested lists", "backticks")


@pytest.mark.parametrize("shape", [shape for shape in SHAPES if shape not in CHEAP])
def test_each_costly_shape_at_the_limit_is_stopped_by_the_budget(alice_client, team_a, shape):
    text = SHAPES[shape](LIMIT)
    project = mirrored(team_a, file_change("hard.md", text))
    with step_clock():
        body = file_body(alice_client, project, "hard.md")
    assert too_complex() in body
    assert f'<pre class="plain-text">{html.escape(text)}</pre>' in body


@pytest.mark.parametrize("shape", CHEAP)
def test_shapes_the_parser_caps_itself_render_at_the_limit(alice_client, team_a, shape):
    """markdown-it-py stops nesting at 20 levels: these stay cheap at any size."""
    project = mirrored(team_a, file_change("deep.md", SHAPES[shape](LIMIT)))
    with step_clock():
        body = file_body(alice_client, project, "deep.md")
    assert 'class="card markdown"' in body and "render-notice" not in body


def test_an_ordinary_document_renders_within_the_budget(alice_client, team_a):
    text = "# Notes\n\nSome *prose* with a [link](https://example.com) and `code`.\n\n- one\n- two\n"
    project = mirrored(team_a, file_change("notes.md", text))
    with step_clock():
        body = file_body(alice_client, project, "notes.md")
    assert '<h1 id="md-notes">Notes</h1>' in body and "render-notice" not in body


def test_the_plain_text_fallback_is_escaped(alice_client, team_a):
    text = '<script>window.__pwned = 1</script><img src=x onerror="x()">' + "[" * LIMIT
    project = mirrored(team_a, file_change("evil.md", text))
    body = file_body(alice_client, project, "evil.md")
    assert "<script>" not in body and "<img" not in body
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in body


def test_code_over_the_highlight_limit_is_plain_text_saying_why(alice_client, team_a):
    limit = render.HIGHLIGHT_MAX_BYTES
    text = "x = ('<b>')\n" * (limit // 12 + 1)
    project = mirrored(team_a, file_change("big.py", text))
    body = file_body(alice_client, project, "big.py")
    assert too_large(len(text), limit, render.CODE_TOO_LARGE) in body
    assert "x = (&#x27;&lt;b&gt;&#x27;)" in body and 'class="k"' not in body


def test_code_over_the_time_budget_is_plain_text_saying_why(alice_client, team_a):
    text = "(" * render.HIGHLIGHT_MAX_BYTES
    project = mirrored(team_a, file_change("deep.py", text))
    with step_clock():
        body = file_body(alice_client, project, "deep.py")
    assert too_complex(render.CODE_TOO_COMPLEX) in body
    assert f'<pre class="plain-text">{text}</pre>' in body


def test_a_large_plain_text_file_needs_no_notice(alice_client, team_a):
    text = "plain words\n" * 40_000
    project = mirrored(team_a, file_change("big.txt", text))
    body = file_body(alice_client, project, "big.txt")
    assert "render-notice" not in body and 'class="highlight"' in body
