"""The host protocol's messages as typed models, with their limits
(docs/protocol.md). Pure Python and pydantic: the hub and the agent import it
alike, and it imports nothing of either.

- `protocol.limits`: every number; `protocol.paths`: the mirror-path checker.
  Neither imports pydantic, so the agent can check paths and sizes without
  paying for it at start.
- `protocol.link`, `.mirror`, `.tasks`, `.sessions`: the models. Each
  sequenced message a host sends is a model that knows its `stream` and
  `type`; `sequenced()` maps each (stream, type) to its model.
- `protocol.base.reason` turns a ValidationError into a short sentence naming
  the field ("changes.3.path: a path must be relative").
"""

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from protocol.base import Sequenced

MODULES = ("link", "mirror", "tasks", "sessions", "git", "codex", "manage")


@functools.cache
def sequenced() -> dict[tuple[str, str], type["Sequenced"]]:
    """(stream, type) -> the model of its payload: every sequenced message a host may send."""
    from importlib import import_module

    for name in MODULES:
        import_module(f"protocol.{name}")
    from protocol.base import SEQUENCED

    return dict(SEQUENCED)
