"""The codexhub-agent wheel (agent/pyproject.toml): what `make agent` builds holds the agent's two
packages and nothing else, says the agent's version, and asks for every library the agent imports
at the versions requirements.txt pins."""

import ast
import importlib.metadata
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from hostagent import __version__
from tests.kits.agent_wheel import WHEEL_NAME, build_wheel
from tests.kits.processes import ROOT

PACKAGES = ("hostagent", "protocol")
DIST_INFO = f"codexhub_agent-{__version__}.dist-info"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


def names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        return Parser().parsestr(archive.read(f"{DIST_INFO}/METADATA").decode())


def source_files() -> set[str]:
    """The .py files of hostagent/ and protocol/ in this checkout."""
    return {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*])?==([^\s#]+)", line)
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_it_is_named_for_the_agents_version(wheel):
    assert wheel.name == WHEEL_NAME
    assert metadata(wheel)["Name"] == "codexhub-agent"
    assert metadata(wheel)["Version"] == __version__


def test_it_holds_the_two_packages_and_nothing_else(wheel):
    contents = names(wheel)
    packaged = {name for name in contents if not name.startswith(f"{DIST_INFO}/")}
    assert packaged == source_files()
    assert not [name for name in contents if "__pycache__" in name or name.endswith((".pyc", ".pyo"))]
    assert not [name for name in contents if name.startswith(("tests/", "agent/", "devices/", "codexhub/"))]


def test_its_console_script_is_the_agents_main(wheel):
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert "[console_scripts]\ncodexhub-agent = hostagent.__main__:main\n" in entry_points


def test_its_dependencies_are_pinned_as_requirements_txt_pins_them(wheel):
    pins = pinned_requirements()
    required = metadata(wheel).get_all("Requires-Dist")
    assert required
    for requirement in required:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+?)(?:; extra == '(\w+)')?", requirement)
        assert match, requirement
        assert pins.get(canonical(match.group(1))) == match.group(2), requirement
    assert "playwright==1.65.2; extra == 'browser'" in required
    assert "mss==10.2.0; extra == 'computer'" in required
    assert "pillow==13.0.0; extra == 'computer'" in required
    assert "pynput==1.8.2; extra == 'computer'" in required
    assert metadata(wheel).get_all("Provides-Extra") == ["browser", "computer"]


def third_party_imports(source: str) -> set[str]:
    """The top-level modules a file imports, outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(source)
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            typing_only.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in PACKAGES}


def requires(distribution: str) -> list[str]:
    return [r for r in importlib.metadata.requires(distribution) or [] if "extra ==" not in r]


# AppKit is pyobjc-framework-Cocoa's, which pyobjc-framework-ApplicationServices needs.
MACOS_ONLY = {"Quartz", "AppKit", "ApplicationServices"}


def test_every_library_the_agent_imports_is_one_it_asks_for(wheel):
    with zipfile.ZipFile(wheel) as archive:
        modules = set()
        for name in archive.namelist():
            if name.endswith(".py"):
                modules |= third_party_imports(archive.read(name).decode())
    declared = {canonical(r.split("==")[0]) for r in metadata(wheel).get_all("Requires-Dist")}
    # What a declared library itself pins exactly comes with it (pydantic brings pydantic-core).
    declared |= {canonical(re.split(r"[ ;<>=!~\[]", r)[0]) for d in set(declared) for r in requires(d)}
    distributions = importlib.metadata.packages_distributions()
    # macOS's frameworks (hostagent/tasks/desktop_mac.py) come with pynput there, not here.
    darwin = [r for r in requires("pynput") if "sys_platform == \"darwin\"" in r]
    assert {canonical(re.split(r"[ ;<>=]", r)[0]) for r in darwin} >= {
        "pyobjc-framework-quartz",
        "pyobjc-framework-applicationservices",
    }
    modules -= MACOS_ONLY
    for module in sorted(modules):
        owners = {canonical(d) for d in distributions.get(module, [])}
        where = owners or "not installed"
        assert owners & declared, f"the agent imports {module} ({where}): add it to agent/pyproject.toml"


def test_building_leaves_nothing_in_the_checkout(tmp_path):
    before = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--", "agent"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    build_wheel(tmp_path)
    after = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--", "agent"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert after == before
