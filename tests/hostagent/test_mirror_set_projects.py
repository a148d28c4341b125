"""Mirror.set_projects, the mirror's part of a live agent.toml edit (hostagent/liveconfig.py):
a project whose folder changed is sent whole from its new folder; an edit made while the link is
down is told at the next welcome, once; a project that starts the watcher is watched."""

import asyncio

from tests.kits.agent_mirror import paths_of, start_mirrored, stop_mirrored, write
from tests.kits.fakehub import FakeHub, wait_for
from tests.kits.live_config import listed


def changes(batches):
    return [c for b in batches for c in b["changes"]]


async def test_a_project_whose_folder_changed_is_sent_whole_from_the_new_folder(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    write(old, "a.md", "old a")
    write(old, "gone.md", "only in the old folder")
    write(new, "a.md", "new a")
    async with FakeHub() as hub:
        link, task, mirror = start_mirrored(hub, tmp_path, {"docs": old})
        await wait_for(lambda: hub.mirror_batches("docs"), what="the first snapshot")
        await mirror.set_projects({"docs": str(new)})
        await wait_for(lambda: len(hub.mirror_batches("docs")) == 2, what="the new folder's snapshot")
        await mirror.idle()
        await stop_mirrored(link, task, mirror)
    assert listed(hub) == [["docs"]]  # the same list: not sent again
    second = hub.mirror_batches("docs")[1]
    assert second["reset"] is True and paths_of(second["changes"]) == {"a.md"}
    assert second["changes"][0]["text"] == "new a"


async def test_an_edit_while_the_link_is_down_is_told_at_the_next_welcome_once(tmp_path):
    docs, notes = tmp_path / "docs", tmp_path / "notes"
    write(docs, "a.md", "a")
    write(notes, "n.md", "n")
    go = asyncio.Event()

    async def late_welcome(conn):
        await go.wait()
        await conn.welcome()
        await conn.serve()

    async with FakeHub(scripts=[late_welcome]) as hub:
        link, task, mirror = start_mirrored(hub, tmp_path, {"docs": docs}, watch=True)
        await mirror.start()
        await hub.connection(0)
        await mirror.set_projects({"docs": str(docs), "notes": str(notes)})
        assert link.outbox.count() == 0  # nothing queued before the welcome
        go.set()
        await wait_for(lambda: hub.mirror_batches("notes") and hub.mirror_batches("docs"), what="the sync")
        write(notes, "later.md", "watched")  # the watcher follows the added folder
        await wait_for(lambda: len(hub.mirror_batches("notes")) == 2, what="the change in notes")
        await mirror.idle()
        await stop_mirrored(link, task, mirror)
    assert listed(hub) == [["docs", "notes"]]
    assert [b["reset"] for b in hub.mirror_batches("notes")] == [True, False]
    assert paths_of(changes(hub.mirror_batches("notes"))) == {"n.md", "later.md"}


async def test_the_first_project_added_to_an_agent_sharing_none_is_watched(tmp_path):
    notes = tmp_path / "notes"
    write(notes, "n.md", "n")
    async with FakeHub() as hub:
        link, task, mirror = start_mirrored(hub, tmp_path, {}, watch=True)
        await mirror.start()
        await wait_for(lambda: listed(hub) == [[]], what="the empty list")
        assert "mirror" not in link.capabilities
        await mirror.set_projects({"notes": str(notes)})
        assert "mirror" in link.capabilities
        await wait_for(lambda: hub.mirror_batches("notes"), what="the snapshot")
        write(notes, "later.md", "watched")
        await wait_for(lambda: len(hub.mirror_batches("notes")) == 2, what="the change")
        await mirror.set_projects({})
        await wait_for(lambda: len(listed(hub)) == 3, what="the removal")
        await mirror.idle()
        await stop_mirrored(link, task, mirror)
    assert listed(hub) == [[], ["notes"], []]
