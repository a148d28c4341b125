"""The mirror on a repository-sized project, on the hub (issue 21):

1. the project page and a 1,000-entry folder page of an 11,000-file project:
   HTML size and time to the response, beside /healthz in the same run;
2. a checkout that changes 65% of the files (a third of those deleted, some
   folders whole): the hub's apply of its batches, against the same project's
   first sync (both as the agent sends them: deletes first, at most 1,000
   changes a batch), and the checkout back;
3. one delete against one modification, each a batch of its own.

The hub's side only: batches go through devices.services.host_messages_apply,
as the host link applies them. SQLite by default; Postgres with

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_mirror python bench/mirror_browse.py
"""

import hashlib
import os
import random
import statistics
import time

from _setup import django_on_temp_db, timed

django_on_temp_db()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django_otp import DEVICE_ID_SESSION_KEY  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import team_create  # noqa: E402
from codexhub.events import collected_events  # noqa: E402
from devices.services import Incoming, host_messages_apply  # noqa: E402
from projects.models import Entry, Project  # noqa: E402
from tests.kits.common import make_host  # noqa: E402

BATCH = 1000  # changes a batch, as the agent sends them (protocol.limits.SENT_MIRROR_CHANGES)
RUNS = 30
rng = random.Random(21)


def text_of(path: str, version: int) -> str:
    body = f"// {path} v{version}\n" + "pub fn f() -> u32 { 42 }\n" * rng.randint(20, 160)
    return body


def upsert(path: str, version: int = 0) -> dict:
    text = text_of(path, version)
    data = text.encode()
    return {"op": "upsert", "path": path, "kind": "file", "size": len(data), "mtime": 1.7e9 + version,
            "hash": hashlib.sha256(data).hexdigest(), "text": text, "binary": False}  # fmt: skip


def folder(path: str) -> dict:
    return {"op": "upsert", "path": path, "kind": "dir"}


def repository() -> tuple[list[str], list[str]]:
    """(folders, files) shaped like ruff's: crates/<crate>/src/<module>/..., a
    fixtures folder of 1,000 files, docs, scripts, a dozen files at the top."""
    folders, files = (
        ["crates", "docs", "scripts", "python", "crates/fixtures", "crates/fixtures/resources"],
        [],
    )
    files += [f"crates/fixtures/resources/case_{n:04d}.py" for n in range(1000)]
    files += "README.md Cargo.toml Cargo.lock pyproject.toml LICENSE CHANGELOG.md CONTRIBUTING.md".split()
    files += ".gitignore rust-toolchain.toml clippy.toml mkdocs.template.yml".split()
    folders += [f"docs/section{n:03d}" for n in range(30)]
    files += [f"docs/section{n % 30:03d}/page{n:03d}_{k}.md" for n in range(150) for k in range(2)]
    for n in range(40):
        files.append(f"scripts/tool{n:02d}.py")
    crate = 0
    while len(files) < 11_000:
        root = f"crates/crate_{crate:02d}"
        folders += [root, f"{root}/src", f"{root}/tests"]
        files += [f"{root}/Cargo.toml", f"{root}/tests/it.rs"]
        for module in range(8):
            folders.append(f"{root}/src/mod{module}")
            files += [f"{root}/src/mod{module}/file{k:02d}.rs" for k in range(rng.randint(10, 30))]
        crate += 1
    return folders, files[:11_000]


class Link:
    """One host's mirror stream, applied as the host link applies it."""

    def __init__(self, host_id: int):
        self.host_id, self.seq = host_id, 0

    def send(self, kind: str, payload: dict) -> None:
        self.seq += 1
        message = Incoming(host_id=self.host_id, stream="mirror", seq=self.seq, kind=kind, payload=payload)
        with collected_events():
            results = host_messages_apply(messages=[message])
        assert results[0].outcome == "applied", results

    def changes(self, changes: list[dict], reset: bool = False) -> float:
        """Seconds to apply these changes in batches of BATCH."""
        begin = time.perf_counter()
        for start in range(0, max(len(changes), 1), BATCH):
            chunk = changes[start : start + BATCH]
            self.send("mirror.batch", {"project": "repo", "reset": reset and start == 0, "changes": chunk})
        return time.perf_counter() - begin


def compact(deleted: set[str]) -> list[str]:
    """As the agent sends them: no path under another deleted path (hostagent.mirror.diff)."""
    kept = []
    for path in sorted(deleted):
        parts = path.split("/")
        if not any("/".join(parts[:i]) in deleted for i in range(1, len(parts))):
            kept.append(path)
    return kept


def checkout(folders: list[str], files: list[str]) -> tuple[list[dict], list[str], list[str], int]:
    """65% of the files change: a third of those deleted (four crates' sources whole),
    the rest modified or new. Returns the changes, the folders and files after, and how many files changed."""
    changed = int(len(files) * 0.65)
    gone_crates = [f"crates/crate_{n:02d}/src" for n in (3, 11, 19, 27)]
    deleted = {p for p in files if p.startswith(tuple(g + "/" for g in gone_crates))}
    others = [p for p in files if p not in deleted]
    rng.shuffle(others)
    deleted |= set(others[: changed // 3 - len(deleted)])
    modified = [p for p in others[changed // 3 - len(deleted) :] if p not in deleted][
        : changed - changed // 3 - 400
    ]
    created = [f"crates/crate_{n:02d}/src/new/added{k:03d}.rs" for n in (1, 2, 5, 7) for k in range(100)]
    gone_folders = set(gone_crates) | {
        f for f in folders if f.startswith(tuple(g + "/" for g in gone_crates))
    }
    after_folders = [f for f in folders if f not in gone_folders] + [
        f"crates/crate_{n:02d}/src/new" for n in (1, 2, 5, 7)
    ]
    after_files = [p for p in files if p not in deleted] + created
    new_folders = [folder(f"crates/crate_{n:02d}/src/new") for n in (1, 2, 5, 7)]
    changes = [{"op": "delete", "path": p} for p in compact(deleted | gone_folders)]
    changes += new_folders + [upsert(p, 1) for p in sorted(modified + created)]
    return changes, after_folders, after_files, len(deleted) + len(modified) + len(created)


def signed_in_client(team_owner: User) -> Client:
    settings.ALLOWED_HOSTS.append("testserver")
    device = TOTPDevice.objects.create(user=team_owner, name="a", confirmed=True)
    client = Client()
    client.force_login(team_owner)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def main() -> None:
    database = "Postgres" if os.environ.get("BENCH_DATABASE_URL") else "SQLite"
    owner = User.objects.create(username="bench", email="bench@example.com")
    team = team_create(user=owner, name="Bench")
    host, _ = make_host(team, "bench-host")
    link = Link(host.id)
    link.send("mirror.projects", {"projects": [{"name": "repo"}]})
    folders, files = repository()
    first = [folder(f) for f in sorted(folders)] + [upsert(p) for p in sorted(files)]
    sync = link.changes(first, reset=True)
    project = Project.objects.get(name="repo")
    assert Entry.objects.filter(project=project, kind="file").count() == len(files)

    client = signed_in_client(owner)
    urls = {
        "project page": f"/projects/{project.id}/",
        "1,000-entry folder": f"/projects/{project.id}/tree/crates/fixtures/resources",
        "/healthz": "/healthz",
    }
    pages = {}
    for label, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        pages[label] = (len(response.content), statistics.median(timed(lambda u=url: client.get(u), RUNS)))

    changes, after_folders, after_files, changed = checkout(folders, files)
    deletes = sum(1 for c in changes if c["op"] == "delete")
    forward = link.changes(changes)
    assert Entry.objects.filter(project=project, kind="file").count() == len(after_files)
    back = [
        {"op": "delete", "path": p} for p in compact(set(after_files + after_folders) - set(files + folders))
    ]
    back += [folder(f) for f in sorted(set(folders) - set(after_folders))]
    touched = {c["path"] for c in changes if c["op"] == "upsert"}
    back += [upsert(p) for p in sorted(files) if p not in set(after_files) or p in touched]
    backward = link.changes(back)
    assert Entry.objects.filter(project=project, kind="file").count() == len(files)

    # One change a batch: a file deleted (and put back, untimed) against a file modified.
    singles = [p for p in files if p.endswith(".rs")][:RUNS]
    one_delete, one_modify = [], []
    for n, path in enumerate(singles):
        one_delete.append(link.changes([{"op": "delete", "path": path}]) * 1000)
        link.changes([upsert(path)])
        one_modify.append(link.changes([upsert(path, 100 + n)]) * 1000)

    print(f"Mirror on an {len(files):,}-file project, {len(folders):,} folders, hub side, {database}")
    print("1. pages (in process, signed in; median of", RUNS, "requests)")
    for label, (size, ms) in pages.items():
        print(f"   {label:22}{size / 1024:9.1f} KB{ms:9.1f} ms")
    print(f"2. first sync ({len(first):,} changes, {-(-len(first) // BATCH)} batches)   {sync:6.2f} s")
    print(f"   checkout: {changed:,} files changed ({changed / len(files):.0%}), {len(changes):,} changes "
          f"({deletes:,} deletes)   {forward:6.2f} s   ratio to first sync {forward / sync:.2f}")  # fmt: skip
    print(f"   checkout back: {len(back):,} changes   {backward:6.2f} s   ratio {backward / sync:.2f}")
    d, m = statistics.median(one_delete), statistics.median(one_modify)
    print(f"3. one change a batch, median of {RUNS}: delete {d:.2f} ms, modify {m:.2f} ms, ratio {d / m:.2f}")


if __name__ == "__main__":
    main()
