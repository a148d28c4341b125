"""ACP terminals: commands an agent runs through the host agent (`terminal/*`).

A terminal runs `command` + `args` as an argv list (never a shell), with its
`cwd` inside the project root (the root by default), the executor's
environment allowlist plus the variables the agent passes (never a
CODEXHUB_* one), in its own process group. It keeps the tail of its merged
output, at most the smaller of the agent's `outputByteLimit` and 1 MiB, cut at
a character boundary. Once its main process exits the group gets SIGKILL, so
nothing it left behind outlives it; the session kills every terminal when a
turn ends or the session closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field

from acp import RequestError
from acp.schema import EnvVariable, TerminalExitStatus, TerminalOutputResponse

from hostagent.tasks.acp_files import Refused, resolve
from hostagent.tasks.executors import (
    DRAIN_TIMEOUT,
    SIGKILL,
    TERM_GRACE,
    Executor,
    SpawnError,
    child_env,
    exited_code,
    kill_group,
    spawn,
)

MAX_OUTPUT = 1024 * 1024
MAX_TERMINALS = 16  # alive at once in a session
READ_CHUNK = 64 * 1024


def _status(returncode: int) -> TerminalExitStatus:
    if returncode >= 0:
        return TerminalExitStatus(exit_code=returncode)
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = str(-returncode)
    return TerminalExitStatus(signal=name)


@dataclass
class Terminal:
    id: str
    argv: list[str]
    proc: asyncio.subprocess.Process
    limit: int
    output: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    watcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.watcher = asyncio.create_task(self._watch())

    def _keep(self, chunk: bytes) -> None:
        self.output += chunk
        excess = len(self.output) - self.limit
        if excess > 0:
            del self.output[:excess]
            self.truncated = True

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(READ_CHUNK):
            self._keep(chunk)

    async def _watch(self) -> None:
        reader = asyncio.create_task(self._read())
        try:
            await exited_code(self.proc)
            kill_group(self.proc, SIGKILL)  # what it left behind in the background
            # A process outside the group may still hold the pipe: do not wait for it forever.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), DRAIN_TIMEOUT)
        finally:
            reader.cancel()
            self.done.set()

    def text(self) -> str:
        data = bytes(self.output)
        if self.truncated:  # cut at a character boundary: drop a partial character at the start
            start = 0
            while start < min(4, len(data)) and (data[start] & 0xC0) == 0x80:
                start += 1
            data = data[start:]
        return data.decode("utf-8", errors="replace")

    def status(self) -> TerminalExitStatus | None:
        if not self.done.is_set() or self.proc.returncode is None:
            return None
        return _status(self.proc.returncode)

    async def kill(self) -> None:
        if self.done.is_set():
            return
        kill_group(self.proc, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.done.wait()), TERM_GRACE)
        kill_group(self.proc, SIGKILL)
        await self.done.wait()


class Terminals:
    """A session's terminals by id (`term-1`, `term-2`, ...)."""

    def __init__(self, root: str, executor: Executor):
        self.root = root
        self.executor = executor
        self.terminals: dict[str, Terminal] = {}
        self.count = 0

    def environment(self, extra: list[EnvVariable] | None) -> dict[str, str]:
        env = child_env(self.executor)
        for variable in extra or []:
            name, value = variable.name, variable.value
            if not name or "=" in name or "\0" in name or "\0" in value:
                raise Refused(f"{name[:64]!r} is not a variable a command can get")
            if not name.upper().startswith("CODEXHUB_"):
                env[name] = value
        return env

    async def create(
        self,
        command: str,
        args: list[str] | None,
        env: list[EnvVariable] | None,
        cwd: str | None,
        output_byte_limit: int | None,
    ) -> Terminal:
        """Raises Refused (the agent may not run it here) or RequestError (it cannot run)."""
        folder = await asyncio.to_thread(resolve, self.root, cwd) if cwd is not None else self.root
        if not os.path.isdir(folder):
            raise Refused("not a folder")
        argv = [command, *(args or [])]
        if not command or any("\0" in item for item in argv):
            raise Refused("the command is empty or holds NUL")
        if sum(not t.done.is_set() for t in self.terminals.values()) >= MAX_TERMINALS:
            raise Refused(f"at most {MAX_TERMINALS} commands run at once")
        limit = min(output_byte_limit or MAX_OUTPUT, MAX_OUTPUT)
        try:
            proc = await spawn(
                argv,
                cwd=folder,
                env=self.environment(env),
                stdin=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.STDOUT,
            )
        except SpawnError as exc:
            raise RequestError(-32603, str(exc)) from None
        self.count += 1
        terminal = Terminal(f"term-{self.count}", argv, proc, max(0, limit))
        terminal.start()
        self.terminals[terminal.id] = terminal
        return terminal

    def get(self, terminal_id: str) -> Terminal:
        terminal = self.terminals.get(terminal_id)
        if terminal is None:
            raise RequestError.invalid_params({"terminalId": terminal_id, "reason": "no such terminal"})
        return terminal

    def output(self, terminal_id: str) -> TerminalOutputResponse:
        terminal = self.get(terminal_id)
        return TerminalOutputResponse(
            output=terminal.text(), truncated=terminal.truncated, exit_status=terminal.status()
        )

    async def release(self, terminal_id: str) -> None:
        terminal = self.get(terminal_id)
        await terminal.kill()
        self.terminals.pop(terminal_id, None)

    async def kill_all(self) -> None:
        await asyncio.gather(*(terminal.kill() for terminal in self.terminals.values()))
