"""The models a `codex` executor offers (docs/protocol.md, "The executors a host offers"): its
Codex's `model/list`, asked once when the agent starts, so `hello` lists them and the phone
offers a model and a reasoning effort per task. A Codex that cannot say leaves the list empty
(logged): its tasks then run on the executor's own model and effort."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from hostagent.tasks.codex_app import CodexUnavailable, ask_codex
from hostagent.tasks.executors import Executor
from protocol import limits
from protocol.text import CONTROL

log = logging.getLogger("hostagent.tasks.codex")

MODELS_TIMEOUT = 30.0  # seconds codex may take to start and list its models


async def with_models(executors: dict[str, Executor]) -> dict[str, Executor]:
    """`executors` with each codex executor's models filled in (asked at once)."""
    codex = [executor for executor in executors.values() if executor.kind == "codex"]
    listed = await asyncio.gather(*(_models(executor) for executor in codex))
    filled = dict(executors)
    for executor, models in zip(codex, listed, strict=True):
        filled[executor.name] = dataclasses.replace(executor, models=tuple(models))
    return filled


async def _models(executor: Executor) -> list[dict[str, Any]]:
    try:
        result = await ask_codex(executor, "model/list", {"limit": limits.MAX_MODELS}, timeout=MODELS_TIMEOUT)
    except CodexUnavailable as exc:
        log.warning(
            "executor %s: could not list Codex's models (%s): its tasks use its own model", executor.name, exc
        )
        return []
    data = result.get("data") if isinstance(result, dict) else None
    models = [model for raw in data if (model := _model(raw)) is not None] if isinstance(data, list) else []
    return models[: limits.MAX_MODELS]


def _model(raw: Any) -> dict[str, Any] | None:
    """A model as hello lists it, from one entry of `model/list`; None for a hidden or odd one."""
    if not isinstance(raw, dict) or raw.get("hidden") is True:
        return None
    model_id = raw.get("model") or raw.get("id")
    if (
        not isinstance(model_id, str)
        or not 0 < len(model_id) <= limits.MAX_MODEL_ID
        or CONTROL.search(model_id)
    ):
        return None
    label = raw.get("displayName")
    supported = raw.get("supportedReasoningEfforts") or []
    named = [e.get("reasoningEffort") for e in supported if isinstance(e, dict)]
    efforts = [e for e in named if isinstance(e, str) and limits.EFFORT.fullmatch(e)][: limits.MAX_EFFORTS]
    default = raw.get("defaultReasoningEffort")
    return {
        "id": model_id,
        "label": label[: limits.MAX_MODEL_LABEL] if isinstance(label, str) else "",
        "efforts": efforts,
        "default_effort": default if isinstance(default, str) and default in efforts else None,
    }
