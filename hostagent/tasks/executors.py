"""Executors: what this host offers, and running a command executor (SECURITY.md 1.8).

A command runs as an argv list (never a shell) in the project root, in a new
session (so a new process group) with a child environment from an allowlist.
`{prompt}` and `{file}` fill template elements by plain replacement, each
element staying one argv element whatever the prompt holds; the built-in
templates pass the prompt on stdin or glued to its option (`--message=...`)
so it can never be parsed as a flag, and the file as `./<path>` after `--`.

Timeout and cancel kill the whole group (SIGTERM, then SIGKILL after 1 s).
Once the main process exited the group gets SIGKILL anyway, so nothing it
started in the background outlives the task or holds the output pipe open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hostagent.config import (
    COMPUTER_ACTIONS,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_LIVE_MAX,
    DEFAULT_MAX_ACTIONS,
    DEFAULT_PERMISSION_TIMEOUT,
    DEFAULT_SCREENSHOT_MAX,
    DEFAULT_STEP_TIMEOUT,
    MAX_EXECUTORS,
    MAX_LIVE_FPS,
    Config,
    ExecutorConfig,
    TasksConfig,
)
from hostagent.tasks.environment import BASE_ENV, TEMPLATE_ENV, hello_fields, report
from hostagent.tasks.output import TaskLog, pump

TERM_GRACE = 1.0  # seconds between SIGTERM and SIGKILL
DRAIN_TIMEOUT = 1.0  # reading what is left once the group was killed
SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL
POLL = 0.05


@dataclass(frozen=True)
class Builtin:
    label: str
    argv: tuple[str, ...]
    stdin_prompt: bool
    output: str = ""  # what its stdout is: one of OUTPUT_FORMATS, "" plain text


OUTPUT_FORMATS = ("codex-jsonl", "claude-stream-json")  # cli_output reads these onto the timeline

BUILTINS = {
    # `codex exec -` and `claude -p` read the prompt on stdin, which is closed after it; both print
    # their events as JSON lines on stdout (progress on stderr, the task log).
    "codex": Builtin("Codex CLI", ("codex", "exec", "--json", "-"), True, "codex-jsonl"),
    "claude": Builtin(
        "Claude Code",
        ("claude", "-p", "--output-format", "stream-json", "--verbose"),  # stream-json needs --verbose
        True,
        "claude-stream-json",
    ),
    # aider takes the prompt glued to its option, so it is that option's value whatever it starts with.
    "aider": Builtin("Aider", ("aider", "--yes", "--message={prompt}", "--", "{file}"), False),
}


class TaskError(Exception):
    """The task cannot run as asked; the message says why (sent as its error)."""


@dataclass(frozen=True)
class Executor:
    name: str
    label: str
    kind: str  # "command", "openai", "browser", "acp", "codex" or "computer"
    needs_file: bool
    timeout: float  # acp: per turn
    argv: tuple[str, ...] = ()  # command: the template; acp: the agent's argv
    stdin_prompt: bool = False  # command: the prompt goes on stdin
    env: tuple[str, ...] = ()  # command and acp: extra variable names for the child
    template: str = ""  # command: the built-in template it came from ("codex", "claude", "aider")
    output: str = ""  # command: its stdout's structured format (OUTPUT_FORMATS), "" plain text
    base_url: str = ""  # openai
    model: str = ""
    api_key_env: str = ""
    executable_path: str = ""  # browser: one of executable_path and channel
    channel: str = ""
    headless: bool = True
    profile_dir: str = ""
    allowed_sites: tuple[str, ...] = ()
    downloads_dir: str = ""
    step_timeout: float = DEFAULT_STEP_TIMEOUT
    screenshot_max_bytes: int = DEFAULT_SCREENSHOT_MAX
    live_fps: int = MAX_LIVE_FPS  # computer: the live view's frames a second (0: none)
    live_max_bytes: int = DEFAULT_LIVE_MAX
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT  # acp
    permission_timeout: float = DEFAULT_PERMISSION_TIMEOUT
    on_permission_timeout: str = "reject"
    terminal: bool = True
    approval_policy: str = "untrusted"  # codex
    sandbox: str = "workspace-write"
    effort: str = ""
    # codex: the models its Codex offers (hostagent/tasks/codex_models.py), as hello lists them
    models: tuple[dict[str, Any], ...] = ()
    display: str = ""  # computer: the X11 display ("": the agent's $DISPLAY)
    input: str | None = None  # computer: "xdotool" or "pynput" (None: the platform's default)
    monitor: str | None = None  # computer: one monitor of the display, by name (None: all of them)
    actions: tuple[str, ...] = ()
    allowed_titles: tuple[str, ...] = ()  # () and (): any window
    allowed_classes: tuple[str, ...] = ()
    max_actions: int = DEFAULT_MAX_ACTIONS

    @property
    def drives_itself(self) -> bool:
        """A computer executor a model drives: it takes a goal in words, not steps."""
        return self.kind == "computer" and bool(self.model)

    def describe(self) -> dict[str, object]:
        """As `hello` offers it, with the names of its own variables that pass and of the needed
        ones that are unset (never a value)."""
        described: dict[str, object] = {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "needs_file": self.needs_file,
        }
        if self.kind == "codex":
            described["models"] = [dict(model) for model in self.models]
        if self.kind == "computer":
            described["actions"] = list(self.actions)
            if self.drives_itself:
                described["goal"] = True
        return {**described, **hello_fields(report(self))}


def _from_config(
    name: str, spec: ExecutorConfig, tasks: TasksConfig, which: Callable[[str], str | None]
) -> Executor:
    timeout = float(spec.timeout if spec.timeout is not None else tasks.timeout)
    label = spec.label or name
    if spec.type == "openai":
        return Executor(
            name,
            label,
            "openai",
            True,
            timeout,
            base_url=spec.base_url or "",
            model=spec.model or "",
            api_key_env=spec.api_key_env or "",
        )
    if spec.type == "browser":
        return Executor(
            name,
            label,
            "browser",
            False,
            timeout,
            executable_path=spec.executable_path or "",
            channel=spec.channel or "",
            headless=spec.headless is not False,
            profile_dir=spec.profile_dir or "",
            allowed_sites=tuple(spec.allowed_sites or ()),
            downloads_dir=spec.downloads_dir or "",
            step_timeout=float(spec.step_timeout or DEFAULT_STEP_TIMEOUT),
            screenshot_max_bytes=spec.screenshot_max_bytes or DEFAULT_SCREENSHOT_MAX,
        )
    if spec.type == "computer":
        return Executor(
            name,
            label,
            "computer",
            False,
            timeout,
            display=spec.display or "",
            input=spec.input,
            monitor=spec.monitor,
            live_fps=MAX_LIVE_FPS if spec.live_fps is None else spec.live_fps,
            live_max_bytes=spec.live_max_bytes or DEFAULT_LIVE_MAX,
            actions=tuple(spec.actions or COMPUTER_ACTIONS),
            allowed_titles=tuple(spec.allowed_titles or ()),
            allowed_classes=tuple(spec.allowed_classes or ()),
            max_actions=spec.max_actions or DEFAULT_MAX_ACTIONS,
            step_timeout=float(spec.step_timeout or DEFAULT_STEP_TIMEOUT),
            screenshot_max_bytes=spec.screenshot_max_bytes or DEFAULT_SCREENSHOT_MAX,
            base_url=spec.base_url or "",
            model=spec.model or "",
            api_key_env=spec.api_key_env or "",
            permission_timeout=float(spec.permission_timeout or DEFAULT_PERMISSION_TIMEOUT),
            on_permission_timeout=spec.on_permission_timeout or "reject",
        )
    if spec.type == "acp":
        return Executor(
            name,
            label,
            "acp",
            False,
            timeout,
            argv=tuple(spec.command or ()),
            env=tuple(spec.env),
            idle_timeout=float(spec.idle_timeout or DEFAULT_IDLE_TIMEOUT),
            permission_timeout=float(spec.permission_timeout or DEFAULT_PERMISSION_TIMEOUT),
            on_permission_timeout=spec.on_permission_timeout or "reject",
            terminal=spec.terminal is not False,
        )
    if spec.type == "codex":
        return _codex(name, label, timeout, spec)
    template = spec.template or "generic"
    if template == "generic":
        argv = tuple(spec.command or ())
        stdin_prompt = spec.stdin == "prompt"
        output = spec.output if spec.output in OUTPUT_FORMATS else ""
    else:
        builtin = BUILTINS[template]
        program = which(builtin.argv[0]) or builtin.argv[0]
        argv = (program, *builtin.argv[1:])
        stdin_prompt = builtin.stdin_prompt
        output = builtin.output
    env = tuple(dict.fromkeys((*TEMPLATE_ENV.get(template, ()), *spec.env)))  # the template's, then its own
    needs_file = bool(spec.needs_file)
    built = "" if template == "generic" else template
    return Executor(name, label, "command", needs_file, timeout, argv, stdin_prompt, env, built, output)


CODEX_ENV = TEMPLATE_ENV["codex"]  # its keys, base URL and the folder of its config and threads
CODEX_COMMAND = ("codex", "app-server")


def _codex(name: str, label: str, timeout: float, spec: ExecutorConfig) -> Executor:
    return Executor(
        name,
        label,
        "codex",
        False,
        timeout,
        argv=tuple(spec.command or CODEX_COMMAND),
        env=tuple(dict.fromkeys((*CODEX_ENV, *spec.env))),
        model=spec.model or "",
        idle_timeout=float(spec.idle_timeout or DEFAULT_IDLE_TIMEOUT),
        permission_timeout=float(spec.permission_timeout or DEFAULT_PERMISSION_TIMEOUT),
        on_permission_timeout=spec.on_permission_timeout or "reject",
        approval_policy=spec.approval_policy or "untrusted",
        sandbox=spec.sandbox or "workspace-write",
        effort=spec.effort or "",
    )


def offered(cfg: Config, which: Callable[[str], str | None] = shutil.which) -> dict[str, Executor]:
    """The executors this host offers, by name (sorted): the config's, then the built-ins found on PATH."""
    executors = {name: _from_config(name, spec, cfg.tasks, which) for name, spec in cfg.executors.items()}
    if cfg.tasks.builtins:
        for name, builtin in BUILTINS.items():
            program = which(builtin.argv[0])
            if name in executors or program is None or len(executors) >= MAX_EXECUTORS:
                continue
            spec = ExecutorConfig(template=name, label=builtin.label)
            executors[name] = _from_config(name, spec, cfg.tasks, which)
    return dict(sorted(executors.items()))


def build_argv(executor: Executor, prompt: str, target: str) -> list[str]:
    """The argv for one task. Raises TaskError when the template needs a file and there is none."""
    if executor.needs_file and not target:
        raise TaskError(f"executor {executor.name!r} needs a target file")
    file = f"./{target}" if target else ""
    argv = []
    for element in executor.argv:
        if element == "{file}" and not target:
            continue
        if "{file}" in element and not target:
            raise TaskError(f"executor {executor.name!r} needs a target file")
        # Split on {prompt} first: a prompt holding "{file}" must stay as written.
        parts = [part.replace("{file}", file) for part in element.split("{prompt}")]
        argv.append(prompt.join(parts))
    return argv


def stdin_text(executor: Executor, prompt: str, target: str) -> bytes | None:
    if not executor.stdin_prompt:
        return None
    text = f"{prompt}\n\nTarget file: ./{target}" if target else prompt
    return text.encode("utf-8")


def child_env(executor: Executor, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlist: never the host token, the config path or any CODEXHUB_* variable."""
    environ = os.environ if environ is None else environ
    names = dict.fromkeys((*BASE_ENV, *executor.env))
    return {
        name: environ[name] for name in names if name in environ and not name.upper().startswith("CODEXHUB_")
    }


@dataclass
class RunResult:
    outcome: str  # "succeeded", "failed" or "cancelled"
    exit_code: int | None = None
    error: str | None = None


def describe_exit(returncode: int) -> RunResult:
    if returncode == 0:
        return RunResult("succeeded", 0)
    if returncode < 0:
        return RunResult("failed", None, f"killed by signal {-returncode}")
    return RunResult("failed", returncode, f"exit code {returncode}")


def seconds(value: float) -> str:
    return f"{value:g}"


class SpawnError(Exception):
    """A command that could not start; its text says why (`cannot run <argv[0]>: <reason>`)."""


async def spawn(
    argv: list[str], *, cwd: str, env: dict[str, str], stdin: int, stderr: int
) -> asyncio.subprocess.Process:
    """Start argv (never a shell) with stdout piped, leading a new session: kill_group
    then reaches everything it starts. Raises SpawnError."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpawnError(f"cannot run {argv[0]}: {reason}") from None


def kill_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    """Signal the child's whole process group (it leads it: a new session).

    Also after the child was reaped: its id stays the group's id while any member lives, and the
    kernel hands out ids in sequence, so the group is not someone else's milliseconds later.
    """
    # The group may be empty already; another user's group would refuse with EPERM.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, sig)
        elif proc.returncode is None:  # Windows: no process groups, only the child
            proc.kill()


async def exited_code(proc: asyncio.subprocess.Process) -> int:
    # Not proc.wait(): since 3.11.7/3.12 it also waits for the pipes to close, which a
    # background child still holding stdout would delay forever.
    while proc.returncode is None:
        await asyncio.sleep(POLL)
    return proc.returncode


async def first_of(
    work: asyncio.Future[Any], stops: Mapping[str, asyncio.Future[Any]], timeout: float | None
) -> str:
    """Wait for `work` or one of `stops` (a session's: "cancelled", "exited", "ended", ...): "done",
    the first stop's name, or "timeout". "cancelled" (task.cancel) wins over everything."""
    await asyncio.wait([work, *stops.values()], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if "cancelled" in stops and stops["cancelled"].done():
        return "cancelled"
    if work.done():
        return "done"
    return next((name for name, stop in stops.items() if stop.done()), "timeout")


async def how_it_died(exited: asyncio.Future[int], who: str, when: str, grace: float) -> RunResult:
    """How a session's agent process ended `when` ("during a turn"): its exit code, a signal, or
    (still running `grace` seconds after closing its output) a broken protocol."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(exited), grace)
    if not exited.done():
        return RunResult("failed", error=f"{who} broke the protocol: it closed its output {when}")
    code = exited.result()
    if code < 0:
        return RunResult("failed", error=f"{who} was killed by signal {-code} {when}")
    return RunResult("failed", code, f"{who} exited with code {code} {when}")


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the child did not read it all: its business
    finally:
        stdin.close()  # `codex exec -` waits for EOF


StdoutReader = Callable[[asyncio.StreamReader], Awaitable[None]]


async def run_command(
    executor: Executor,
    root: str,
    prompt: str,
    target: str,
    log: TaskLog,
    cancel: asyncio.Event,
    stdout: StdoutReader | None = None,
) -> RunResult:
    """Run the command; its output is the task log, or with `stdout` (a structured format's
    reader) only its stderr is."""
    try:
        argv = build_argv(executor, prompt, target)
    except TaskError as exc:
        return RunResult("failed", error=str(exc))
    data = stdin_text(executor, prompt, target)
    stdin = asyncio.subprocess.PIPE if data is not None else asyncio.subprocess.DEVNULL
    env = child_env(executor)
    stderr = asyncio.subprocess.STDOUT if stdout is None else asyncio.subprocess.PIPE
    try:
        proc = await spawn(argv, cwd=root, env=env, stdin=stdin, stderr=stderr)
    except SpawnError as exc:
        return RunResult("failed", error=str(exc))
    assert proc.stdout is not None
    reader = asyncio.create_task(_read_output(proc, log, stdout))
    exited, cancelled = asyncio.create_task(exited_code(proc)), asyncio.create_task(cancel.wait())
    helpers: list[asyncio.Task[Any]] = [exited, cancelled]
    if data is not None:
        assert proc.stdin is not None
        helpers.append(asyncio.create_task(_feed(proc.stdin, data)))
    try:
        await asyncio.wait([exited, cancelled], timeout=executor.timeout, return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            result = describe_exit(exited.result())
        else:
            if cancelled.done():
                result = RunResult("cancelled")
            else:
                result = RunResult("failed", error=f"timed out after {seconds(executor.timeout)} s")
            kill_group(proc, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), TERM_GRACE)
    finally:
        kill_group(proc, SIGKILL)
        for helper in helpers:
            helper.cancel()
        await drain(proc, reader)
        await log.flush(final=True)
    return result


async def _read_output(proc: asyncio.subprocess.Process, log: TaskLog, stdout: StdoutReader | None) -> None:
    assert proc.stdout is not None
    if stdout is None:
        await pump(proc.stdout, log)
        return
    assert proc.stderr is not None
    await asyncio.gather(stdout(proc.stdout), pump(proc.stderr, log))


async def drain(proc: asyncio.subprocess.Process, reader: asyncio.Task[None]) -> None:
    """Let the reader reach EOF; a process outside the group holding the pipe must not hang us."""
    try:
        await asyncio.wait_for(asyncio.shield(reader), DRAIN_TIMEOUT)
    except TimeoutError:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        transport = getattr(proc, "_transport", None)  # no public way to drop the pipes
        if transport is not None:
            transport.close()
    except asyncio.CancelledError:
        reader.cancel()
        raise
