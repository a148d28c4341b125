"""The command line: pair, run, status, unpair, project, executors, worktrees, service. `main(argv)` returns
the exit code.

Exit codes: 0 done, 1 failed (pairing denied, expired, not trusted...), 2 not
paired or bad usage, 3 this host was revoked, 4 another agent took over, 5 the
hub refuses this agent's protocol version (update the agent; restarting it
as it is cannot help).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hostagent import __version__, api, config, invocation
from hostagent.service import FINAL_EXITS
from hostagent.text import clean

if TYPE_CHECKING:
    from hostagent.git import Worktree

REPLACED = "hostagent: another agent connected with this host's token; this one stops."
NOT_PAIRED = "hostagent: not paired. Run: {command} pair --hub URL --name NAME"
PROJECT_HELP = (
    "Shared folders are mirrored to the hub (files, folders and symlinks; .gitignore'd files and .git "
    "are never sent). They are kept in the config file, which a running agent watches: an added folder "
    "is shared and a removed one stops being shared at once, without a restart."
)

SERVICE_HELP = (
    "A systemd user unit on Linux, a launchd agent on macOS, running `run` with this config. It "
    "restarts after a failure, not after a revocation, another agent taking over, a refused "
    "protocol version or a missing pairing."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=invocation.command(),
        description="codexhub host agent: pairs this machine with a hub and runs its tasks.",
    )
    parser.add_argument("--version", action="version", version=f"codexhub-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    pair = sub.add_parser("pair", help="pair this machine with a hub")
    pair.add_argument("--hub", required=True, help="the hub's URL, e.g. https://hub.example.com")
    pair.add_argument("--name", required=True, help="this machine's name on the hub")
    pair.add_argument("--yes", action="store_true", help="trust the approving account without asking")
    run = sub.add_parser("run", help="connect to the hub and serve it until stopped")
    run.add_argument(
        "--service",
        action="store_true",
        help="under a service manager that restarts any non-zero exit (launchd): exit 0 when "
        "stopping for good (not paired, revoked, replaced, protocol refused)",
    )
    sub.add_parser(
        "status",
        help="ask the hub whether this host is still paired; show the unsent messages",
        description="Exit codes: 0 paired and the hub agrees, 1 the hub could not be asked, "
        "2 not paired here, 3 revoked on the hub.",
    )
    sub.add_parser(
        "doctor",
        help="check the config, the hub (address, TLS, token, protocol) and each executor",
        description="One line per check: ok, or FIX and what to do. "
        "Exit code 0 when all are ok, 1 otherwise.",
    )
    sub.add_parser("unpair", help="revoke this host on the hub and forget its token")
    project = sub.add_parser(
        "project",
        help="share folders with the hub (add, list, remove)",
        description=PROJECT_HELP,
    )
    psub = project.add_subparsers(dest="project_command", required=True, metavar="ACTION")
    add = psub.add_parser("add", help="share a folder", description=PROJECT_HELP)
    add.add_argument("folder", metavar="PATH", help="the folder to share")
    add.add_argument("--name", help="its name on the hub (default: the folder's name)")
    psub.add_parser("list", help="show the shared folders")
    remove = psub.add_parser("remove", help="stop sharing a folder", description=PROJECT_HELP)
    remove.add_argument("name", metavar="NAME", help="the project's name")
    sub.add_parser(
        "executors",
        help="list the executors this host offers to the hub's tasks",
        description="Executors come from [executors.NAME] in the config file (type command, openai, "
        "browser, acp or codex), plus codex, claude and aider when they are on PATH "
        "(unless [tasks] builtins = false).",
    )
    sub.add_parser(
        "worktrees",
        help="list the task worktrees of the shared projects",
        description="Tasks that run on a branch of their own have a worktree beside the config file. "
        "Stale ones are marked: their folder is gone (git worktree prune forgets it) or this host's "
        "task ledger knows no such task.",
    )
    service = sub.add_parser(
        "service",
        help="keep the agent running as a service (install, uninstall, status)",
        description=SERVICE_HELP,
    )
    ssub = service.add_subparsers(dest="service_command", required=True, metavar="ACTION")
    ssub.add_parser("install", help="install and start the service", description=SERVICE_HELP)
    ssub.add_parser("uninstall", help="stop and remove the service")
    ssub.add_parser("status", help="say whether the service runs")
    nested = ("project", "service")
    commands = [c for name, c in sub.choices.items() if name not in nested]
    commands += [*psub.choices.values(), *ssub.choices.values()]
    for command in commands:
        command.add_argument("--config", metavar="PATH", help="config file (default: platform config dir)")
    return parser


def _load(path: Path) -> config.Config | None:
    """The config, or None after printing why it is unusable."""
    try:
        loaded = config.load(path)
    except config.ConfigError as exc:
        print(f"hostagent: {exc}", file=sys.stderr)
        return None
    if loaded is None or not loaded.paired:
        print(NOT_PAIRED.format(command=invocation.command()), file=sys.stderr)
        return None
    return loaded


def cmd_pair(args: argparse.Namespace, path: Path) -> int:
    from hostagent.pairing import pair

    hint = f' --config "{path}"' if args.config else ""
    return pair(args.hub, args.name, path, yes=args.yes, config_hint=hint)


async def _serve(
    link: object, mirror: object = None, tasks: object = None, git: object = None, live: object = None
) -> None:
    from hostagent.clis import cli_versions
    from hostagent.git.service import GitService
    from hostagent.link import HostLink
    from hostagent.liveconfig import LiveConfig
    from hostagent.mirror.sync import Mirror
    from hostagent.tasks.service import TaskService

    assert isinstance(link, HostLink)
    assert live is None or isinstance(live, LiveConfig)
    assert mirror is None or isinstance(mirror, Mirror)
    assert tasks is None or isinstance(tasks, TaskService)
    assert git is None or isinstance(git, GitService)
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, link.request_close)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # Windows event loops
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(link.request_close))
    try:
        link.clis = await cli_versions()  # before the first hello, which lists them
        if mirror is not None:
            await mirror.start()
        if tasks is not None:
            await tasks.learn_models()  # before the first hello, which lists them
        if live is not None:
            await live.start()  # edits of agent.toml apply from now on
        await link.run()
    finally:
        if live is not None:
            await live.stop()
        if tasks is not None:
            await tasks.stop()  # kills the running tasks' process groups
        if git is not None:
            await git.stop()
        if mirror is not None:
            await mirror.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)


def cmd_run(args: argparse.Namespace, path: Path) -> int:
    from hostagent.fileserve import FileServer
    from hostagent.git.service import GitService
    from hostagent.git.worktrees import worktrees_dir
    from hostagent.link import HostLink, HostRevoked, LinkReplaced, ProtocolRefused, backoff_from_env
    from hostagent.liveconfig import LiveConfig, log_problems
    from hostagent.manage import ManageService, reexec
    from hostagent.mirror.index import Index
    from hostagent.mirror.sync import Mirror
    from hostagent.outbox import Outbox
    from hostagent.pairing import platform_string
    from hostagent.tasks.executors import offered
    from hostagent.tasks.ledger import Ledger
    from hostagent.tasks.service import TaskService

    cfg = _load(path)
    if cfg is None:
        return 2
    try:
        hub = api.check_hub_url(cfg.hub)
    except api.InsecureHubUrl as exc:
        print(f"hostagent: {path}: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="hostagent: %(message)s", stream=sys.stderr)
    logging.getLogger("websockets").setLevel(logging.WARNING)  # its debug logs show headers
    base, cap = backoff_from_env()
    with (
        Outbox(config.outbox_path(path)) as outbox,
        Index(config.mirror_index_path(path)) as index,
        Ledger(config.ledger_path(path), owner=f"{hub} {cfg.host_id}") as ledger,
    ):
        link = HostLink(
            hub, cfg.token, outbox, platform=platform_string(), backoff_base=base, backoff_cap=cap
        )
        # Always attached: an empty project list tells the hub the last project was removed.
        # The config folder (token, outbox, index) is never mirrored, even inside a shared folder.
        mirror = Mirror(cfg.projects, index, exclude=[str(path.parent)])
        mirror.attach(link)
        executors = offered(cfg)
        log_problems(executors)
        tasks = TaskService(
            cfg.tasks,
            executors,
            cfg.projects,
            ledger,
            exclude=[str(path.parent)],
            hub=hub,
            token=cfg.token,
            worktrees=worktrees_dir(path),
        )
        tasks.attach(link)
        # The phone's decisions about a task's change: commit, merge, push, pull request, discard.
        git = GitService(cfg.projects, ledger, tasks=tasks)
        git.attach(link)
        # The images a README shows, sent when the hub asks (only what the mirror shares).
        files = FileServer(cfg.projects, exclude=[str(path.parent)], hub=hub, token=cfg.token)
        files.attach(link)
        # The phone adds and removes shared folders and restarts the agent, if agent.toml allows it.
        manage = ManageService(path, ledger, allowed=cfg.manage.allow)
        manage.attach(link)
        # Edits of agent.toml (projects, executors) apply while the agent runs.
        live = LiveConfig(
            path, cfg, link=link, mirror=mirror, tasks=tasks, git=git, files=files, manage=manage
        )
        manage.reload = live.reload  # what it writes in agent.toml applies before it answers
        try:
            asyncio.run(_serve(link, mirror, tasks, git, live))
        except HostRevoked:
            print(
                "hostagent: this host was revoked or its token is no longer valid. "
                f'Pair it again: {invocation.command()} pair --hub {hub} --name "{clean(cfg.name)}"',
                file=sys.stderr,
            )
            return 3
        except LinkReplaced:
            print(REPLACED, file=sys.stderr)
            return 4
        except ProtocolRefused as exc:
            print(f"hostagent: the hub refused this agent: {clean(str(exc))}", file=sys.stderr)
            return 5
    if manage.restart_requested:
        reexec()  # everything above is closed: the agent starts again in this process
    return 0


def cmd_status(args: argparse.Namespace, path: Path) -> int:
    from hostagent import doctor

    return doctor.status(path)


def cmd_doctor(args: argparse.Namespace, path: Path) -> int:
    from hostagent import doctor

    return doctor.doctor(path)


def cmd_unpair(args: argparse.Namespace, path: Path) -> int:
    cfg = _load(path)
    if cfg is None:
        return 2
    code = 0
    try:
        api.host_unpair(cfg.hub, cfg.token)
        print(f"The hub revoked host {cfg.host_id}.")
    except api.ApiError as exc:
        if exc.code == "invalid_token":
            print("The hub no longer accepted this host's token (already revoked).")
        else:
            print(f"The hub refused to unpair ({clean(exc)}); revoke host {cfg.host_id} on the hub's page.")
            code = 1
    except (api.HubUnreachable, api.InsecureHubUrl) as exc:
        print(f"Could not tell the hub ({clean(exc)}); revoke host {cfg.host_id} on the hub's page.")
        code = 1
    cfg.token = ""
    if not _save(path, cfg):
        return 1
    config.remove_outbox(path)
    config.remove_mirror_index(path)
    config.remove_ledger(path)
    print(f"Forgot this host's token (config: {path}).")
    return code


def _save(path: Path, cfg: config.Config) -> bool:
    """Write the config, or print why it cannot be written (a symlink at its path, a full disk...)."""
    try:
        config.save(path, cfg)
    except OSError as exc:
        print(f"hostagent: cannot write {path}: {exc}", file=sys.stderr)
        return False
    return True


def _load_or_new(path: Path) -> config.Config | None:
    try:
        return config.load(path) or config.Config()
    except config.ConfigError as exc:
        print(f"hostagent: {exc}", file=sys.stderr)
        return None


def cmd_project(args: argparse.Namespace, path: Path) -> int:
    cfg = _load_or_new(path)
    if cfg is None:
        return 2
    if args.project_command == "list":
        if not cfg.projects:
            print(f"No shared projects. Add one with: {invocation.command()} project add PATH")
        for name, folder in cfg.projects.items():
            print(f"{clean(name)}  {clean(folder)}")
        return 0
    if args.project_command == "remove":
        if args.name not in cfg.projects:
            print(f"hostagent: no project named {clean(args.name)!r}.", file=sys.stderr)
            return 2
        del cfg.projects[args.name]
        if not _save(path, cfg):
            return 1
        print(f"Removed project {clean(args.name)!r}. A running agent stops sharing it at once.")
        return 0
    folder = os.path.realpath(os.path.expanduser(args.folder))
    if not os.path.isdir(folder):
        print(f"hostagent: not a folder: {clean(args.folder)}", file=sys.stderr)
        return 2
    name = args.name if args.name is not None else os.path.basename(folder)
    error = config.project_name_error(name)
    if error is not None:
        hint = "" if args.name is not None else " (choose one with --name NAME)"
        print(f"hostagent: cannot name a project {clean(ascii(name))}: {error}{hint}.", file=sys.stderr)
        return 2
    if name in cfg.projects:
        print(f"hostagent: a project named {clean(name)!r} already exists.", file=sys.stderr)
        return 2
    if len(cfg.projects) >= config.MAX_PROJECTS:
        print(f"hostagent: at most {config.MAX_PROJECTS} projects can be shared.", file=sys.stderr)
        return 2
    cfg.projects[name] = folder
    if not _save(path, cfg):
        return 1
    print(f"Added project {clean(name)!r}: {clean(folder)}")
    print("A running agent shares it at once.")
    return 0


def cmd_executors(args: argparse.Namespace, path: Path) -> int:
    from hostagent.tasks import environment
    from hostagent.tasks.executors import offered

    cfg = _load_or_new(path)
    if cfg is None:
        return 2
    executors = offered(cfg)
    if not executors:
        print(f"No executors. Add [executors.NAME] to {path}, or install codex, claude or aider.")
    for name, executor in executors.items():
        needs = "  (needs a target file)" if executor.needs_file else ""
        if executor.kind == "browser":
            needs = f"  (sites: {clean(', '.join(executor.allowed_sites))})"
        if executor.kind == "acp":
            needs = f"  (sessions with: {clean(shlex.join(executor.argv))})"
        if executor.kind == "codex":
            needs = f"  (threads with: {clean(shlex.join(executor.argv))})"
        if executor.kind == "computer":
            from hostagent.tasks.computer import summary

            needs = f"  ({clean(summary(executor))})"
        print(f"{name}  {clean(executor.label)}  {executor.kind}{needs}")
        for line in environment.listing(executor, environment.report(executor)):
            print(f"  {line}")
    return 0


def cmd_worktrees(args: argparse.Namespace, path: Path) -> int:
    from hostagent import git as gitops
    from hostagent.tasks.ledger import known_tasks

    cfg = _load_or_new(path)
    if cfg is None:
        return 2
    known = known_tasks(config.ledger_path(path))
    found = 0
    for name, folder in cfg.projects.items():
        try:
            trees = gitops.worktrees(folder)
        except (gitops.Refused, gitops.GitError):
            continue  # not a git repository: no worktrees
        for tree in sorted(trees, key=lambda t: t.task_id):
            found += 1
            stale = _stale(tree, known)
            line = f"{clean(name)}  task {tree.task_id}  {clean(tree.branch)}  {clean(tree.path)}"
            print(line + (f"  (stale: {stale})" if stale else ""))
    if not found:
        print("No task worktrees.")
    return 0


def _stale(tree: Worktree, known: set[int]) -> str:
    if tree.prunable:
        return "its folder is gone; git worktree prune forgets it"
    if tree.task_id not in known:
        return "this host's ledger knows no such task"
    return ""


def cmd_service(args: argparse.Namespace, path: Path) -> int:
    from hostagent import service

    return service.command(args.service_command, path)


COMMANDS = {
    "pair": cmd_pair,
    "run": cmd_run,
    "status": cmd_status,
    "doctor": cmd_doctor,
    "unpair": cmd_unpair,
    "project": cmd_project,
    "executors": cmd_executors,
    "worktrees": cmd_worktrees,
    "service": cmd_service,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = config.config_path(args.config)
    code = COMMANDS[args.command](args, path)
    if args.command == "run" and args.service and code in FINAL_EXITS:
        return 0  # launchd restarts any other exit (hostagent/service.py)
    return code


if __name__ == "__main__":
    sys.exit(main())
