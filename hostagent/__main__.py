"""The command line: pair, run, status, unpair. `main(argv)` returns the exit code.

Exit codes: 0 done, 1 failed (pairing denied, expired, not trusted...), 2 not
paired or bad usage, 3 this host was revoked, 4 another agent took over.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from hostagent import __version__, api, config
from hostagent.text import clean

REPLACED = "hostagent: another agent connected with this host's token; this one stops."
NOT_PAIRED = "hostagent: not paired. Run: python -m hostagent pair --hub URL --name NAME"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hostagent",
        description="codexhub host agent: pairs this machine with a hub and runs its tasks.",
    )
    parser.add_argument("--version", action="version", version=f"hostagent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    pair = sub.add_parser("pair", help="pair this machine with a hub")
    pair.add_argument("--hub", required=True, help="the hub's URL, e.g. https://hub.example.com")
    pair.add_argument("--name", required=True, help="this machine's name on the hub")
    pair.add_argument("--yes", action="store_true", help="trust the approving account without asking")
    sub.add_parser("run", help="connect to the hub and serve it until stopped")
    sub.add_parser("status", help="show the pairing and the number of unsent messages")
    sub.add_parser("unpair", help="revoke this host on the hub and forget its token")
    for command in sub.choices.values():
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
        print(NOT_PAIRED, file=sys.stderr)
        return None
    return loaded


def cmd_pair(args: argparse.Namespace, path: Path) -> int:
    from hostagent.pairing import pair

    hint = f' --config "{path}"' if args.config else ""
    return pair(args.hub, args.name, path, yes=args.yes, config_hint=hint)


async def _serve(link: object) -> None:
    from hostagent.link import HostLink

    assert isinstance(link, HostLink)
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, link.request_close)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # Windows event loops
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(link.request_close))
    try:
        await link.run()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def cmd_run(args: argparse.Namespace, path: Path) -> int:
    from hostagent.link import HostLink, HostRevoked, LinkReplaced, backoff_from_env
    from hostagent.outbox import Outbox
    from hostagent.pairing import platform_string

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
    with Outbox(config.outbox_path(path)) as outbox:
        link = HostLink(
            hub, cfg.token, outbox, platform=platform_string(), backoff_base=base, backoff_cap=cap
        )
        try:
            asyncio.run(_serve(link))
        except HostRevoked:
            print(
                "hostagent: this host was revoked or its token is no longer valid. "
                f'Pair it again: python -m hostagent pair --hub {hub} --name "{clean(cfg.name)}"',
                file=sys.stderr,
            )
            return 3
        except LinkReplaced:
            print(REPLACED, file=sys.stderr)
            return 4
    return 0


def cmd_status(args: argparse.Namespace, path: Path) -> int:
    from hostagent.outbox import count_pending

    try:
        cfg = config.load(path)
    except config.ConfigError as exc:
        print(f"hostagent: {exc}", file=sys.stderr)
        return 2
    print(f"Config: {path}")
    if cfg is None:
        print("Paired: no")
        return 2
    print(f"Hub: {clean(cfg.hub)}")
    print(f"Host id: {cfg.host_id if cfg.host_id is not None else '-'}")
    print(f"Name: {clean(cfg.name)}")
    print(f"Paired: {'yes' if cfg.paired else 'no'}")
    print(f"Unsent messages: {count_pending(config.outbox_path(path))}")
    return 0 if cfg.paired else 2


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
    config.save(path, cfg)
    config.remove_outbox(path)
    print(f"Forgot this host's token (config: {path}).")
    return code


COMMANDS = {"pair": cmd_pair, "run": cmd_run, "status": cmd_status, "unpair": cmd_unpair}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = config.config_path(args.config)
    return COMMANDS[args.command](args, path)


if __name__ == "__main__":
    sys.exit(main())
