"""The host message path without sockets: how many messages a second one
database thread applies, in batches of BATCH (group commit) and one by one,
for the load bench's mix (bench/load.py: mirror batches, task output, task
state changes). The ceiling of the database side of a hub process.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python bench/apply.py [MESSAGES] [BATCH]
"""

import os
import sys
import time
from pathlib import Path

from _setup import django_on_temp_db

MESSAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 50
HOSTS = 50
django_on_temp_db()

sys.path.insert(0, str(Path(__file__).parent))
from load import MIX, fleet, task_messages  # noqa: E402

from codexhub.events import collected_events  # noqa: E402
from devices.services import Incoming, host_messages_apply  # noqa: E402
from tests.kits.mirror_stream import file_change  # noqa: E402


def messages(hosts) -> list[Incoming]:
    """The mix, round-robin over the hosts, numbered per (host, stream)."""
    streams = {(host.id, name): 0 for host, _, _ in hosts for name in ("mirror", "tasks")}
    reports = {host.id: task_messages(ids) for host, _, ids in hosts}
    out = []
    for slot in range(MESSAGES):
        host = hosts[slot % len(hosts)][0]
        if MIX[(slot // len(hosts)) % len(MIX)] == "M":
            stream, kind = "mirror", "mirror.batch"
            payload = {"project": "load", "changes": [file_change(f"notes/{slot % 7}.md", f"edit {slot}\n")]}
        else:
            stream, (kind, payload) = "tasks", next(reports[host.id])
        streams[(host.id, stream)] += 1
        out.append(Incoming(host_id=host.id, stream=stream, seq=streams[(host.id, stream)], kind=kind,
                            payload=payload))  # fmt: skip
    return out


def rate(batch: int) -> float:
    hosts = fleet(HOSTS)
    todo = messages(hosts)
    host_messages_apply(messages=todo[:1])  # connect
    start = time.perf_counter()
    for offset in range(1, len(todo), batch):
        with collected_events():  # as the host link does: the events go out from its event loop
            results = host_messages_apply(messages=todo[offset : offset + batch])
        assert {r.outcome for r in results} == {"applied"}, results
    return (len(todo) - 1) / (time.perf_counter() - start)


def main() -> None:
    grouped, alone = rate(BATCH), rate(1)
    database = "Postgres" if os.environ.get("BENCH_DATABASE_URL") else "SQLite"
    print(f"{MESSAGES} messages of the load mix over {HOSTS} hosts, one thread ({database})")
    print(f"{'batches of ' + str(BATCH):24}{grouped:10.0f} messages/s")
    print(f"{'one by one':24}{alone:10.0f} messages/s")
    print(f"{'ratio':24}{grouped / alone:10.1f}")


if __name__ == "__main__":
    main()
