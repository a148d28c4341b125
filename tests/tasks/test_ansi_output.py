"""Agents' ANSI colours on the task page (tasks/ansi.py): colours become classes, every other
escape sequence and control character goes, text stays escaped, links never reach the page;
a log rendered piece by piece as it arrives reads the same as rendered whole, however the
pieces cut its escape sequences."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import ansi
from tasks.models import TaskLog, TaskState
from tests.kits.sessions import SessionStream
from tests.kits.task_stream import TaskStream, make_task

RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"
CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "ansi.css"


class Painted(HTMLParser):
    """The characters of rendered HTML, each with the classes it is shown with."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[set[str]] = []
        self.chars: list[tuple[str, frozenset[str]]] = []

    def handle_starttag(self, tag, attrs):
        assert tag == "span", f"only spans: {tag}"
        self.stack.append(set(dict(attrs).get("class", "").split()))

    def handle_endtag(self, tag):
        self.stack.pop()

    def handle_data(self, data):
        classes = frozenset().union(*self.stack) if self.stack else frozenset()
        self.chars += [(char, classes) for char in data]


def painted(html: str) -> list[tuple[str, frozenset[str]]]:
    parser = Painted()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], "every span is closed"
    return parser.chars


def test_colours_become_classes_and_text_stays_escaped():
    html, carry = ansi.render(f"ok {RED}fail{BOLD} <script>x</script>{RESET} & done\n")
    assert html == (
        'ok <span class="ansi31">fail</span><span class="ansi1 ansi31"> &lt;script&gt;x&lt;/script&gt;</span>'
        " &amp; done\n"
    )
    assert carry == ansi.Carry()


def test_links_titles_cursor_moves_and_controls_are_dropped():
    text = (
        "\x1b]0;window title\x07\x1b]8;;javascript:alert(1)\x07click\x1b]8;;\x1b\\ here"
        "\x1b[2K\x1b[1A\x1b[?25l\x1b(B\x1b=\x07\x08\x00 50%\r100%\r\n"
    )
    html, _ = ansi.render(text)
    assert html == "click here 50%\n100%\n"
    assert "\x1b" not in html and "javascript" not in html


def test_a_colour_and_a_sequence_cut_between_pieces_carry_over():
    first, carry = ansi.render(f"{RED}red and \x1b[")
    assert (first, carry) == ('<span class="ansi31">red and </span>', ansi.Carry(RED, "\x1b["))
    second, carry = ansi.render("1mbold red\n", carry)
    assert painted(second) == [(c, frozenset({"ansi1", "ansi31"})) for c in "bold red\n"]
    third, carry = ansi.render(f"{RESET}plain", carry)
    assert painted(third) == [(c, frozenset()) for c in "plain"] and carry == ansi.Carry()


def test_a_token_is_the_carry_and_anything_else_is_no_carry():
    carry = ansi.Carry("\x1b[1m\x1b[38;5;196m", "\x1b]8;;http://x")
    assert ansi.Carry.from_token(carry.token()) == carry
    assert ansi.Carry().token() == ""
    for hostile in ("", "not base64!", "W10=", "a" * 5000, ansi.Carry("<b>", "\x1b[").token()):
        restored = ansi.Carry.from_token(hostile)
        assert restored.sgr == "" and "\x1b" not in ansi.render("x", restored)[0]
    assert ansi.Carry.from_token(ansi.Carry(RED, "text").token()) == ansi.Carry(RED, "")


STREAM = st.lists(
    st.sampled_from(
        ["a", "b\n", "\n", " ", "<&>", "\t", "é", "\r", RED, BOLD, RESET, "\x1b[32;1m", "\x1b[m"]
        + ["\x1b[38;5;208m", "\x1b[2K", "\x1b]8;;https://example.com\x07", "\x1b]0;t\x1b\\", "\x1b(B"]
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(parts=STREAM, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_a_log_reads_the_same_in_pieces_as_whole(parts, cuts):
    text = "".join(parts)
    bounds = sorted({0, len(text), *(cut for cut in cuts if cut < len(text))})
    pieces = [text[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]
    whole, _ = ansi.render(text)
    assert painted(ansi.render_all(pieces)[0]) == painted(whole)
    assert "\x1b" not in whole


def test_the_stylesheet_is_the_one_generated():
    assert CSS.read_text(encoding="utf-8") == ansi.stylesheet(), "python -m tasks.ansi > static/css/ansi.css"
    for name in ("ansi31", "ansi1", "ansi41", "ansi38-208", "ansi48-22", "inv_background"):
        assert re.search(rf"\.ansi \.{name}\b", CSS.read_text())


# On the page ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_task_page_shows_colours_never_raw_escapes(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING)
    stream = TaskStream(project.host_id)
    stream.log(task.id, 1, f"{RED}error:\x1b[")
    stream.log(task.id, 2, f"1m 2 tests failed{RESET}\nok\n")
    content = alice_client.get(reverse("task_detail", args=[task.id])).content.decode()
    assert '<pre class="log ansi" id="task-log" aria-live="off"><span class="ansi31">error:</span>' in content
    assert '<span class="ansi1 ansi31"> 2 tests failed</span>' in content
    assert "\x1b" not in content and "[1m" not in content
    assert 'href="/static/css/ansi.css"' in content


@pytest.mark.django_db
def test_the_log_endpoint_renders_each_piece_after_the_carry_it_is_handed(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING)
    pieces = [f"{RED}red ", "\x1b[", "1mbold red", f"{RESET} plain"]
    TaskLog.objects.bulk_create([TaskLog(task=task, seq=n, text=t) for n, t in enumerate(pieces, start=1)])
    url = reverse("task_log", args=[task.id])
    first = alice_client.get(url, {"after": 0}).json()
    page = alice_client.get(reverse("task_detail", args=[task.id])).content.decode()
    whole = re.search(r'id="task-log" aria-live="off">(.*?)</pre>', page, re.S).group(1)
    assert painted("".join(chunk["html"] for chunk in first["chunks"])) == painted(whole)
    # A page that had the first two pieces asks for the rest with the carry it was handed.
    two = alice_client.get(url, {"after": 0}).json()
    carry = ansi.render_all(pieces[:2])[1].token()
    rest = alice_client.get(url, {"after": 2, "carry": carry}).json()
    assert [chunk["seq"] for chunk in rest["chunks"]] == [3, 4]
    assert painted(rest["chunks"][0]["html"]) == [(c, frozenset({"ansi1", "ansi31"})) for c in "bold red"]
    assert rest["carry"] == "" and two["chunks"][0]["html"] == '<span class="ansi31">red </span>'
    # A carry that is not the hub's is none: the cut sequence's rest shows as text, no escape.
    hostile = alice_client.get(url, {"after": 2, "carry": "<script>"}).json()
    assert hostile["chunks"][0]["html"] == "1mbold red"


@pytest.mark.django_db
def test_a_tool_calls_output_in_a_session_shows_its_colours(alice_client, task):
    SessionStream(task.host_id).item(
        task.id,
        "tool:1",
        "tool",
        title="Run pytest",
        tool_kind="execute",
        status="failed",
        text=f"{RED}FAILED{RESET} test_a.py::test_it\x1b[K\n",
    )
    content = alice_client.get(reverse("task_detail", args=[task.id])).content.decode()
    assert (
        '<pre class="tool-output ansi"><span class="ansi31">FAILED</span> test_a.py::test_it\n</pre>'
        in content
    )
    assert "\x1b" not in content
