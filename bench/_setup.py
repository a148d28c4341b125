"""Shared set-up for benchmarks: Django on a throwaway SQLite database."""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_on_temp_db() -> None:
    sys.path.insert(0, str(ROOT))
    data = tempfile.mkdtemp(prefix="codexhub-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codexhub.settings")
    os.environ["CODEXHUB_DATA_DIR"] = data
    # SQLite by default; BENCH_DATABASE_URL names a Postgres database to use
    # (its tables are created; use a database of its own, not your data).
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def team_with_signed_in_owner():
    """A team and the session cookie of its owner, for a phone's socket."""
    from django.test import Client

    from accounts.models import Membership, Role, Team
    from tests.kits.common import login, make_user

    team = Team.objects.create(name="Bench")
    user = make_user("bench@example.com")  # with a TOTP device: every page asks for the second factor
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    client = login(Client(), user)
    return team, f"sessionid={client.cookies['sessionid'].value}"


def timed(fn, runs: int) -> list[float]:
    """Wall time of each call in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered):8.2f} ms   p95 {p95:8.2f} ms   (n={len(ordered)})"


def pctl(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


ECHO_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass  # the client left with an echo on its way
async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1])):
        print("ready", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def hub_healthy(port: int) -> bool:
    """Whether a daphne on this loopback port answers /healthz."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
