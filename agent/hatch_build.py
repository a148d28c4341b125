"""Puts the agent's packages, which live beside this folder, into its wheel: their .py files
only (no tests, caches or stray files)."""

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGES = ("hostagent", "protocol")


class AgentPackages(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        repository = Path(self.root).parent
        for package in PACKAGES:
            for source in sorted((repository / package).rglob("*.py")):
                if "__pycache__" not in source.parts:
                    build_data["force_include"][str(source)] = source.relative_to(repository).as_posix()
