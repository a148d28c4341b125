"""notifications is the transport: it imports no feature app (the apps build
their own notices and import it, never the other way round)."""

import ast
from pathlib import Path

import notifications

FEATURE_APPS = {"tasks", "projects", "devices"}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_it_imports_no_feature_app():
    package = Path(notifications.__file__).parent
    found = {
        f"{path.relative_to(package.parent)}: {module}"
        for path in package.rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in FEATURE_APPS
    }
    assert found == set()
