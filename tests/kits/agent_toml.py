"""Real hosts for task tests: an agent config that shares a project and offers
executors backed by the executables in tests/bin."""

from pathlib import Path

from hostagent.config import toml_string
from tests.kits.processes import ROOT, write_agent_config

BIN = ROOT / "tests" / "bin"
BULLETIZE = BIN / "bulletize"
ARGV_DUMP = BIN / "argv-dump"


def executor_toml(name: str, **keys) -> str:
    """`[executors.NAME]` with `keys` (strings, numbers, booleans, lists of strings)."""
    lines = [f"[executors.{name}]"]
    for key, value in keys.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(toml_string(str(v)) for v in value)}]")
        else:
            lines.append(f"{key} = {toml_string(str(value))}")
    return "\n".join(lines) + "\n"


BULLETS_TOML = executor_toml(
    "bullets",
    type="command",
    label="Bulletize",
    template="generic",
    command=[str(BULLETIZE), "--", "{file}"],
    stdin="prompt",
    needs_file=True,
    timeout=60,
)


def task_agent_config(
    path: Path, *, hub: str, host, token: str, projects: dict[str, Path], executors: str, tasks: str = ""
) -> Path:
    """agent.toml for a host made in the database, with projects and executors."""
    write_agent_config(path, hub=hub, host_id=host.id, name=host.name, token=token)
    text = path.read_text()
    text += "\n[projects]\n" + "".join(
        f"{toml_string(n)} = {toml_string(str(p))}\n" for n, p in projects.items()
    )
    text += "\n[tasks]\nbuiltins = false\n" + tasks + "\n" + executors
    path.write_text(text)
    return path
