"""Every message a host may send, fuzzed as json.loads would hand it to the
hub: each is either refused with a short reason or taken, and what is taken
holds only text the database can store (no NUL, no lone surrogate), whatever
the field."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol import sequenced
from protocol.base import reason
from tests.kits.protocol_checks import storable, strings

MODELS = sequenced()
HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from(list("ab/.:-_ \x00\x1f\x7f\x85\u202e\ud800\udfffé日")), max_size=12
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, -1, 2**31, 2**62, 2**63, 10**400])
    | st.floats(allow_nan=True, allow_infinity=True)
    | HOSTILE_TEXT
    | st.sampled_from(["", "a.md", "notes/a.md", "k1", "p1", "allow", "agent", "upsert", "file", "working"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=20,
)


def fields_of(model) -> list[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        inner = getattr(field.annotation, "model_fields", None)
        names |= set(inner or ())
    return sorted(names | {"data", "entries", "text", "kind", "op", "path", "option_id", "name"})


def payloads(model):
    """Objects with the model's own field names (so that validation goes deep), holding anything."""
    return st.dictionaries(st.sampled_from(fields_of(model)), JSON, max_size=8) | JSON


def check(model, payload) -> None:
    payload = json.loads(json.dumps(payload))  # as the hub gets it
    try:
        message = model.model_validate(payload)
    except ValidationError as exc:
        assert 0 < len(reason(exc)) <= 200
        return
    kept = message.model_dump(mode="json")
    assert all(storable(text) for text in strings(kept)), kept
    json.dumps(kept)


@pytest.mark.parametrize("key", sorted(MODELS), ids=lambda key: key[1])
def test_any_payload_is_refused_or_storable(key):
    model = MODELS[key]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(payloads(model))
    def run(payload):
        check(model, payload)

    run()


@pytest.mark.parametrize(
    ("key", "payload"),
    [
        (
            ("mirror", "mirror.batch"),
            {"project": "d", "changes": [{"op": "upsert", "path": "a", "kind": "dir"}] * 5000},
        ),
        (
            ("tasks", "task.item"),
            {"task_id": 1, "key": "k", "kind": "plan", "data": {"entries": [{}] * 100_000}},
        ),
        (("tasks", "task.log"), {"task_id": 1, "seq": 1, "text": "\ud800" * 1_000_000}),
    ],
)
def test_large_payloads_are_taken_or_cut(key, payload):
    check(MODELS[key], payload)


def test_deep_nesting_in_a_field_is_refused_not_a_crash():
    deep = json.loads("[" * 900 + "]" * 900)  # about as deep as json.loads goes
    for model in MODELS.values():
        payload = {
            "changes": deep,
            "data": {"entries": deep},
            "options": deep,
            "executors": deep,
            "task_id": 1,
        }
        try:
            model.model_validate(payload)  # taken (the fields it does not know are ignored) or refused
        except ValidationError as exc:
            assert len(reason(exc)) <= 200
