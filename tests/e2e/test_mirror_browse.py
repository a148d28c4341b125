"""Folder and file pages open on phones while one batch changes 2,000 paths
(issue 21): every open page hears its change, however deep in the batch, and
shows a deleted file as deleted."""

import json
import re

import pytest
from playwright.sync_api import expect
from websockets.sync.client import ClientConnection, connect

from projects.models import Project
from tests.e2e.conftest import off_the_loop
from tests.kits.common import make_host, make_owner
from tests.kits.mirror_stream import delete, dir_change, file_change
from tests.kits.phone import shot, sideways, sign_in

pytestmark = pytest.mark.e2e

LIVE = 5_000  # ms: the batch is 2,000 changes; the pages must follow within seconds


class MirrorHost:
    """A host link that sends mirror batches as an agent would, and waits for each ack."""

    def __init__(self, socket: ClientConnection):
        self.socket = socket
        assert json.loads(self.socket.recv(timeout=10))["type"] == "welcome"
        self.seq = 0

    def send(self, kind: str, payload: dict) -> None:
        self.seq += 1
        self.socket.send(json.dumps({"type": kind, "stream": "mirror", "seq": self.seq, "payload": payload}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("type") == "ack":
                assert message == {"type": "ack", "stream": "mirror", "seq": self.seq}, message
                return

    def batch(self, *changes: dict, reset: bool = False) -> None:
        self.send("mirror.batch", {"project": "docs", "reset": reset, "changes": list(changes)})


def _owner_and_host():
    user, team = make_owner("ria@example.com", "Ria's")
    _, token = make_host(team, "studio")
    return user, token


@pytest.fixture
def mirrored(hub):
    user, token = off_the_loop(_owner_and_host)
    url = hub.url.replace("http://", "ws://") + "/ws/host/"
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as socket:
        yield user, _mirrored_host(socket)


def _mirrored_host(socket: ClientConnection) -> MirrorHost:
    host = MirrorHost(socket)
    host.send("mirror.projects", {"projects": [{"name": "docs"}]})
    host.batch(
        dir_change("src"),
        file_change("src/app.py", "def main():\n    return 1\n"),
        file_change("src/old.py", "OLD = True\n"),
        file_change("src/keep.py", "KEEP = True\n"),
        file_change("README.md", "# Docs\n"),
        reset=True,
    )
    return host


def test_open_pages_follow_a_2000_change_batch(hub, mirrored, phones, artifacts):
    user, host = mirrored
    project_id = Project.objects.get(name="docs").id
    pages = {}
    for name, path in (("folder", "tree/src"), ("app", "files/src/app.py"), ("old", "files/src/old.py")):
        page = phones.new_page()
        sign_in(page, hub.url, user)
        page.goto(f"{hub.url}/projects/{project_id}/{path}")
        expect(page.locator('body[data-live="open"]')).to_have_count(1, timeout=10_000)
        pages[name] = page
    folder = pages["folder"]
    expect(folder.locator(".entry")).to_have_count(3)
    shot(folder, artifacts, "01-folder")

    # One batch of 2,000: the changes the pages show come after 1,997 others.
    filler = [dir_change("gen"), *[dir_change(f"gen/d{n}") for n in range(20)]]
    filler += [file_change(f"gen/d{n % 20}/f{n}.txt", f"{n}\n") for n in range(1997 - len(filler))]
    host.batch(
        *filler,
        file_change("src/app.py", "def main():\n    return 20\n"),
        delete("src/old.py"),
        file_change("src/new.py", "NEW = True\n"),
    )

    expect(pages["app"].locator("#file-body")).to_contain_text("return 20", timeout=LIVE)
    expect(pages["old"].locator("[data-live-status]")).to_have_text(
        "This file was deleted on the host.", timeout=LIVE
    )
    expect(folder.locator('.entry[data-path="src/new.py"]')).to_be_visible(timeout=LIVE)
    old_row = folder.locator('.entry[data-path="src/old.py"]')
    expect(old_row).to_have_class(re.compile(r"\bgone\b"))
    expect(old_row).to_contain_text("deleted on the host")
    expect(folder.locator('.entry[data-path="src/app.py"]')).to_contain_text("26\xa0bytes")
    names = folder.locator(".entry").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert names == ["app.py", "keep.py", "new.py", "old.py"]  # the new row where the hub lists it
    shot(folder, artifacts, "02-folder-after")
    shot(pages["old"], artifacts, "03-deleted-file")
    for page in pages.values():
        assert sideways(page) <= 0
    assert not phones.errors, phones.errors
