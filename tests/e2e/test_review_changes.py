"""Reviewing a task's changes on a phone (issue 17): the whole diff in the
page's own scroll, a list of changed files to jump to, changed words marked,
unchanged context folded, and files named added, deleted, renamed or binary."""

import difflib

import pytest
from playwright.sync_api import expect

from projects.models import Project
from tasks.models import TaskFileChange
from tests.e2e.conftest import off_the_loop
from tests.kits.common import make_host, make_owner
from tests.kits.mirror_stream import Stream, file_change
from tests.kits.phone import shot, sideways, sign_in
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.e2e

BEFORE = [f"Line {n} of the guide, which says nothing new.\n" for n in range(1, 61)]
AFTER = list(BEFORE)
AFTER[29] = "Line 30 of the guide, which now says something else entirely.\n"
AFTER[30:30] = [f"An added line {n} with a very-long-unbroken-word-{'x' * 60}.\n" for n in range(1, 4)]
LAST_ADDED = "An added line 3"
CODE = "".join(f"value_{n} = {n}  # line {n}\n" for n in range(1, 31)).replace(
    "# line 12", "# line 12 " + "and a very long comment " * 8
)
MOVED = "--- a/a/moved.md\n+++ b/b/moved.md\n@@ -1 +1 @@\n-Moved\n+Moved here\n"


def _diff(path: str, before: list[str], after: list[str], context: int = 3) -> str:
    return "".join(difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", n=context))


def _task_with_changes():
    user, team = make_owner("mia@example.com", "Team A")
    host, _ = make_host(team, "Studio")
    stream = Stream(host.id)
    stream.projects("docs")
    stream.batch("docs", file_change("README.md"), file_change("app.py", CODE))
    task = make_task(Project.objects.get(host=host, name="docs"), user, state="succeeded")
    changes = [
        ("guide.md", "modified", _diff("guide.md", BEFORE, AFTER, context=12), False),
        ("new/notes.md", "created", _diff("new/notes.md", [], ["Hello\n", "World\n"]), False),
        ("old.txt", "deleted", _diff("old.txt", ["Gone\n"], []), False),
        ("logo.png", "modified", None, True),
        ("b/moved.md", "modified", MOVED, False),
    ]
    for path, op, diff, binary in changes:
        TaskFileChange.objects.create(task=task, path=path, op=op, diff=diff, binary=binary)
    return user, task


@pytest.fixture
def reviewed(transactional_db):
    return off_the_loop(_task_with_changes)


SCROLLERS = """(el) => {
  const boxes = [];
  for (let node = el; node && node !== document.documentElement; node = node.parentElement) {
    const style = getComputedStyle(node);
    const scrolls = /(auto|scroll)/.test(style.overflowY) && node.scrollHeight > node.clientHeight;
    if (scrolls) boxes.push(node.className || node.tagName);
  }
  return boxes;
}"""


def test_a_phone_reviews_the_whole_diff_in_the_page(hub, reviewed, phones, artifacts):
    user, task = reviewed
    page = phones.new_page()
    sign_in(page, hub.url, user)
    page.goto(f"{hub.url}/tasks/{task.id}/")
    changes = page.locator("#task-changes")
    listing = changes.get_by_role("navigation", name="Changed files")
    expect(listing.get_by_role("listitem")).to_have_count(5)
    expect(listing.get_by_role("listitem").filter(has_text="old.txt")).to_contain_text("Deleted")
    shot(page, artifacts, "review-top")

    listing.get_by_role("link", name="guide.md").click()
    guide = page.locator("#task-changes article").filter(has=page.get_by_role("heading", name="guide.md"))
    expect(guide).to_be_in_viewport()
    assert page.evaluate("location.hash") == f"#{guide.get_attribute('id')}"
    # The reworded line: only the changed words are marked.
    expect(guide.locator(".dl.del del")).to_have_text(["nothing new"])
    marked = guide.locator(".dl.add ins").all_text_contents()
    assert [text.strip() for text in marked] == ["now", "something else entirely"]
    # The added lines are in the page's own scroll: no box of their own to scroll.
    last = guide.locator(".dl.add").filter(has_text=LAST_ADDED)
    last.scroll_into_view_if_needed()
    expect(last).to_be_in_viewport()
    assert last.evaluate(SCROLLERS) == []
    # Unchanged context past three lines is folded, and opens.
    folds = guide.locator("details.diff-fold")
    expect(folds.locator("summary")).to_have_text(["Show 9 unchanged lines"] * 2)
    expect(guide.get_by_text("Line 20 of the guide")).to_be_hidden()
    folds.first.locator("summary").click()
    expect(guide.get_by_text("Line 20 of the guide")).to_be_visible()
    shot(page, artifacts, "review-guide")

    for path, label in (("new/notes.md", "Added"), ("logo.png", "Binary"), ("b/moved.md", "Renamed")):
        head = changes.get_by_role("heading", name=path)
        expect(head).to_contain_text(label)
    expect(changes).to_contain_text("Renamed from a/moved.md")
    expect(changes).to_contain_text("Binary file: no text to show.")
    page.set_viewport_size({"width": 390, "height": 844})
    assert sideways(page) <= 0
    assert phones.errors == []


def test_the_file_page_numbers_wraps_and_copies_code(hub, reviewed, phones, artifacts):
    user, task = reviewed
    page = phones.new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, hub.url, user)
    page.goto(f"{hub.url}/projects/{task.project_id}/files/app.py")
    line = page.locator("#file-body #L-12")
    expect(line).to_contain_text("value_12 = 12")
    # The number is drawn by CSS, beside the line, not part of its text.
    assert line.evaluate("(el) => getComputedStyle(el, '::before').content") == "counter(line)"
    assert line.evaluate("(el) => el.getBoundingClientRect().height") > 40  # the long line wraps
    wrap = page.get_by_label("Wrap lines")
    expect(wrap).to_be_checked()
    pre = page.locator("#file-body pre")
    assert pre.evaluate("(el) => el.scrollWidth <= el.clientWidth")
    shot(page, artifacts, "file-wrapped")

    wrap.uncheck()
    assert pre.evaluate("(el) => el.scrollWidth > el.clientWidth")  # the code scrolls, not the page
    assert line.evaluate("(el) => el.getBoundingClientRect().height") < 30
    shot(page, artifacts, "file-unwrapped")
    page.reload()
    expect(page.get_by_label("Wrap lines")).not_to_be_checked()  # remembered on this phone

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_have_text("Copied 30 lines.")
    assert page.evaluate("navigator.clipboard.readText()") == CODE
    assert phones.errors == []
