"""The agent's first sync of a tree shaped like a real repository, in process.

A generated tree like ruff's: ~11,000 files to send in ~2,900 folders, mostly
small fixtures and Rust sources under crates/, a 100-pattern root
`.gitignore` (Rust's and Python's usual patterns), nested `.gitignore` files
with negations, and an ignored `target/` of 4,000 build files in 900 folders. Measured side
by side in this process (warm page cache), each the best of `RUNS`:

- read and hash: read and SHA-256 every file the mirror sends (what git
  lists: `git ls-files --others --exclude-standard`), nothing else;
- scan: the snapshot's scan alone (walk, ignore rules, `lstat`);
- first sync: `Mirror.sync_project` of a project the index does not know
  (scan, read, hash and JSON-encode every file into batches, append each to
  a real outbox, index them): all the agent does but write to the socket;
- watches: the inotify watches the agent adds for the tree (Linux), and the
  CPU this process spends while 20,000 build files are written into the
  ignored target/ with the project watched, less the same writes unwatched.

    python bench/mirror_repo.py [RUNS]
"""

import asyncio
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hostagent.link import frame_text  # noqa: E402
from hostagent.mirror.index import Index  # noqa: E402
from hostagent.mirror.scan import Scanner  # noqa: E402
from hostagent.mirror.sync import Mirror  # noqa: E402
from hostagent.outbox import Outbox, encode_payload, stored_payload  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
WRITES = 20_000

# 100 patterns, like ruff's root .gitignore: its own lines, then GitHub's Python template.
ROOT_GITIGNORE = """\
# Local cache
.cache
.ruff_cache
mkdocs.yml
.overrides
github_search*.jsonl
schemastore
.venv*
scratch.*
!scratch.keep
target/
flamegraph.svg
perf.data*
**/*.rs.bk
*.profraw
/tmp
/fuzz/corpus
/fuzz/artifacts
# Byte-compiled / optimized / DLL files
__pycache__/
*.py[cod]
*$py.class
*.so
.Python
build/
develop-eggs/
dist/
downloads/
eggs/
.eggs/
lib/
lib64/
parts/
sdist/
var/
wheels/
share/python-wheels/
*.egg-info/
.installed.cfg
*.egg
MANIFEST
*.manifest
*.spec
pip-log.txt
pip-delete-this-directory.txt
htmlcov/
.tox/
.nox/
.coverage
.coverage.*
nosetests.xml
coverage.xml
*.cover
*.py,cover
.hypothesis/
.pytest_cache/
cover/
*.mo
*.pot
*.log
local_settings.py
db.sqlite3
db.sqlite3-journal
instance/
.webassets-cache
.scrapy
docs/_build/
.pybuilder/
.ipynb_checkpoints
profile_default/
ipython_config.py
.pdm.toml
.pdm-python
.pdm-build/
__pypackages__/
celerybeat-schedule
celerybeat.pid
*.sage.py
.env
env/
venv/
ENV/
env.bak/
venv.bak/
.spyderproject
.spyproject
.ropeproject
/site
.mypy_cache/
.dmypy.json
dmypy.json
.pyre/
.pytype/
cython_debug/
.idea/
.vscode/
*.swp
*~
.DS_Store
**/node_modules
!crates/ruff_wasm/node_modules/
"""

NESTED = {
    # A fixtures folder keeping some of what the root ignores, as ruff's resources do.
    "crates/crate{n}/resources/.gitignore": "!*.log\n!__pycache__/\n*.snap.new\n/generated/\n",
    "crates/crate{n}/.gitignore": "/bench-out\n*.tmp\n!keep.tmp\n",
}


def pattern_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


def git_env(root: Path) -> dict[str, str]:
    """No global or system git config (a global excludes file would change what git lists)."""
    home = str(root.parent)
    return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": home, "XDG_CONFIG_HOME": home}


def generate(root: Path) -> None:
    """~11,000 files to send (mostly 1-6 KB source), plus what the rules ignore."""
    rng = random.Random(21)
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=git_env(root))
    (root / ".gitignore").write_text(ROOT_GITIGNORE)
    written = 0

    def put(rel: str, data: bytes) -> None:
        nonlocal written
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written += 1

    for n in range(40):
        for rel, text in NESTED.items():
            put(rel.format(n=n), text.encode())
        for m in range(250):  # ~65 folders a crate, ruff's files-per-folder; small fixtures
            roll = rng.random()
            if roll < 0.35:
                folder = f"src/mod{m % 10}" + (f"/part{m // 10 % 3}" if m % 3 else "")
                rel, data = f"{folder}/file{m}.rs", f"fn f{m}() -> u32 {{ {m} }}\n" * rng.randint(20, 300)
            elif roll < 0.93:
                folder = f"resources/test/fixtures/rule{m % 20}" + ("/sub" if m % 4 == 0 else "")
                rel, data = f"{folder}/case{m}.py", f"x{m} = {m}\n" * rng.randint(3, 120)
            elif roll < 0.97:
                rel, data = f"resources/test/fixtures/rule{m % 20}/case{m}.log", "kept by !*.log\n" * 30
            else:
                rel, data = f"resources/test/fixtures/__pycache__/case{m}.pyc", "kept by !__pycache__/\n" * 30
            put(f"crates/crate{n}/{rel}", data.encode())
        put(f"crates/crate{n}/Cargo.toml", f'[package]\nname = "crate{n}"\n'.encode())
        put(f"crates/crate{n}/keep.tmp", b"kept by !keep.tmp\n")
        for m in range(5):  # ignored beside the kept
            put(f"crates/crate{n}/scratch{m}.tmp", b"x\n")
            put(f"crates/crate{n}/bench-out/run{m}.json", b"{}\n")
            put(f"crates/crate{n}/resources/generated/g{m}.py", b"x = 1\n")
            put(f"crates/crate{n}/src/__pycache__/m{m}.pyc", b"\0" * 100)
    for m in range(1000):
        put(f"docs/pages/section{m % 40}/page{m}.md", f"# Page {m}\n\n{'Some text. ' * 40}\n".encode())
    for m in range(4000):  # the build folder
        put(f"target/debug/build/pkg{m % 300}/out/lib{m}.rlib", rng.randbytes(rng.randint(200, 4000)))
    for m in range(200):
        put(f"node_modules/pkg{m % 20}/index{m}.js", b"module.exports = 1;\n")
        put(f"crates/ruff_wasm/node_modules/pkg{m % 10}/index{m}.js", b"module.exports = 2;\n")
    put("scratch.keep", b"kept\n")
    put("scratch.txt", b"ignored\n")
    put("README.md", b"# Repo\n")


def git_visible(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
        env=git_env(root),
    ).stdout
    return sorted(p for p in out.decode().split("\0") if p)


def read_and_hash(root: Path, files: list[str]) -> None:
    for rel in files:
        hashlib.sha256((root / rel).read_bytes()).hexdigest()


class OutboxLink:
    """HostLink.send without a socket: the frame's text is built and the batch appended to
    a real outbox (SQLite, WAL, one fsync an append), as the agent does before sending."""

    def __init__(self, path: Path):
        self.outbox = Outbox(path)

    async def send(self, stream, type_, payload):
        frame_text(type_, stream, 1, encode_payload(payload))
        return self.outbox.append_json(stream, type_, stored_payload(payload))


def first_sync(root: Path, work: Path, n: int) -> int:
    index = Index(work / f"index{n}.sqlite3")
    mirror = Mirror({"repo": str(root)}, index, watch=False)
    mirror.link = OutboxLink(work / f"outbox{n}.sqlite3")
    asyncio.run(mirror.sync_project("repo"))
    count = len(index.rows("repo", [("", True)]))
    index.close()
    mirror.link.outbox.close()
    return count


def best(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    return min(times)


def inotify_watches() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            with open(f"/proc/self/fdinfo/{fd}") as info:
                count += sum(1 for line in info if line.startswith("inotify wd:"))
        except OSError:
            pass
    return count


async def watching(root: Path, work: Path, writes: int) -> tuple[int, float]:
    """The inotify watches of a synced, watched project, and the CPU seconds this process
    spends while `writes` new files land in the ignored target/ (watcher threads included)."""
    index = Index(work / "watch.sqlite3")
    mirror = Mirror({"repo": str(root)}, index, watch=True)
    mirror.link = OutboxLink(work / "watch-outbox.sqlite3")
    await mirror.start()
    try:
        await mirror.sync_project("repo")
        watches = inotify_watches()
        begin = time.process_time()
        write_build_output(root, writes)
        await settle()
        return watches, time.process_time() - begin
    finally:
        await mirror.stop()
        index.close()


def write_build_output(root: Path, count: int) -> None:
    for m in range(count):
        folder = root / "target" / "debug" / "incremental" / f"unit{m % 400}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"obj{m}.o").write_bytes(b"\0" * 64)


async def settle() -> None:
    """Until this process stops using CPU (the watcher's threads have had their events)."""
    last = time.process_time()
    while True:
        await asyncio.sleep(0.3)
        now = time.process_time()
        if now - last < 0.01:
            return
        last = now


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="codexhub-mirror-repo-"))
    plain = work / "plain"
    plain.mkdir()
    begin = time.process_time()
    write_build_output(plain, WRITES)
    asyncio.run(settle())
    write_cpu = time.process_time() - begin
    root = work / "repo"
    generate(root)
    visible = git_visible(root)
    on_disk = sum(len(files) for _, _, files in os.walk(root))
    folders = sum(len(dirs) for _, dirs, _ in os.walk(root)) + 1
    scanned = Scanner(str(root)).scan(hash_files=False).entries
    sent = sorted(path for path, entry in scanned.items() if entry.kind != "dir")
    hash_s = best(lambda: read_and_hash(root, visible), RUNS)
    scan_s = best(lambda: Scanner(str(root)).scan(hash_files=False), RUNS)
    counter = iter(range(RUNS))
    sync_s = best(lambda: first_sync(root, work, next(counter)), RUNS)
    watches, watched_cpu = asyncio.run(watching(root, work, WRITES))
    print(
        f"tree: {on_disk} files in {folders} folders; root .gitignore of "
        f"{pattern_count(ROOT_GITIGNORE)} patterns; git lists {len(visible)} files"
    )
    print(f"the mirror sends the files git lists: {sent == visible}")
    print(f"read and hash {len(visible)} files   {hash_s:.3f} s")
    print(f"scan (snapshot)                {scan_s:.3f} s   ratio {scan_s / hash_s:.2f}")
    print(f"first sync                     {sync_s:.3f} s   ratio {sync_s / hash_s:.2f}")
    print(f"inotify watches                {watches} (folders in the tree: {folders})")
    print(
        f"{WRITES} files written into target/: {watched_cpu:.2f} s of CPU while watched, "
        f"{write_cpu:.2f} s unwatched: the agent's share {watched_cpu - write_cpu:.2f} s"
    )


if __name__ == "__main__":
    main()
