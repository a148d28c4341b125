"""The command the person started this agent with, so that every hint it prints ("Run: ... pair",
"Start the agent with: ... run") is one they can type: `codexhub-agent` when it runs through the
console script of the codexhub-agent wheel (pipx, uv, a service unit), `python -m hostagent` when
it runs from a checkout of the repository."""

import os
import sys

INSTALLED = "codexhub-agent"
FROM_CHECKOUT = "python -m hostagent"


def command() -> str:
    """INSTALLED or FROM_CHECKOUT, from sys.argv[0]: the console script's path, or hostagent's
    __main__.py under `python -m`. Anything else (a test calling main()) is taken as a checkout."""
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    # Windows launchers: codexhub-agent.exe, or codexhub-agent-script.py beside it.
    name = name.removesuffix(".exe").removesuffix("-script.py")
    return INSTALLED if name == INSTALLED else FROM_CHECKOUT
