import asyncio
import hashlib
import os
import socket
import stat
import time
import unicodedata

from hostagent.mirror import safefile
from hostagent.mirror.scan import Scanner, Scope, is_within
from tests.kits.agent_mirror import all_json, by_path, make_mirror, paths_of, write

WHOLE = (Scope(""),)


def scan(root, scopes=WHOLE):
    return Scanner(str(root)).scan(scopes).entries


def test_it_records_files_dirs_sizes_and_hashes(tmp_path):
    root = tmp_path / "proj"
    write(root, "notes/todo.md", "# Todo\n")
    entries = scan(root)
    assert set(entries) == {"notes", "notes/todo.md"}
    assert entries["notes"].kind == "dir"
    todo = entries["notes/todo.md"]
    assert (todo.kind, todo.size) == ("file", 7)
    assert todo.hash == hashlib.sha256(b"# Todo\n").hexdigest()
    assert todo.mtime == os.stat(root / "notes/todo.md").st_mtime


def test_it_honours_gitignore_files_at_any_depth_and_info_exclude(tmp_path):
    root = tmp_path / "proj"
    write(root, ".gitignore", "*.log\nbuild/\n!keep.log\n")
    write(root, ".git/info/exclude", "secret.txt\n")
    write(root, "app.log", "x")
    write(root, "keep.log", "x")
    write(root, "secret.txt", "x")
    write(root, "build/out.bin", "x")
    write(root, "src/main.py", "x")
    write(root, "src/.gitignore", "generated/\n*.tmp\n!important.log\n")
    write(root, "src/generated/a.py", "x")
    write(root, "src/scratch.tmp", "x")
    write(root, "src/debug.log", "x")
    write(root, "src/important.log", "x")
    write(root, "docs/scratch.tmp", "x")  # *.tmp is only ignored under src/
    entries = scan(root)
    assert set(entries) == {
        ".gitignore",
        "keep.log",
        "src",
        "src/.gitignore",
        "src/main.py",
        "src/important.log",
        "docs",
        "docs/scratch.tmp",
    }


def test_it_never_sends_git_folders_in_any_case_nor_gitfiles(tmp_path):
    root = tmp_path / "proj"
    write(root, ".git/config", "[core]\n")
    write(root, ".git/HEAD", "ref: refs/heads/main\n")
    write(root, "sub/.GIT/config", "x")
    write(root, "other/.Git/objects/ab", "x")
    write(root, "module/.git", "gitdir: ../.git/modules/module\n")  # a submodule's gitfile
    write(root, "module/lib.py", "x")
    entries = scan(root)
    assert set(entries) == {"sub", "other", "module", "module/lib.py"}
    assert not any(part.casefold() == ".git" for path in entries for part in path.split("/"))


def test_it_skips_fifos_sockets_and_device_nodes_quickly(tmp_path):
    root = tmp_path / "proj"
    write(root, "real.txt", "real")
    os.mkfifo(root / "fifo")
    os.mkfifo(root / "named.txt")  # a FIFO with a file's name must not be opened either
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(root / "sock"))
    try:
        try:
            os.mknod(root / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        except PermissionError:
            pass  # not root: FIFO and socket still cover special files
        started = time.monotonic()
        entries = scan(root)
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert set(entries) == {"real.txt"}
    assert elapsed < 5


def test_it_records_symlinks_without_following_them(tmp_path):
    outside = tmp_path / "home" / ".ssh"
    write(outside, "id_rsa", "-----BEGIN OPENSSH PRIVATE KEY----- TOPSECRET")
    write(tmp_path / "elsewhere", "data.txt", "OUTSIDE-DATA")
    root = tmp_path / "proj"
    write(root, "inside.txt", "in")
    os.symlink(outside / "id_rsa", root / "key")
    os.symlink(tmp_path / "elsewhere", root / "outdir")
    os.symlink("inside.txt", root / "rel-in")
    os.symlink(root / "b", root / "a")
    os.symlink(root / "a", root / "b")  # a -> b -> a
    os.symlink(root, root / "self")  # a loop through the root itself
    os.symlink(root / "future.txt", root / "dangling")  # would resolve inside once created
    (tmp_path / "proj-evil").mkdir()
    os.symlink(tmp_path / "proj-evil", root / "evil")  # /proj-evil is not inside /proj
    started = time.monotonic()
    mirror, link = make_mirror(tmp_path, {"p": root})
    asyncio.run(mirror.sync_project("p"))
    assert time.monotonic() - started < 5
    upserts = by_path(link.changes())
    kinds = {path: c["kind"] for path, c in upserts.items()}
    assert kinds == {
        "inside.txt": "file",
        "key": "symlink",
        "outdir": "symlink",
        "rel-in": "symlink",
        "a": "symlink",
        "b": "symlink",
        "self": "symlink",
        "evil": "symlink",
        "dangling": "symlink",
    }
    inside = {path: c["target_inside"] for path, c in upserts.items() if c["kind"] == "symlink"}
    assert inside == {
        "key": False,
        "outdir": False,
        "rel-in": True,
        "a": False,  # a loop resolves nowhere real
        "b": False,
        "self": True,
        "evil": False,
        "dangling": True,
    }
    text = all_json(link)
    assert "TOPSECRET" not in text and "OUTSIDE-DATA" not in text
    assert paths_of(link.changes()) == set(upserts)
    mirror.index.close()


def test_it_tells_a_path_prefix_from_a_string_prefix():
    assert is_within("/proj/a", "/proj")
    assert is_within("/proj", "/proj")
    assert not is_within("/proj-evil", "/proj")
    assert not is_within("/proj-evil/a", "/proj")
    assert not is_within("/", "/proj")


def test_it_skips_names_that_are_not_protocol_paths(tmp_path, caplog):
    root = tmp_path / "proj"
    write(root, "ok.txt", "x")
    write(root, "tab\there/inner.txt", "x")
    write(root, "back\\slash.txt", "x")
    (root / os.fsdecode(b"bad\xff.txt")).write_text("x")
    entries = scan(root)
    assert set(entries) == {"ok.txt"}
    assert caplog.text.count("skipping") >= 3


def test_it_sends_nfd_names_as_nfc(tmp_path):
    root = tmp_path / "proj"
    write(root, unicodedata.normalize("NFD", "café.md"), "x")
    assert set(scan(root)) == {"café.md"}


def test_it_never_scans_the_agent_config_folder(tmp_path):
    root = tmp_path / "home"
    write(root, ".config/codexhub/agent.toml", 'token = "chub_secret"')
    write(root, ".config/other.conf", "x")
    entries = Scanner(str(root), exclude=[str(root / ".config" / "codexhub")]).scan().entries
    assert set(entries) == {".config", ".config/other.conf"}


def test_it_scans_a_scope_with_its_parents_only(tmp_path):
    root = tmp_path / "proj"
    write(root, "a/b/c.txt", "x")
    write(root, "a/other.txt", "x")
    write(root, "z.txt", "x")
    result = Scanner(str(root)).scan([Scope("a/b")])
    assert set(result.entries) == {"a", "a/b", "a/b/c.txt"}
    assert result.covered == [("a/b", True), ("a", False)]


def test_a_scan_for_a_snapshot_lstats_files_without_reading_them(tmp_path):
    root = tmp_path / "proj"
    (root / "d").mkdir(parents=True)
    (root / "d" / "a.md").write_text("hello")
    (root / "link").symlink_to(root / "d")
    hashed = Scanner(str(root)).scan().entries
    listed = Scanner(str(root)).scan(hash_files=False).entries
    assert set(listed) == set(hashed) == {"d", "d/a.md", "link"}
    a = listed["d/a.md"]
    assert (a.kind, a.size, a.hash, a.mtime) == ("file", 5, "", hashed["d/a.md"].mtime)
    assert hashed["d/a.md"].hash
    assert listed["link"].kind == "symlink" and listed["link"].target_inside is True


def test_a_file_that_grows_while_read_is_streamed_and_keeps_its_text_within_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "growing.md"
    path.write_text("abc" * 1000)
    real = safefile._open_checked

    def stale_size(p, expected):  # as if the file grew between fstat and read
        fd, st = real(p, expected)
        fake = os.stat_result(
            (st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, 10, *st[7:])
        )
        return fd, fake

    monkeypatch.setattr(safefile, "_open_checked", stale_size)
    data = safefile.read_file(str(path), None, keep_text=True)
    assert (data.size, data.text, data.binary) == (3000, "abc" * 1000, False)
    assert data.hash == hashlib.sha256(b"abc" * 1000).hexdigest()
