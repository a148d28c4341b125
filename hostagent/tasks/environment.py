"""What an executor's child gets from the agent's environment, and what it lacks.

Children get an allowlist (SECURITY.md 1.8): the base variables, those the
built-in template's agent documents (below), and the executor's own `env`.
A built-in agent also needs a way to reach its model: one of its key or
config variables, or the sign-in or config file it keeps under HOME by
default. When none is there the agent falls back to defaults and fails or
hangs, so the agent says so at start, in `python -m hostagent executors` and
to the hub (`hello`'s `env_missing`: names only, never values).

Codex on Linux sandboxes commands with bubblewrap: a `bwrap` on PATH, else
(since 0.171) the copy shipped in its npm package's `codex-resources`, with a
warning at each start. Without either its sandbox cannot run a command.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hostagent import invocation
from protocol import limits

if TYPE_CHECKING:
    from hostagent.tasks.executors import Executor

BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")


@dataclass(frozen=True)
class Needs:
    """One of `variables` set, or one of `home_files` (relative to HOME) present, is enough."""

    variables: tuple[str, ...]
    home_files: tuple[str, ...]
    sign_in: str  # what else the user can do, in words


# The variables each built-in template passes, as its agent documents them.
TEMPLATE_ENV: dict[str, tuple[str, ...]] = {
    # developers.openai.com/codex/environment-variables; OPENAI_API_KEY and OPENAI_BASE_URL
    # are read by its built-in OpenAI provider.
    "codex": ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME", "OPENAI_BASE_URL"),
    # code.claude.com/docs/en/env-vars
    "claude": (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_MODEL",
        "CLAUDE_CONFIG_DIR",
    ),
    # aider.chat/docs/config/api-keys.html and dotenv.html
    "aider": (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "OPENROUTER_API_KEY",
        "DEEPSEEK_API_KEY",
        "OPENAI_API_BASE",
        "AIDER_MODEL",
    ),
}

NEEDS: dict[str, Needs] = {
    "codex": Needs(
        ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME"),
        (".codex/auth.json", ".codex/config.toml"),
        "or sign in on this machine with `codex login`",
    ),
    "claude": Needs(
        ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR"),
        (".claude/.credentials.json", ".claude.json"),
        "or sign in on this machine by running `claude` once",
    ),
    "aider": Needs(
        ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY"),
        (".env", ".aider.conf.yml"),
        "or put the key in ~/.env or the project's .env",
    ),
}

BWRAP_BUNDLED = (
    "bubblewrap (bwrap) is not on PATH: Codex sandboxes commands with the copy bundled in its "
    "package and warns at each start; install bubblewrap with the OS package manager "
    "(e.g. sudo apt install bubblewrap) to use the system's"
)
BWRAP_NONE = (
    "bubblewrap (bwrap) is not on PATH and this Codex ships no bundled copy: its sandbox cannot run "
    "commands; install bubblewrap with the OS package manager (e.g. sudo apt install bubblewrap)"
)


@dataclass(frozen=True)
class EnvReport:
    passed: tuple[str, ...]  # the executor's own variables that are set (not empty; base ones not counted)
    unset: tuple[str, ...]  # the executor's own variables that are not set, or empty
    missing: tuple[str, ...]  # one of these is needed and none is set (nor a sign-in file)
    sign_in: str  # what else would do, when `missing`
    notes: tuple[str, ...]  # other things the user should fix (bubblewrap)


def profile(executor: Executor) -> str:
    """The built-in agent whose variables and needs apply: the template's, or Codex's for kind codex."""
    return executor.template or ("codex" if executor.kind == "codex" else "")


def allowed(executor: Executor) -> tuple[str, ...]:
    """Every variable name the child may get, in order, without repeats."""
    return tuple(dict.fromkeys((*BASE_ENV, *executor.env)))


def is_passed(name: str) -> bool:
    return not name.upper().startswith("CODEXHUB_")


def report(
    executor: Executor,
    environ: Mapping[str, str] | None = None,
    *,
    platform: str = sys.platform,
    which: Callable[[str], str | None] = shutil.which,
) -> EnvReport:
    environ = os.environ if environ is None else environ
    own = [name for name in dict.fromkeys(executor.env) if name not in BASE_ENV and is_passed(name)]
    needs = NEEDS.get(profile(executor))
    missing: tuple[str, ...] = ()
    if needs is not None and not _satisfied(needs, environ):
        missing = needs.variables
    notes = []
    bwrap = sandbox_note(executor, platform=platform, which=which)
    if bwrap:
        notes.append(bwrap)
    return EnvReport(
        passed=tuple(name for name in own if environ.get(name)),
        unset=tuple(name for name in own if not environ.get(name)),  # an empty value is as good as none
        missing=missing,
        sign_in=needs.sign_in if needs is not None and missing else "",
        notes=tuple(notes),
    )


def hello_fields(env: EnvReport) -> dict[str, list[str]]:
    """`env` and `env_missing` as `hello` carries them: only names the hub takes, as many as it keeps."""
    return {
        key: [name for name in names if limits.ENV_NAME.fullmatch(name)][: limits.MAX_EXECUTOR_ENV]
        for key, names in (("env", env.passed), ("env_missing", env.missing))
    }


def _satisfied(needs: Needs, environ: Mapping[str, str]) -> bool:
    if any(environ.get(name) for name in needs.variables):
        return True
    home = environ.get("HOME") or ""
    return bool(home) and any(os.path.isfile(os.path.join(home, path)) for path in needs.home_files)


def sandbox_note(
    executor: Executor, *, platform: str = sys.platform, which: Callable[[str], str | None] = shutil.which
) -> str:
    """Why Codex's sandbox lacks bubblewrap on this Linux host, or ""."""
    if profile(executor) != "codex" or not platform.startswith("linux") or which("bwrap"):
        return ""
    program = executor.argv[0] if executor.argv else ""
    program = program if os.path.isabs(program) else which(program) or ""
    return BWRAP_BUNDLED if program and bundled_bwrap(program) else BWRAP_NONE


def bundled_bwrap(program: str) -> str:
    """The bwrap shipped with the Codex at `program`, or "": beside the native binary
    (vendor/<target>/codex-resources), or in the platform package the npm launcher
    (@openai/codex/bin/codex.js) resolves, nested in it or beside it."""
    package = os.path.dirname(os.path.dirname(os.path.realpath(program)))
    scope = os.path.dirname(package)
    candidates = [
        (package, "codex-resources/bwrap"),
        (package, "vendor/*/codex-resources/bwrap"),
        (package, "node_modules/@openai/codex-*/vendor/*/codex-resources/bwrap"),
        (scope, "codex-*/vendor/*/codex-resources/bwrap"),
    ]
    for folder, pattern in candidates:
        for found in sorted(glob.glob(os.path.join(glob.escape(folder), pattern))):
            if os.path.isfile(found) and os.access(found, os.X_OK):
                return found
    return ""


def either(names: tuple[str, ...] | list[str], word: str = "or") -> str:
    """ "A, B or C"."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


def problems(executor: Executor, env: EnvReport) -> list[str]:
    """What the user must fix for `executor` to work, one sentence each (for the log and the listing)."""
    found = []
    if env.missing:
        needs = NEEDS[profile(executor)]
        files = either(["~/" + path for path in needs.home_files])
        found.append(
            f"needs one of {either(env.missing)}, and none is set (nor is there {files}): "
            f"set one in the environment that starts `{invocation.command()} run`, {env.sign_in}"
        )
    found.extend(env.notes)
    return found


def listing(executor: Executor, env: EnvReport) -> list[str]:
    """The lines `python -m hostagent executors` prints under an executor."""
    lines = []
    said = []
    if env.passed:
        said.append(f"passes {', '.join(env.passed)}")
    if env.unset:
        said.append(f"not set: {', '.join(env.unset)}")
    if said:
        lines.append("environment: " + "; ".join(said))
    lines.extend(f"problem: {problem}" for problem in problems(executor, env))
    return lines
