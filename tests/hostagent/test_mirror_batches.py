import hashlib
import json
import os

from hostagent.mirror.batches import MAX_BATCH, MAX_CHANGES, BatchBuilder
from hostagent.mirror.diff import snapshot
from hostagent.mirror.scan import Scanner
from tests.kits.agent_mirror import by_path, encoded, make_mirror, write

KIB = 1024


async def test_it_sends_text_binary_and_large_files_as_the_protocol_says(tmp_path):
    root = tmp_path / "proj"
    write(root, "readme.md", "# Héllo\n")
    write(root, "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(root, "latin1.txt", "caf\xe9".encode("latin-1"))
    write(root, "nul.txt", b"text\x00with nul")
    write(root, "big.txt", "a" * (513 * KIB))
    write(root, "near.txt", "b" * (500 * KIB))
    write(root, "exact.txt", "c" * (512 * KIB))
    write(root, "wide.txt", "é" * 180_000)
    write(root, "empty.txt", "")
    mirror, link = make_mirror(tmp_path, {"p": root})
    await mirror.sync_project("p")
    upserts = by_path(link.changes())
    readme = upserts["readme.md"]
    assert readme == {
        "op": "upsert",
        "path": "readme.md",
        "kind": "file",
        "size": len("# Héllo\n".encode()),
        "mtime": (root / "readme.md").stat().st_mtime,
        "hash": hashlib.sha256("# Héllo\n".encode()).hexdigest(),
        "text": "# Héllo\n",
        "binary": False,
    }
    for name in ("logo.png", "nul.txt"):
        assert (upserts[name]["text"], upserts[name]["binary"]) == (None, True), name
        assert "too_large" not in upserts[name]
    # Not UTF-8, but confidently text (hostagent.textcodec): decoded, the hash of its bytes.
    assert (upserts["latin1.txt"]["text"], upserts["latin1.txt"]["binary"]) == ("café", False)
    big = upserts["big.txt"]
    assert (big["text"], big["binary"], big["too_large"], big["size"]) == (None, False, True, 513 * KIB)
    assert big["hash"] == hashlib.sha256(b"a" * (513 * KIB)).hexdigest()
    assert upserts["near.txt"]["text"] == "b" * (500 * KIB)
    assert upserts["exact.txt"]["text"] == "c" * (512 * KIB)  # the limit is inclusive; the batch is 1 MiB
    # 360 KB of text is text, but escaped (\u00e9, 6 bytes a character) it cannot fit in a batch.
    wide = upserts["wide.txt"]
    assert (wide["text"], wide["binary"], wide["too_large"], wide["size"]) == (None, False, True, 360_000)
    assert upserts["empty.txt"]["text"] == ""
    for batch in link.batches():
        assert encoded(batch) <= MAX_BATCH
    mirror.index.close()


async def test_it_sends_512_kib_of_control_characters_as_metadata(tmp_path):
    root = tmp_path / "proj"
    write(root, "controls.txt", "\x01" * (512 * KIB))  # valid UTF-8, \u0001 in JSON: 6x
    write(root, "small.txt", "ok")
    mirror, link = make_mirror(tmp_path, {"p": root})
    await mirror.sync_project("p")
    for batch in link.batches():
        assert encoded(batch) <= MAX_BATCH
    controls = by_path(link.changes())["controls.txt"]
    assert (controls["text"], controls["binary"], controls["too_large"]) == (None, False, True)
    assert controls["size"] == 512 * KIB
    assert by_path(link.changes())["small.txt"]["text"] == "ok"
    mirror.index.close()


def test_it_splits_batches_by_encoded_size(tmp_path):
    root = tmp_path / "proj"
    for i in range(40):
        write(root, f"f{i:02}.txt", "é" * 10_000)  # ~60 KB each once escaped as \u00e9
    work = snapshot(Scanner(str(root)).scan().entries)
    builder = BatchBuilder("p", work, reset=True, limit=200_000)
    batches = []
    while (batch := builder.next_batch()) is not None:
        batches.append(batch)
    assert len(batches) > 1
    assert [b["reset"] for b in batches] == [True] + [False] * (len(batches) - 1)
    assert all(len(json.dumps(b)) <= 200_000 for b in batches)
    assert all(b["project"] == "p" for b in batches)
    sent = [c["path"] for b in batches for c in b["changes"]]
    assert sent == [f"f{i:02}.txt" for i in range(40)]
    assert all(c["text"] == "é" * 10_000 for b in batches for c in b["changes"])


def test_it_sends_one_empty_batch_for_a_reset_of_an_empty_project(tmp_path):
    (tmp_path / "proj").mkdir()
    builder = BatchBuilder("p", snapshot(Scanner(str(tmp_path / "proj")).scan().entries), reset=True)
    assert builder.next_batch() == {"project": "p", "reset": True, "changes": []}
    assert builder.next_batch() is None
    assert BatchBuilder("p", snapshot({}), reset=False).next_batch() is None


def test_it_caps_the_number_of_changes_per_batch(tmp_path):
    root = tmp_path / "proj"
    for i in range(2500):
        (root / f"d{i:04}").mkdir(parents=True)
    builder = BatchBuilder("p", snapshot(Scanner(str(root)).scan().entries))
    sizes = []
    while (batch := builder.next_batch()) is not None:
        sizes.append(len(batch["changes"]))
    assert sizes == [MAX_CHANGES, MAX_CHANGES, 500]


async def test_it_keeps_mtimes_in_the_range_the_hub_accepts(tmp_path):
    root = tmp_path / "proj"
    old = write(root, "old.txt", "x")
    os.utime(old, (-100.0, -100.0))
    mirror, link = make_mirror(tmp_path, {"p": root})
    await mirror.sync_project("p")
    assert by_path(link.changes())["old.txt"]["mtime"] == 0.0
    mirror.index.close()
