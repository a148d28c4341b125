"""The mirror, measured with a real daphne and a real agent on loopback:

1. change-to-phone latency over 200 edits (file written on the host -> the
   phone's socket told), beside a bare websocket relay in the same run;
2. the first sync of a generated tree of 10,000 files (~50 MB), beside just
   reading and hashing the same tree;
3. one change in a 10,000-file project against one in a 100-file project.

    python bench/mirror.py [EDITS] [FILES]
"""

import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, django_on_temp_db, pctl, team_with_signed_in_owner

EDITS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
FILES = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
os.environ.update(HOST_CONNECTS_PER_TOKEN="100000")
django_on_temp_db()

import websockets  # noqa: E402

from devices.models import HostStream  # noqa: E402
from projects.models import Entry, Project  # noqa: E402
from tests.kits.common import make_host  # noqa: E402
from tests.kits.processes import Agent, Hub, free_port, hub_env, wait_until, write_agent_config  # noqa: E402

RELAY = """
import asyncio, sys
from websockets.asyncio.server import serve
peers = set()
async def relay(ws):
    peers.add(ws)
    try:
        async for message in ws:
            for peer in list(peers):
                if peer is not ws:
                    await peer.send(message)
    finally:
        peers.discard(ws)
async def main():
    async with serve(relay, "127.0.0.1", int(sys.argv[1])):
        print("ready", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


def generate_tree(root: Path, count: int) -> int:
    """Mixed sizes, ~5 KiB on average: mostly text, some larger, a few binaries."""
    rng = random.Random(7)
    total = 0
    for n in range(count):
        folder = root / f"pkg{n % 50:02d}" / f"mod{n % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        roll = rng.random()
        if roll < 0.01:
            data = rng.randbytes(rng.randint(100_000, 300_000))
            name = f"blob{n}.bin"
        elif roll < 0.10:
            data = (f"line of text {n}\n" * rng.randint(600, 1200)).encode()
            name = f"doc{n}.md"
        else:
            data = (f"def f{n}():\n    return {n}\n" * rng.randint(20, 120)).encode()
            name = f"file{n}.py"
        (folder / name).write_bytes(data)
        total += len(data)
    return total


def read_and_hash(root: Path) -> float:
    begin = time.perf_counter()
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            hashlib.sha256(Path(dirpath, name).read_bytes()).hexdigest()
    return time.perf_counter() - begin


class Phone:
    """A signed-in /ws/ui/ socket subscribed to projects."""

    def __init__(self, url: str, cookie: str):
        self.url, self.cookie = url, cookie

    async def __aenter__(self):
        port = self.url.rsplit(":", 1)[1]
        self.ws = await websockets.connect(
            self.url.replace("http", "ws") + "/ws/ui/",
            additional_headers={"Cookie": self.cookie},
            origin=f"http://127.0.0.1:{port}",
        )
        await self.ws.recv()
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def subscribe(self, project_id: int):
        await self.ws.send(json.dumps({"type": "subscribe", "project": project_id}))
        while json.loads(await self.ws.recv()).get("type") != "subscribed":
            pass

    async def told(self, project_id: int, path: str, timeout: float = 10):
        async def wait():
            while True:
                message = json.loads(await self.ws.recv())
                if message.get("type") == "mirror.changed" and message["project"] == project_id:
                    if any(change["path"] == path for change in message["changes"]):
                        return

        await asyncio.wait_for(wait(), timeout)


async def edit_latencies(phone: Phone, project_id: int, file: Path, rel: str, count: int) -> list[float]:
    latencies = []
    for n in range(count):
        begin = time.perf_counter()
        waiting = asyncio.create_task(phone.told(project_id, rel))
        await asyncio.sleep(0)
        file.write_text(f"# Edit {n}\n\n{'text ' * 40}\n")
        await waiting
        latencies.append((time.perf_counter() - begin) * 1000)
    return latencies


async def relay_latencies(port: int, count: int) -> list[float]:
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as sender:
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as receiver:
            await asyncio.sleep(0.1)  # both registered with the relay
            latencies = []
            for n in range(count):
                begin = time.perf_counter()
                await sender.send(json.dumps({"path": "README.md", "n": n, "text": "text " * 40}))
                await receiver.recv()
                latencies.append((time.perf_counter() - begin) * 1000)
            return latencies


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="codexhub-mirror-bench-"))
    logs = work / "logs"
    logs.mkdir()
    small, big = work / "small", work / "big"
    small.mkdir()
    generate_tree(small, 100)
    (small / "README.md").write_text("# Start\n")
    tree_bytes = generate_tree(big, FILES)
    (big / "README.md").write_text("# Start\n")
    hash_seconds = read_and_hash(big)

    team, cookie = team_with_signed_in_owner()
    host, token = make_host(team, "bench-host")
    hub = Hub(hub_env(), logs)
    config = write_agent_config(
        work / "agent" / "agent.toml", hub=hub.url, host_id=host.id, name="bench", token=token
    )
    for name, folder in (("small", small), ("big", big)):
        added = Agent(config, "project", "add", str(folder), "--name", name, log_dir=logs)
        assert added.exit_code(timeout=30) == 0, added.output()
        added.stop()

    relay_port = free_port()
    relay = subprocess.Popen([sys.executable, "-c", RELAY, str(relay_port)], stdout=subprocess.PIPE, cwd=ROOT)
    assert relay.stdout.readline().strip() == b"ready"
    agent = None
    try:
        begin = time.perf_counter()
        agent = Agent(config, "run", log_dir=logs)
        expected = FILES + 1 + 100 + 1
        wait_until(
            lambda: Entry.objects.filter(kind="file").count() >= expected,
            timeout=600,
            interval=0.05,  # at 0.2 s the poll alone added 0.1 s on average to a 1 s sync
            what="the first sync",
        )
        sync_seconds = time.perf_counter() - begin
        big_id = Project.objects.get(name="big").id
        small_id = Project.objects.get(name="small").id

        async def measure():
            async with Phone(hub.url, cookie) as phone:
                await phone.subscribe(big_id)
                await phone.subscribe(small_id)
                edits = await edit_latencies(phone, small_id, small / "README.md", "README.md", EDITS)
                in_big = await edit_latencies(phone, big_id, big / "README.md", "README.md", 50)
                in_small = await edit_latencies(phone, small_id, small / "README.md", "README.md", 50)
            relay_ms = await relay_latencies(relay_port, EDITS)
            return edits, relay_ms, in_big, in_small

        edits, relay_ms, in_big, in_small = asyncio.run(measure())
        stream = HostStream.objects.get(host=host, name="mirror")
        final = Entry.objects.get(project_id=small_id, path="README.md").text
    finally:
        if agent:
            agent.stop()
        hub.stop()
        relay.terminate()
        relay.wait(10)

    print(f"1. change -> phone, {EDITS} edits of one file, one at a time")
    print(f"   {'':22}{'hub + agent':>14}{'bare relay':>14}{'ratio':>8}")
    for label, q in (("p50 (ms)", 0.5), ("p95 (ms)", 0.95)):
        hub_value, relay_value = pctl(edits, q), pctl(relay_ms, q)
        print(f"   {label:22}{hub_value:>14.1f}{relay_value:>14.2f}{hub_value / relay_value:>8.1f}")
    last_edit_kept = final.startswith("# Edit 49")
    print(f"   all {EDITS} edits told to the phone; final text is the last edit: {last_edit_kept}")
    print(f"   mirror stream: last seq applied {stream.last_seq} (each applied once, in order)")
    print(f"2. first sync of {FILES + 102} files, {tree_bytes / 1e6:.1f} MB")
    print(
        f"   sync to the hub {sync_seconds:.2f} s; read and hash the tree {hash_seconds:.2f} s; "
        f"ratio {sync_seconds / hash_seconds:.1f}"
    )
    print("3. one change, p50 / p95 (ms)")
    print(f"   in a {FILES + 1}-file project   {pctl(in_big, 0.5):.1f} / {pctl(in_big, 0.95):.1f}")
    print(f"   in a 101-file project     {pctl(in_small, 0.5):.1f} / {pctl(in_small, 0.95):.1f}")
    print(f"   ratio big/small p50       {pctl(in_big, 0.5) / pctl(in_small, 0.5):.2f}")


if __name__ == "__main__":
    main()
