"""An agent session's timeline, in process: streamed text coalesced, items in the agent's order,
everything cut to the hub's sizes, and a message too big for one frame shrunk rather than lost."""

import asyncio

import acp
from acp.schema import ToolCallLocation

from hostagent.tasks.acp_timeline import FLUSH_EVERY, Timeline, tool_key
from tests.kits.fakehub import wait_for


class Sent(list):
    """The messages a timeline sent; `refuse_over` bytes of JSON-ish size raise ValueError like the link."""

    def __init__(self, refuse_over=None):
        super().__init__()
        self.refuse_over = refuse_over

    async def __call__(self, type_, payload):
        if self.refuse_over is not None and len(repr(payload)) > self.refuse_over:
            raise ValueError("message too large for one frame")
        self.append((type_, payload))

    def items(self):
        return [(p["key"], p["data"]) for t, p in self if t == "task.item"]


async def test_chunks_are_coalesced_and_a_new_message_starts_after_another_item(tmp_path):
    sent = Sent()
    timeline = Timeline(1, str(tmp_path), sent)
    for word in ("Hello", " there", ", how", " are"):
        timeline.update(acp.update_agent_message_text(word))
    await timeline.close()
    # The first chunk goes at once, the rest wait for the 0.2 s timer or the next item: two sends.
    assert sent.items() == [("agent:1", {"text": "Hello"}), ("agent:1", {"text": "Hello there, how are"})]

    sent = Sent()
    timeline = Timeline(1, str(tmp_path), sent)
    timeline.update(acp.update_agent_message_text("One"))
    timeline.update(acp.update_agent_message_text(" two"))
    timeline.update(acp.update_agent_thought_text("Hmm"))
    timeline.update(acp.start_tool_call("c1", "Look", kind="search", status="in_progress"))
    timeline.update(acp.update_agent_message_text("Three"))
    await timeline.close()
    assert [key for key, _ in sent.items()] == ["agent:1", "agent:1", "thought:1", "tool:c1", "agent:2"]
    assert sent.items()[1] == ("agent:1", {"text": "One two"})


async def test_streamed_text_is_resent_at_most_every_fifth_of_a_second(tmp_path):
    sent = Sent()
    timeline = Timeline(1, str(tmp_path), sent)
    loop = asyncio.get_running_loop()
    started = loop.time()
    timeline.update(acp.update_agent_message_text("a"))
    timeline.update(acp.update_agent_message_text("b"))
    await wait_for(lambda: len(sent) == 2, 2, "the timer's send (no other update comes)")
    assert loop.time() - started >= FLUSH_EVERY
    await timeline.close()
    assert sent.items() == [("agent:1", {"text": "a"}), ("agent:1", {"text": "ab"})]


async def test_everything_is_cut_to_the_hubs_sizes(tmp_path):
    sent = Sent()
    timeline = Timeline(1, str(tmp_path), sent)
    timeline.update(acp.update_plan(acp.plan_entry("x" * 600) for _ in range(60)))
    outside = [ToolCallLocation(path=f"/elsewhere/{n}") for n in range(30)]
    inside = [ToolCallLocation(path=str(tmp_path / "a" / "b.md"))]
    long_output = [acp.tool_content(acp.text_block("y" * 10000))]
    timeline.update(
        acp.start_tool_call("c1", "T" * 300, kind="read", locations=inside + outside, content=long_output)
    )
    timeline.update(acp.update_agent_message_text("z" * 40000))
    timeline.notice("n" * 600)
    timeline.user("u\0" * 40000, 3)
    await timeline.close()
    items = dict(sent.items())
    assert len(items["plan"]["entries"]) == 50 and len(items["plan"]["entries"][0]["content"]) == 500
    tool = items["tool:c1"]
    assert len(tool["title"]) == 200 and len(tool["text"]) == 8192
    assert tool["locations"][:2] == ["a/b.md", "/elsewhere/0"] and len(tool["locations"]) == 20
    assert len(items["agent:1"]["text"]) == 32768 and items["agent:1"]["text"].endswith("…")
    assert len(items["notice:1"]["text"]) == 500
    assert len(items["user:3"]["text"]) == 65536 and "\0" not in items["user:3"]["text"]


async def test_a_message_too_big_for_a_frame_loses_diffs_then_text_but_is_sent(tmp_path):
    sent = Sent(refuse_over=30000)
    timeline = Timeline(1, str(tmp_path), sent)
    diffs = [
        acp.tool_diff_content(str(tmp_path / f"f{n}.md"), "new\n" * 3000, "old\n" * 3000) for n in range(3)
    ]
    timeline.update(acp.start_tool_call("c1", "Edit", kind="edit", content=diffs))
    timeline.update(acp.update_agent_message_text("fits"))
    await timeline.close()
    (key, tool), (_, agent) = sent.items()
    assert key == "tool:c1"
    assert [d["diff"] for d in tool["diffs"]] == ["... diff too large to show\n"] * 3
    assert agent == {"text": "fits"}

    sent = Sent(refuse_over=5000)
    timeline = Timeline(1, str(tmp_path), sent)
    timeline.update(acp.start_tool_call("c1", "Run", content=[acp.tool_content(acp.text_block("y" * 8000))]))
    await timeline.close()
    assert len(sent.items()[0][1]["text"]) == 4000


def test_tool_call_ids_that_make_bad_keys_are_hashed():
    assert tool_key("call_1") == "tool:call_1"
    weird = tool_key("call with spaces/and/slashes")
    assert weird.startswith("tool:h") and len(weird) == 38
    assert tool_key("x" * 100) != tool_key("x" * 101)
