"""Helpers for the protocol's tests: validating as the hub does (after JSON),
and walking what a model keeps."""

import json
from typing import Any

import pytest
from pydantic import ValidationError

from protocol.base import reason


def wire(payload: Any) -> Any:
    """What json.loads gives the hub for `payload` (lone surrogates survive it, as escapes)."""
    return json.loads(json.dumps(payload))


def refused(model: type, payload: Any) -> str:
    """The short reason the hub gives for refusing `payload`; fails if it is taken."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    text = reason(caught.value)
    assert 0 < len(text) <= 200
    return text


def strings(value: Any):
    """Every string in a model's dump, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def storable(text: str) -> bool:
    """Whether Postgres text (and jsonb) can hold it: no NUL, no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
