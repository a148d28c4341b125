"""Agent Markdown in a session's timeline is rendered once per text (not on
every page and fragment fetch), within a per-text and a per-page budget, and
shown as escaped plain text saying why when over it."""

import html

import pytest
from django.urls import reverse

from projects import render
from protocol.limits import MAX_AGENT_TEXT
from tests.kits.render_budget import counting_renders, step_clock
from tests.kits.sessions import SessionStream

pytestmark = pytest.mark.django_db

ITEMS = 50


def page(client, task, **params) -> str:
    response = client.get(reverse("task_detail", args=[task.id]), params)
    assert response.status_code == 200
    return response.content.decode()


def agent_says(task, *texts: str) -> SessionStream:
    stream = SessionStream(task.host_id)
    for index, text in enumerate(texts):
        stream.item(task.id, f"agent:{index}", "agent", text=text)
    return stream


def test_50_items_are_rendered_50_times_across_page_loads_and_fragments(alice_client, task):
    agent_says(task, *(f"Step **{n}** done." for n in range(ITEMS)))
    with counting_renders() as (markdown, _):
        first = page(alice_client, task)
        page(alice_client, task)
        fragment = page(alice_client, task, fragment="timeline")
    assert markdown.call_count == ITEMS
    assert first.count("<strong>") == ITEMS and "<strong>49</strong>" in fragment


def test_only_a_changed_item_is_rendered_again(alice_client, task):
    stream = agent_says(task, "one", "two")
    with counting_renders() as (markdown, _):
        page(alice_client, task)
        stream.item(task.id, "agent:1", "agent", text="two, *more*")
        body = page(alice_client, task, fragment="timeline")
    assert markdown.call_count == 3 and "two, <em>more</em>" in body


def test_an_item_over_the_budget_is_escaped_plain_text_saying_why(alice_client, task):
    text = "<b>bold?</b>" + "[" * (MAX_AGENT_TEXT - 12)
    agent_says(task, text)
    with step_clock():
        body = page(alice_client, task)
    budget = f"{round(render.RENDER_BUDGET_SECONDS * 1000)} ms"
    assert html.escape(render.MARKDOWN_TOO_COMPLEX.format(what="this message", budget=budget)) in body
    assert f'<pre class="plain-text">{html.escape(text)}</pre>' in body and "<b>bold?</b>" not in body


def test_a_page_over_its_budget_shows_the_rest_plain_and_renders_it_later(alice_client, task):
    hard = "[" * 4 * 1024  # about a third of the budget each under the step clock
    agent_says(task, *(f"{hard} {n}" for n in range(ITEMS)))
    with step_clock(), counting_renders() as (markdown, _):
        first = page(alice_client, task)
        rendered_first = markdown.call_count
        second = page(alice_client, task)
    deferred = html.escape(render.MARKDOWN_DEFERRED)
    assert 0 < rendered_first < ITEMS and first.count(deferred) == ITEMS - rendered_first
    assert markdown.call_count > rendered_first and second.count(deferred) < first.count(deferred)
