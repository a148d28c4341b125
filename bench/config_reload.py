"""Live configuration: from saving agent.toml with one more project to the hub having that
project, when the running agent applies the edit itself, beside the same change applied by
restarting the agent (stop it, save, start it: a new process, a new link, a new welcome).
A real daphne and a real agent on loopback; the hub's database is polled every 5 ms.

    python bench/config_reload.py [ROUNDS]    (5)
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

from _setup import django_on_temp_db

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
django_on_temp_db()

from accounts.models import Team  # noqa: E402
from hostagent.config import toml_string  # noqa: E402
from projects.models import Project  # noqa: E402
from tests.kits.common import make_host  # noqa: E402
from tests.kits.processes import Agent, Hub, hub_env, wait_until, write_agent_config  # noqa: E402


def config_text(base: str, projects: dict[str, Path]) -> str:
    lines = "".join(f"{toml_string(name)} = {toml_string(str(root))}\n" for name, root in projects.items())
    return base + "\n[projects]\n" + lines + "\n[tasks]\nbuiltins = false\n"


def until_shared(host_id: int, name: str, since: float) -> float:
    wait_until(
        lambda: Project.objects.filter(host_id=host_id, name=name, removed_at__isnull=True).exists(),
        timeout=30,
        what=f"the hub to have project {name}",
        interval=0.005,
    )
    return time.perf_counter() - since


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="codexhub-bench-reload-"))
    team = Team.objects.create(name="Bench")
    host, token = make_host(team, "bench-box")
    hub = Hub(hub_env(), work)
    config = write_agent_config(
        work / "agent" / "agent.toml", hub=hub.url, host_id=host.id, name="box", token=token
    )
    base = config.read_text()
    projects: dict[str, Path] = {}

    def share(name: str) -> None:
        root = work / name
        root.mkdir()
        for i in range(20):
            (root / f"note-{i}.md").write_text(f"# Note {i}\n")
        projects[name] = root
        config.write_text(config_text(base, projects))

    share("first")
    agent = Agent(config, "run", log_dir=work)
    until_shared(host.id, "first", time.perf_counter())
    live, restart = [], []
    try:
        for i in range(ROUNDS):
            started = time.perf_counter()
            share(f"live-{i}")
            live.append(until_shared(host.id, f"live-{i}", started))
        for i in range(ROUNDS):
            started = time.perf_counter()
            share(f"restart-{i}")
            agent.stop()
            agent = Agent(config, "run", log_dir=work)
            restart.append(until_shared(host.id, f"restart-{i}", started))
    finally:
        agent.stop()
        hub.stop()
    live_ms, restart_ms = statistics.median(live) * 1000, statistics.median(restart) * 1000
    print(f"save -> hub has the new project, {ROUNDS} rounds each (median, max):")
    print(f"  live reload      {live_ms:7.0f} ms  {max(live) * 1000:7.0f} ms")
    print(f"  agent restarted  {restart_ms:7.0f} ms  {max(restart) * 1000:7.0f} ms")
    print(f"  ratio (restart / live): {restart_ms / live_ms:.1f}x")


if __name__ == "__main__":
    main()
