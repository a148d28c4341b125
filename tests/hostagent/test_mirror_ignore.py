"""The mirror's ignore rules against git itself: on generated trees with nested
`.gitignore` files, the files a scan finds are exactly the files git lists as
tracked or untracked-and-not-ignored."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostagent.mirror.ignore import Ignorer, compile_rules, parse_pattern
from hostagent.mirror.scan import Scanner

DIRS = ["a", "b", "build", "src", "x y", "é", "[d]", "node_modules"]
FILES = ["a.log", "x.py", "b.pyc", "keep.txt", "star*", "[x]", "q?", "#c", "!n", "t.tmp", "ab", "é.md"]


def git(root: Path, *args: str) -> str:
    home = str(root.parent)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": home, "XDG_CONFIG_HOME": home}
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env).stdout.decode()


def git_listed(root: Path) -> set[str]:
    """What git has: tracked files plus untracked files that are not ignored."""
    tracked = git(root, "ls-files", "-z")
    others = git(root, "ls-files", "-z", "--others", "--exclude-standard")
    return {p for p in (tracked + others).split("\0") if p}


def mirrored(root: Path) -> set[str]:
    entries = Scanner(str(root)).scan(hash_files=False).entries
    return {path for path, entry in entries.items() if entry.kind != "dir"}


def write_tree(root: Path, files: list[str], ignores: dict[str, str], exclude: str, links: list[str]) -> None:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    (root / ".git" / "info" / "exclude").write_text(exclude, encoding="utf-8")
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel, encoding="utf-8")
    for folder, text in ignores.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / ".gitignore").write_text(text, encoding="utf-8")
    for rel in links:  # a symlink to a folder is a file to git: "dir/" patterns do not match it
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.symlink("..", path)


# Patterns: pieces of the names above and wildcards, joined by "/", with git's decorations.
piece = st.one_of(
    st.sampled_from([d for d in DIRS] + [f for f in FILES]),
    st.sampled_from(["*", "**", "?", "*.log", "*.py[cod]", "[ab]", "[!a]*", "[a-c]*", "[[:alpha:]]*", "\\*"]),
    st.sampled_from(["\\[x]", "\\#c", "\\!n", "st*r\\*", "a*", "*b", "b*d", "[]x]", "[^x]*", "q\\?", "x\\ "]),
)


@st.composite
def pattern(draw: st.DrawFn) -> str:
    body = "/".join(draw(st.lists(piece, min_size=1, max_size=3)))
    if draw(st.booleans()):
        body = "/" + body
    if draw(st.integers(0, 3)) == 0:
        body += "/"
    if draw(st.integers(0, 2)) == 0:
        body = "!" + body
    if draw(st.integers(0, 5)) == 0:
        body += "  "  # trailing spaces go
    return body


odd_line = st.sampled_from(["# comment", "", "!", "/", "*"])
ignore_text = st.lists(st.one_of(pattern(), odd_line), max_size=8).map(lambda lines: "\n".join(lines) + "\n")


@st.composite
def tree(draw: st.DrawFn) -> tuple[list[str], dict[str, str], str, list[str]]:
    folder = st.lists(st.sampled_from(DIRS), max_size=3).map("/".join)
    folders = draw(st.lists(folder, min_size=1, max_size=6))
    files = []
    for folder in folders:
        for name in draw(st.lists(st.sampled_from(FILES), min_size=1, max_size=4, unique=True)):
            files.append(f"{folder}/{name}" if folder else name)
    ignores = {folder: draw(ignore_text) for folder in sorted(set(folders)) if draw(st.booleans())}
    exclude = draw(st.one_of(st.just(""), ignore_text))
    links = [f"{folder}/lnk" if folder else "lnk" for folder in folders if draw(st.integers(0, 4)) == 0]
    return files, ignores, exclude, links


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree())
def test_it_mirrors_exactly_the_files_git_lists(shape):
    files, ignores, exclude, links = shape
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        write_tree(root, files, ignores, exclude, links)
        assert mirrored(root) == git_listed(root), (ignores, exclude)


def test_it_agrees_with_git_on_a_real_looking_tree(tmp_path):
    root = tmp_path / "repo"
    write_tree(
        root,
        [
            "crates/c1/resources/test/__pycache__/case.pyc",
            "crates/c1/resources/test/case.log",
            "crates/c1/src/__pycache__/m.pyc",
            "crates/c1/src/lib.rs",
            "crates/c1/keep.tmp",
            "crates/c1/scratch.tmp",
            "crates/wasm/node_modules/pkg/index.js",
            "node_modules/pkg/index.js",
            "target/debug/lib.rlib",
            "target/keep.txt",
            "docs/a.md",
            "ab/c/d.txt",
            "x/ab/c/d.txt",
            "a/deep/b.txt",
        ],
        {
            "": "*.py[cod]\n*.log\ntarget/\n!target/keep.txt\n"
            "**/node_modules\n!crates/wasm/node_modules/\n/ab\na/**/b.txt\n",
            "crates/c1": "*.tmp\n!keep.tmp\n",
            "crates/c1/resources": "!*.log\n!__pycache__/\n",
        },
        "",
        [],
    )
    assert (
        mirrored(root)
        == git_listed(root)
        == {
            ".gitignore",
            "crates/c1/.gitignore",
            "crates/c1/resources/.gitignore",
            "crates/c1/resources/test/case.log",  # re-included by the nested !*.log
            "crates/c1/src/lib.rs",
            "crates/c1/keep.tmp",
            "crates/wasm/node_modules/pkg/index.js",  # !folder/ after **/folder
            "docs/a.md",
            "x/ab/c/d.txt",  # /ab is anchored at the root
        }
    )
    # Not crates/c1/resources/test/__pycache__/case.pyc: !__pycache__/ re-includes the folder,
    # not the files *.py[cod] ignores in it; not target/keep.txt: target/ is excluded whole.


def test_a_tracked_file_is_listed_by_git_and_mirrored_when_not_ignored(tmp_path):
    root = tmp_path / "repo"
    write_tree(root, ["src/a.py", "src/b.py"], {"": "*.log\n"}, "", [])
    git(root, "add", "src/a.py")
    assert mirrored(root) == git_listed(root) == {".gitignore", "src/a.py", "src/b.py"}


@pytest.mark.parametrize(
    ("line", "path", "is_dir", "verdict"),
    [
        ("*.log", b"a/b/c.log", False, True),
        ("!*.log", b"c.log", False, False),
        ("build/", b"x/build", True, True),
        ("build/", b"x/build", False, None),  # a file (or symlink) named build
        ("/build", b"x/build", True, None),  # anchored
        ("a/**/b", b"a/b", False, True),
        ("a/**/b", b"a/x/y/b", False, True),
        ("a**/b", b"ab", False, True),  # git's quirk: the literal "a", then "**/b" on its own
        ("a*/b", b"ab", False, None),
        ("**/foo", b"x/y/foo", False, True),
        ("foo/**", b"foo", True, None),
        ("foo/**", b"foo/x/y", False, True),
        ("*.py[cod]", b"x.pyc", False, True),
        ("[a-", b"a", False, None),  # an unterminated bracket matches nothing
        ("[[:alpha:]]x", b"ax", False, True),
        ("[[:nope:]]x", b"ax", False, None),
        ("[]]", b"]", False, True),
        ("\\#c", b"#c", False, True),
        ("# c", b"# c", False, None),
        ("x\\ ", b"x ", False, True),
        ("x  ", b"x", False, True),
        ("caf?", "café".encode(), False, None),  # ? is one byte, as in git
        ("a/b", b"x/a/b", False, None),  # a pattern with a slash is relative to its folder
        ("a\\", b"a", False, None),
    ],
)
def test_it_translates_patterns_as_git_does(line, path, is_dir, verdict):
    rules = compile_rules(line.encode() + b"\n")
    assert (None if rules is None else rules.match(path, is_dir)) is verdict


def test_the_last_matching_pattern_and_the_deepest_file_win():
    root = compile_rules(b"*.tmp\n!keep.tmp\nkeep.tmp\n!keep.tmp\n")
    nested = compile_rules(b"keep.tmp\n")
    ignorer = Ignorer().with_rules("", root)
    assert ignorer.ignored("keep.tmp", False) is False
    assert ignorer.ignored("sub/keep.tmp", False) is False
    assert ignorer.with_rules("sub", nested).ignored("sub/keep.tmp", False) is True
    assert ignorer.with_rules("sub", nested).ignored("subx/keep.tmp", False) is False


def test_comments_blank_lines_and_a_bom_are_not_patterns():
    assert compile_rules(b"\xef\xbb\xbf# only a comment\n\n   \n") is None
    assert parse_pattern(b"\xef\xbb\xbfx") is not None  # a BOM only counts at the start of the file
    rules = compile_rules(b"\xef\xbb\xbfx.txt\r\n")
    assert rules is not None and rules.match(b"x.txt", False) is True
