"""The outbox keeps a batch's file text by reference (the file and its hash), not a
second copy of it; a resend reads the text again, or sends metadata if the file changed."""

import hashlib
import json

from hostagent.mirror.batches import TEXT_FROM, BatchBuilder, restore_batch
from hostagent.mirror.diff import snapshot
from hostagent.mirror.scan import Scanner
from tests.kits.agent_mirror import by_path, start_mirrored, stop_mirrored, write
from tests.kits.fakehub import FakeHub, wait_for


def built(root, **kwargs):
    builder = BatchBuilder(
        "p", snapshot(Scanner(str(root)).scan(hash_files=False).entries), reset=True, **kwargs
    )
    batches = []
    while (batch := builder.next_batch()) is not None:
        batches.append(batch)
    return batches


def test_the_stored_form_names_the_file_instead_of_holding_its_text(tmp_path):
    root = tmp_path / "proj"
    write(root, "notes/a.md", "alpha " * 1000)
    write(root, "logo.png", b"\x89PNG\0\0")
    (batch,) = built(root)
    assert batch.json == json.dumps(batch)  # one encoding, as json.dumps would write it
    stored = json.loads(batch.stored)
    assert len(batch.stored) < 1000 < len(batch.json)
    a = by_path(stored["changes"])["notes/a.md"]
    assert a["text"] is None and a[TEXT_FROM] == str(root / "notes" / "a.md")
    assert a["hash"] == hashlib.sha256(("alpha " * 1000).encode()).hexdigest()
    assert TEXT_FROM not in by_path(stored["changes"])["logo.png"]  # no text to refer to
    assert TEXT_FROM not in by_path(stored["changes"])["notes"]
    assert restore_batch("mirror.batch", stored) == json.loads(batch.json)


def test_a_restore_sends_metadata_for_a_file_changed_or_gone_since(tmp_path):
    root = tmp_path / "proj"
    write(root, "same.md", "same")
    write(root, "changed.md", "before")
    write(root, "gone.md", "here")
    (batch,) = built(root)
    write(root, "changed.md", "after")
    (root / "gone.md").unlink()
    restored = by_path(restore_batch("mirror.batch", json.loads(batch.stored))["changes"])
    assert restored["same.md"]["text"] == "same"
    for path in ("changed.md", "gone.md"):
        change = restored[path]
        assert (change["text"], change["binary"], change["too_large"]) == (None, False, True), path
        assert change["hash"] == by_path(batch["changes"])[path]["hash"]  # what was sent, not what is there
        assert TEXT_FROM not in change
    other = {"project": "p", "changes": [{"op": "upsert", TEXT_FROM: str(root / "same.md")}]}
    assert restore_batch("mirror.projects", other) is other  # only batches are restored


async def test_a_resent_snapshot_converges_on_what_is_on_disk(tmp_path):
    """SECURITY.md 93 for the mirror: the agent's link drops after the batch left but
    before its ack, and files change meanwhile. The resend reads unchanged text again;
    the changed and deleted files follow in later batches; nothing is applied twice."""
    docs = tmp_path / "docs"
    write(docs, "same.md", "unchanged text")
    write(docs, "edited.md", "first version")
    write(docs, "removed.md", "soon gone")
    first_batch = {}

    async def drop_before_the_ack(conn):
        await conn.welcome()
        message = await conn.recv_until(lambda m: m.get("type") == "mirror.batch")
        first_batch.update(message)
        stored = [m for m in link.outbox.pending("mirror") if m["type"] == "mirror.batch"]
        assert [m["seq"] for m in stored] == [message["seq"]]
        assert all(c.get("text") is None for c in stored[0]["payload"]["changes"])  # no second copy
        write(docs, "edited.md", "second version")
        (docs / "removed.md").unlink()
        conn.abort()

    async with FakeHub(scripts=[drop_before_the_ack]) as hub:
        link, task, mirror = start_mirrored(hub, tmp_path, {"docs": docs})
        await hub.connection(1)
        await wait_for(
            lambda: link.outbox.count() == 0 and len(hub.mirror_batches()) >= 2,
            what="the resend and the changes",
        )
        await stop_mirrored(link, task, mirror)

    sent = by_path(first_batch["payload"]["changes"])
    assert sent["edited.md"]["text"] == "first version"
    resent, *later = hub.mirror_batches()
    assert resent["reset"] is True
    again = by_path(resent["changes"])
    assert again["same.md"] == sent["same.md"]  # the text read again, the same message
    assert again["edited.md"]["too_large"] is True and again["edited.md"]["text"] is None
    assert again["removed.md"]["too_large"] is True
    later_changes = [c for batch in later for c in batch["changes"]]
    assert {"op": "delete", "path": "removed.md"} in later_changes
    assert by_path(later_changes)["edited.md"]["text"] == "second version"
    seqs = [m["seq"] for m in hub.mirror_messages()]
    assert seqs == list(range(1, len(seqs) + 1))  # each applied once, in order
