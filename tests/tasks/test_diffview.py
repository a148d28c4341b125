"""The task page's diff presenter (tasks/diffview.py): changed words marked in a
reworded line, added, deleted, renamed and binary files named as such, long
unchanged context folded, hostile text escaped, and a budget on huge diffs."""

import time
from types import SimpleNamespace

from tasks import diffview
from tasks.diffview import HIGHLIGHT_SKIPPED, file_diff, file_diffs


def change(diff, path="notes.md", op="modified", binary=False, too_large=False):
    return SimpleNamespace(path=path, op=op, diff=diff, binary=binary, too_large=too_large)


def rows(result):
    return [row for hunk in result.hunks for block in hunk.blocks for row in block.rows]


REWORDED = (
    "--- a/notes.md\n+++ b/notes.md\n@@ -1,3 +1,3 @@\n"
    " # Notes\n"
    "-The quick brown fox jumps over the lazy dog every morning.\n"
    "+The quick red fox leaps over the lazy dog every evening.\n"
    " Done.\n"
)


def test_it_marks_the_changed_words_of_a_reworded_line():
    result = file_diff(change(REWORDED))
    removed, added = [row for row in rows(result) if row.kind in ("del", "add")]
    assert removed.html == (
        "The quick <del>brown</del> fox <del>jumps</del> over the lazy dog every <del>morning</del>."
    )
    assert (
        added.html
        == "The quick <ins>red</ins> fox <ins>leaps</ins> over the lazy dog every <ins>evening</ins>."
    )
    assert (result.added, result.removed, result.status) == (1, 1, "modified")
    assert [row.number for row in rows(result)] == [1, 2, 2, 3]  # the removed line keeps its old number
    assert result.hunks[0].label == "Lines 1–3"


def test_it_does_not_mark_words_of_lines_with_nothing_in_common():
    diff = "@@ -1 +1 @@\n-alpha beta gamma\n+completely different words here\n"
    removed, added = rows(file_diff(change(diff)))
    assert "<del>" not in removed.html and "<ins>" not in added.html


def test_it_names_added_deleted_renamed_binary_and_too_large_files():
    added = file_diff(change("--- /dev/null\n+++ b/new.md\n@@ -0,0 +1 @@\n+hi\n", op="created"))
    deleted = file_diff(change("--- a/old.md\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n", op="deleted"))
    renamed = file_diff(
        change("--- a/old/name.md\n+++ b/new/name.md\n@@ -1 +1 @@\n-a\n+b\n", path="new/name.md")
    )
    git_renamed = file_diff(change("rename from a.md\nrename to b.md\n", path="b.md"))
    binary = file_diff(change(None, path="logo.png", binary=True))
    large = file_diff(change(None, path="big.csv", too_large=True))
    assert [f.status_label for f in (added, deleted, renamed, git_renamed, binary, large)] == [
        "Added",
        "Deleted",
        "Renamed",
        "Renamed",
        "Binary",
        "Too large",
    ]
    assert (renamed.old_path, git_renamed.old_path) == ("old/name.md", "a.md")
    assert deleted.hunks[0].label == "Line 1" and binary.hunks == []


def test_it_folds_unchanged_context_beyond_three_lines():
    context = "".join(f" line {n}\n" for n in range(1, 21))
    diff = f"@@ -1,21 +1,21 @@\n{context}-old\n+new\n{context}"
    blocks = file_diff(change(diff)).hunks[0].blocks
    assert [(block.folded, len(block.rows)) for block in blocks] == [(True, 17), (False, 8), (True, 17)]
    assert [row.text for row in blocks[1].rows] == [
        "line 18",
        "line 19",
        "line 20",
        "old",
        "new",
        "line 1",
        "line 2",
        "line 3",
    ]


def test_it_keeps_short_context_and_counts_the_lines_between_hunks():
    diff = "@@ -1,2 +1,2 @@\n a\n-b\n+B\n@@ -40,2 +40,2 @@\n-y\n+Y\n z\n"
    result = file_diff(change(diff))
    assert all(not block.folded for hunk in result.hunks for block in hunk.blocks)
    assert [hunk.skipped for hunk in result.hunks] == [0, 37]


def test_it_escapes_hostile_text_and_shows_hidden_characters():
    diff = "@@ -1 +1 @@\n-<script>alert(1)</script> safe\n+<script>alert(2)</script> safe \u202etxt.exe\n"
    removed, added = rows(file_diff(change(diff)))
    html = removed.html + added.html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "\u202e" not in html
    assert '<span class="invisible-char" title="A hidden character in this name">⟨U+202E⟩</span>' in html


def test_it_says_when_the_host_cut_the_diff_and_keeps_the_no_newline_note():
    diff = "@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n... diff truncated\n"
    result = file_diff(change(diff))
    assert [row.kind for row in rows(result)] == ["del", "add", "note"]
    assert result.notices == [diffview.TRUNCATED]


def test_a_huge_diff_is_cut_and_left_unhighlighted_quickly():
    pairs = 50_000
    body = "".join(f"-value {n} is old\n+value {n} is new\n" for n in range(pairs))
    diff = f"@@ -1,{pairs} +1,{pairs} @@\n{body}"
    start = time.perf_counter()
    result = file_diff(change(diff))
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, elapsed
    assert len(rows(result)) == diffview.MAX_ROWS
    assert (result.added, result.removed) == (pairs, pairs)  # the counts are of the whole diff
    assert result.notices == [HIGHLIGHT_SKIPPED, f"Showing the first 5,000 of {2 * pairs:,} lines."]
    marked = [row for row in rows(result) if "<ins>" in row.html]
    assert len(marked) == diffview.MAX_PAIRS


def test_a_line_too_long_to_compare_is_shown_plainly():
    long = " ".join(["word"] * (diffview.MAX_TOKENS + 1))
    removed, added = rows(file_diff(change(f"@@ -1 +1 @@\n-{long}\n+{long} more\n")))
    assert "<ins>" not in added.html and added.html.endswith("more")


def test_the_page_shares_one_budget_across_files(monkeypatch):
    monkeypatch.setattr(diffview, "MAX_PAGE_PAIRS", 1)
    results = file_diffs([change(REWORDED, path="a.md"), change(REWORDED, path="b.md")])
    assert [r.anchor for r in results] == ["change-1", "change-2"]
    assert results[0].notices == [] and results[1].notices == [HIGHLIGHT_SKIPPED]


def test_changed_words_with_only_spaces_between_are_one_mark():
    removed, added = rows(
        file_diff(change("@@ -1 +1 @@\n-it says nothing new today\n+it says something else today\n"))
    )
    assert removed.html == "it says <del>nothing new</del> today"
    assert added.html == "it says <ins>something else</ins> today"


def test_dev_null_headers_name_an_added_or_deleted_file_and_a_dropped_diff_says_so():
    added = file_diff(change("--- /dev/null\n+++ b/new.md\n@@ -0,0 +1 @@\n+hi\n"))
    deleted = file_diff(change("--- a/old.md\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"))
    dropped = file_diff(change("... diff too large to show\n"))
    assert (added.status, deleted.status) == ("added", "deleted")
    assert dropped.hunks == [] and dropped.notices == [diffview.TRUNCATED]


def test_the_page_shows_at_most_max_page_rows_lines(monkeypatch):
    monkeypatch.setattr(diffview, "MAX_PAGE_ROWS", 3)
    first, second = file_diffs([change(REWORDED, path="a.md"), change(REWORDED, path="b.md")])
    assert (len(rows(first)), len(rows(second))) == (3, 0)
    assert first.notices[-1] == "Showing the first 3 of 4 lines." and second.hunks == []
    assert second.notices == [diffview.ROWS_NOT_SHOWN.format(total=4)]
    assert (second.added, second.removed) == (1, 1)
