"""SECURITY.md 69: the task log is capped, coalesced, and drained to the end."""

from hostagent.tasks.output import MAX_PIECE, TaskLog, split_utf8
from tests.kits.agent_tasks import (
    ARGV_DUMP,
    PY,
    applied,
    finished,
    load_config,
    log_text,
    running_agent,
    toml_list,
)

CAP = 64 * 1024
NOTICE = f"\n[output truncated after {CAP} bytes]\n"


def setup(tmp_path, monkeypatch, mode, cap=CAP):
    monkeypatch.setenv("ARGV_DUMP_MODE", mode)
    root = tmp_path / "proj"
    root.mkdir()
    cfg = load_config(
        tmp_path,
        f"""
[tasks]
output_cap = {cap}

[executors.dump]
command = {toml_list([PY, ARGV_DUMP])}
env = ["ARGV_DUMP_MODE"]
""",
    )
    return cfg, root


async def run(tmp_path, cfg, root):
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "dump", "talk")
        done = await finished(hub, 1, timeout=20)
    return hub, done


async def test_it_caps_a_flood_and_still_completes(tmp_path, monkeypatch):
    cfg, root = setup(tmp_path, monkeypatch, "flood")
    hub, done = await run(tmp_path, cfg, root)
    text = log_text(hub, 1)
    pieces = [p["text"] for p in applied(hub, "task.log", 1)]
    # argv-dump wrote 8 MiB and exited 0: the pipe was drained past the cap.
    assert (done["outcome"], done["exit_code"], done["log_truncated"]) == ("succeeded", 0, True)
    assert text.endswith("y\n" * 100 + "y" + NOTICE) or text.endswith("y\n" * 100 + NOTICE)
    assert text.count("[output truncated") == 1
    assert len(text.encode()) <= CAP + len(NOTICE)
    assert len(text.encode()) >= CAP
    assert all(len(piece.encode()) <= MAX_PIECE for piece in pieces)
    assert len(pieces) <= CAP // MAX_PIECE + 3  # coalesced, not one message per read


async def test_it_coalesces_a_trickle_into_few_pieces(tmp_path, monkeypatch):
    cfg, root = setup(tmp_path, monkeypatch, "trickle")
    hub, done = await run(tmp_path, cfg, root)
    text = log_text(hub, 1)
    assert done["outcome"] == "succeeded" and done["log_truncated"] is False
    lines = text.splitlines()[1:]  # after argv-dump's JSON line
    assert lines == [f"line {i}" for i in range(40)]
    # 40 lines over ~0.4 s with a flush at most every 0.2 s: a handful of pieces, not 40.
    assert len(applied(hub, "task.log", 1)) <= 8


class Collect:
    def __init__(self):
        self.sent = []

    async def __call__(self, payload):
        self.sent.append(payload)


async def test_it_strips_nul_and_keeps_characters_whole_across_reads():
    sent = Collect()
    log = TaskLog(sent, 7, cap=1000)
    data = "é\0ü€".encode()
    for i in range(len(data)):
        log.feed(data[i : i + 1])  # one byte at a time: multibyte characters split across reads
    await log.flush(final=True)
    assert sent.sent == [{"task_id": 7, "seq": 1, "text": "éü€"}]
    log.feed(b"\xff ok")
    await log.flush(final=True)
    assert sent.sent[1] == {"task_id": 7, "seq": 2, "text": "\ufffd ok"}


async def test_it_caps_in_bytes_and_says_so_once():
    sent = Collect()
    log = TaskLog(sent, 1, cap=10)
    log.feed(b"0123456789abc")
    log.feed(b"more")
    await log.note("an agent line\n")
    await log.flush(final=True)
    text = "".join(p["text"] for p in sent.sent)
    assert text == "0123456789\n[output truncated after 10 bytes]\n"
    assert log.truncated and log.received == 17 + len("an agent line\n")


def test_it_splits_text_at_character_boundaries():
    text = "a" + "€" * 10000  # 3 bytes each
    pieces = split_utf8(text, 16 * 1024)
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= 16 * 1024 for p in pieces)
    assert split_utf8("") == []
