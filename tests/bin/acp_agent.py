#!/usr/bin/env python3
"""A scripted ACP agent for the tests: a real agent process on the agent-client-protocol
library, over stdio. Each prompt is a script, one directive per line, run in order:

  plan: A | B | C       a plan (the first entry in progress, the rest pending)
  plan-done             the plan again, every entry completed
  read PATH             a read tool call: fs/read_text_file, its first line as the output
  edit PATH := TEXT     an edit tool call with its diff, then session/request_permission,
  edit PATH += TEXT       then (if allowed) fs/write_text_file of TEXT (+= appends the line)
  write PATH := TEXT    fs/write_text_file without asking, reported as a tool call
  say TEXT              an agent message, streamed in chunks
  think TEXT            a thought
  env NAME=VALUE        a variable passed to the commands run after it
  run CMD ARGS...       terminal/create, wait for its exit, its output as a tool call
  run-in DIR CMD ...    the same with DIR as the command's cwd
  hold PATH             wait until PATH exists; session/cancel ends the wait and the turn
  stop REASON           end the turn at once with that stop reason (refusal, max_tokens, ...)
  fail TEXT             answer the prompt with a JSON-RPC error saying TEXT
  die N                 "dying on purpose" on stderr, then exit N at once

PATH and DIR are relative to the session's folder unless they start with /. A line that is
no directive is said; the host's "Target file: ..." line is skipped. If $ACP_TEST_LOG is set,
every prompt is appended to it as a JSON line {"prompt": text}, and a closed session as
{"closed": session id}.
"""

import asyncio
import json
import os
import re
import shlex
import sys

import acp
from acp import RequestError
from acp.schema import (
    AgentCapabilities,
    CloseSessionResponse,
    EnvVariable,
    Implementation,
    InitializeResponse,
    NewSessionResponse,
    PermissionOption,
    PromptResponse,
    SessionCapabilities,
    SessionCloseCapabilities,
    ToolCallLocation,
    ToolCallUpdate,
)

OPTIONS = [
    PermissionOption(option_id="allow", name="Allow once", kind="allow_once"),
    PermissionOption(option_id="always", name="Always allow", kind="allow_always"),
    PermissionOption(option_id="reject", name="Reject", kind="reject_once"),
]


def record(entry):
    if os.environ.get("ACP_TEST_LOG"):
        with open(os.environ["ACP_TEST_LOG"], "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def output(text):
    return [acp.tool_content(acp.text_block(text))]


class ScriptedAgent:
    def __init__(self):
        self.conn = None
        self.cwd = "/"
        self.session_id = ""
        self.cancelled = asyncio.Event()
        self.calls = 0
        self.plan = []
        self.env = []
        self.said_last = False

    def on_connect(self, conn):
        self.conn = conn

    async def initialize(self, protocol_version, client_capabilities=None, client_info=None, **kwargs):
        capabilities = AgentCapabilities(
            session_capabilities=SessionCapabilities(close=SessionCloseCapabilities())
        )
        return InitializeResponse(
            protocol_version=acp.PROTOCOL_VERSION,
            agent_capabilities=capabilities,
            agent_info=Implementation(name="acp-test-agent", version="1.0"),
        )

    async def new_session(self, cwd, mcp_servers=None, **kwargs):
        self.cwd, self.session_id = cwd, f"session-{os.getpid()}"
        return NewSessionResponse(session_id=self.session_id)

    async def close_session(self, session_id, **kwargs):
        record({"closed": session_id})
        return CloseSessionResponse()

    async def cancel(self, session_id, **kwargs):
        self.cancelled.set()

    async def prompt(self, session_id, prompt, **kwargs):
        text = "\n".join(block.text for block in prompt if getattr(block, "type", "") == "text")
        record({"prompt": text})
        self.cancelled.clear()
        self.said_last = False
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("Target file:"):
                continue
            done = await self.directive(line)
            if self.cancelled.is_set() or done is False:
                return PromptResponse(stop_reason="cancelled")
            if isinstance(done, PromptResponse):
                return done
        return PromptResponse(stop_reason="cancelled" if self.cancelled.is_set() else "end_turn")

    async def directive(self, line):
        word, _, rest = line.partition(" ")
        handler = getattr(self, "do_" + word.rstrip(":").replace("-", "_"), None)
        said = self.said_last
        self.said_last = False
        if handler is None:
            return await self.do_say(line, said)
        if word == "say":
            return await self.do_say(rest, said)
        return await handler(rest)

    # Helpers -------------------------------------------------------------------------

    def path(self, path):
        return path if path.startswith("/") else os.path.join(self.cwd, path)

    async def update(self, update):
        await self.conn.session_update(session_id=self.session_id, update=update)

    async def tool(self, title, kind, status, **fields):
        self.calls += 1
        tool_id = f"call_{self.calls}"
        await self.update(acp.start_tool_call(tool_id, title, kind=kind, status=status, **fields))
        return tool_id

    async def done(self, tool_id, status, text=None):
        await self.update(
            acp.update_tool_call(tool_id, status=status, content=output(text) if text else None)
        )

    async def until_cancelled(self, coroutine):
        """The coroutine's result, or None if the turn is cancelled first."""
        work, stop = asyncio.ensure_future(coroutine), asyncio.ensure_future(self.cancelled.wait())
        await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if work.done():
            return work.result()
        work.cancel()
        return None

    # Directives ----------------------------------------------------------------------

    async def do_say(self, text, after_say=False):
        text = ("\n\n" if after_say else "") + text
        half = max(1, len(text) // 2)
        for piece in (text[:half], text[half:]):
            if piece:
                await self.update(acp.update_agent_message_text(piece))
        self.said_last = True

    async def do_think(self, text):
        await self.update(acp.update_agent_thought_text(text))

    async def do_plan(self, rest):
        self.plan = [entry.strip() for entry in rest.split("|") if entry.strip()]
        statuses = ["in_progress"] + ["pending"] * (len(self.plan) - 1)
        await self.update(
            acp.update_plan(acp.plan_entry(c, status=s) for c, s in zip(self.plan, statuses, strict=True))
        )

    async def do_plan_done(self, rest):
        await self.update(acp.update_plan(acp.plan_entry(c, status="completed") for c in self.plan))

    async def do_read(self, path):
        where = [ToolCallLocation(path=self.path(path))]
        tool_id = await self.tool(f"Read {path}", "read", "in_progress", locations=where)
        try:
            content = (
                await self.conn.read_text_file(session_id=self.session_id, path=self.path(path))
            ).content
        except RequestError as exc:
            await self.done(tool_id, "failed", str(exc))
            return await self.do_say(f"could not read {path}: {exc}")
        await self.done(tool_id, "completed", (content.splitlines() or [""])[0])

    async def do_edit(self, rest):
        path, op, text = re.fullmatch(r"(\S+) (:=|\+=) ?(.*)", rest).groups()
        try:
            old = (await self.conn.read_text_file(session_id=self.session_id, path=self.path(path))).content
        except RequestError:
            old = None
        new = text + "\n"
        if op == "+=" and old:
            new = old + ("" if old.endswith("\n") else "\n") + new
        fields = {
            "content": [acp.tool_diff_content(self.path(path), new, old)],
            "locations": [ToolCallLocation(path=self.path(path))],
        }
        tool_id = await self.tool(f"Edit {path}", "edit", "pending", **fields)
        asked = ToolCallUpdate(
            tool_call_id=tool_id, title=f"Edit {path}", kind="edit", status="pending", **fields
        )
        answer = await self.conn.request_permission(
            session_id=self.session_id, tool_call=asked, options=OPTIONS
        )
        if answer.outcome.outcome == "cancelled":
            await self.done(tool_id, "failed", "cancelled")
            return False
        if answer.outcome.option_id == "reject":
            await self.done(tool_id, "failed", "rejected")
            return await self.do_say(f"Left {path} unchanged.")
        await self.write(tool_id, path, new)

    async def do_write(self, rest):
        path, text = re.fullmatch(r"(\S+) := ?(.*)", rest).groups()
        tool_id = await self.tool(
            f"Write {path}", "edit", "in_progress", locations=[ToolCallLocation(path=self.path(path))]
        )
        await self.write(tool_id, path, text + "\n")

    async def write(self, tool_id, path, content):
        try:
            await self.conn.write_text_file(session_id=self.session_id, path=self.path(path), content=content)
        except RequestError as exc:
            await self.done(tool_id, "failed", str(exc))
            return await self.do_say(f"could not write {path}: {exc}")
        await self.done(tool_id, "completed", f"wrote {path}")

    async def do_env(self, rest):
        name, _, value = rest.partition("=")
        self.env.append(EnvVariable(name=name, value=value))

    async def do_run(self, rest, cwd=None):
        argv = shlex.split(rest)
        try:
            made = await self.conn.create_terminal(
                session_id=self.session_id, command=argv[0], args=argv[1:], env=self.env, cwd=cwd
            )
        except RequestError as exc:
            return await self.do_say(f"could not run {argv[0]}: {exc}")
        terminal = {"session_id": self.session_id, "terminal_id": made.terminal_id}
        tool_id = await self.tool(
            f"Run {rest}", "execute", "in_progress", content=[acp.tool_terminal_ref(made.terminal_id)]
        )
        exited = await self.until_cancelled(self.conn.wait_for_terminal_exit(**terminal))
        if exited is None:
            await self.conn.kill_terminal(**terminal)
        result = await self.conn.terminal_output(**terminal)
        await self.conn.release_terminal(**terminal)
        await self.done(tool_id, "completed" if exited and exited.exit_code == 0 else "failed", result.output)
        return exited is not None

    async def do_run_in(self, rest):
        folder, _, command = rest.partition(" ")
        return await self.do_run(command, cwd=self.path(folder))

    async def do_hold(self, path):
        while not os.path.exists(self.path(path)):
            if self.cancelled.is_set():
                return False
            await asyncio.sleep(0.02)

    async def do_stop(self, reason):
        return PromptResponse(stop_reason=reason)

    async def do_fail(self, text):
        raise RequestError(-32603, text)

    async def do_die(self, code):
        sys.stderr.write("dying on purpose\n")
        sys.stderr.flush()
        os._exit(int(code))


if __name__ == "__main__":
    asyncio.run(acp.run_agent(ScriptedAgent(), use_unstable_protocol=True))
