"""The base rules every model shares: strict types, NaN and infinities
refused, unknown keys ignored, display text cut and cleaned, and a short
reason naming the field."""

import pytest
from pydantic import ValidationError

from protocol import limits
from protocol.base import clean, reason
from protocol.mirror import MirrorBatch
from protocol.sessions import TaskItem
from protocol.tasks import TaskFinished, TaskLog
from tests.kits.protocol_checks import refused, wire


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None, [1], {"a": 1}])
def test_an_id_is_an_integer_never_a_bool_or_a_float_or_text(value):
    assert "task_id" in refused(TaskLog, {"task_id": value, "seq": 1, "text": ""})


@pytest.mark.parametrize("value", [0, -1, 2**63, 10**400])
def test_an_id_is_positive_and_in_range(value):
    assert refused(TaskLog, {"task_id": value, "seq": 1, "text": ""}).startswith("task_id: must be")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e400, -0.5, 1e8, True, "1"])
def test_a_duration_is_a_finite_number_in_range(value):
    assert refused(TaskFinished, {"task_id": 1, "outcome": "failed", "duration": value}).startswith(
        "duration: must"
    )


def test_an_integer_is_taken_as_a_number_of_seconds():
    assert TaskFinished.model_validate({"task_id": 1, "outcome": "failed", "duration": 3}).duration == 3.0


def test_unknown_keys_are_ignored():
    message = TaskLog.model_validate(
        {"task_id": 1, "seq": 1, "text": "x", "colour": "blue", "nested": [[[]]]}
    )
    assert message.model_dump() == {"task_id": 1, "seq": 1, "text": "x"}


def test_a_missing_field_is_named():
    assert refused(TaskLog, {"task_id": 1, "seq": 1}) == "text: is required"


def test_a_payload_that_is_not_an_object_is_refused():
    assert refused(TaskLog, [1, 2]) == "must be an object"


def test_display_text_is_cut_to_its_cap_never_refused():
    message = TaskLog.model_validate({"task_id": 1, "seq": 1, "text": "x" * (limits.MAX_LOG_TEXT * 3)})
    assert len(message.text) == limits.MAX_LOG_TEXT


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("a\x00b", "a\ufffdb"),
        ("a\ud800b", "a?b"),
        ("\udcff\x00é", "?\ufffdé"),
        (wire("lone \ud83d half"), "lone ? half"),
        ("plain", "plain"),
    ],
)
def test_display_text_loses_only_what_postgres_cannot_hold(raw, kept):
    assert TaskLog.model_validate({"task_id": 1, "seq": 1, "text": raw}).text == kept
    assert clean(raw) == kept


def test_the_cut_comes_before_the_cleaning_so_a_cap_is_characters():
    text = "é" * (limits.MAX_LOG_TEXT + 5)
    assert TaskLog.model_validate({"task_id": 1, "seq": 1, "text": text}).text == "é" * limits.MAX_LOG_TEXT


def test_the_reason_names_the_field_by_its_path():
    payload = {
        "project": "docs",
        "changes": [{"op": "delete", "path": "a"}] * 3 + [{"op": "delete", "path": "/x"}],
    }
    assert refused(MirrorBatch, payload) == "changes.3.path: a path must be relative"


def test_the_reason_is_short_whatever_the_input():
    payload = {"task_id": 1, "key": "k" * 10_000, "kind": "agent", "data": {}}
    text = refused(TaskItem, payload)
    assert len(text) <= 200 and "kkkkkkkkkkk" not in text


def test_the_reason_of_nested_data_names_its_field():
    payload = {"task_id": 1, "key": "plan", "kind": "plan", "data": {"entries": [{"status": "done"}]}}
    assert refused(TaskItem, payload).startswith("data.entries.0.status: must be 'pending'")


def test_reason_counts_only_the_first_error():
    with pytest.raises(ValidationError) as caught:
        TaskLog.model_validate({"task_id": "1", "seq": "1", "text": 1})
    assert reason(caught.value) == "task_id: must be an integer"
