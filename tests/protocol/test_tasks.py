"""The tasks stream: reports from the agent, assignments from the hub, and
browser steps (one model for the phone's check on the hub and the agent's)."""

import pytest

from protocol import limits
from protocol.tasks import (
    ARTIFACT_REFUSED,
    BrowserStep,
    TaskAssign,
    TaskFinished,
    TaskLog,
    TaskReceived,
    step_error,
    steps_error,
)
from tests.kits.protocol_checks import refused


def test_a_received_ignores_what_it_does_not_know():
    assert TaskReceived.model_validate({"task_id": 4, "seq": "?"}).task_id == 4


def test_a_log_piece_is_display_text():
    log = TaskLog.model_validate({"task_id": 1, "seq": 7, "text": "out\x00put\ud800"})
    assert (log.seq, log.text) == (7, "out\ufffdput?")


@pytest.mark.parametrize("seq", [0, -1, 2**31, True, 1.5, None])
def test_a_log_seq_counts_from_one_within_range(seq):
    assert refused(TaskLog, {"task_id": 1, "seq": seq, "text": ""}).startswith("seq: must")


def test_a_finished_report_with_everything():
    finished = TaskFinished.model_validate(
        {
            "task_id": 3,
            "outcome": "failed",
            "exit_code": -(2**31) + 1,
            "error": "e\x00" * 300,
            "duration": 0,
            "log_truncated": True,
            "changes": [
                {"path": "a.md", "op": "modified", "diff": "d" * (limits.MAX_DIFF_KEPT + 10)},
                {"path": "b.bin", "op": "created", "binary": True, "diff": None},
            ],
            "steps": [
                {
                    "index": 0,
                    "action": "open" * 10,
                    "ok": True,
                    "error": None,
                    "text": None,
                    "artifact": None,
                },
                {
                    "index": 1,
                    "action": "screenshot",
                    "ok": True,
                    "artifact": "step-1.png",
                    "text": "t" * 20_000,
                },
            ],
        }
    )
    assert len(finished.error) == limits.MAX_ERROR and "\x00" not in finished.error
    assert len(finished.changes[0].diff) == limits.MAX_DIFF_KEPT and finished.changes[1].diff is None
    first, second = finished.steps
    assert (len(first.action), first.error, first.text) == (limits.MAX_STEP_ACTION, "", None)
    assert (second.artifact, len(second.text)) == ("step-1.png", limits.MAX_RESULT_TEXT)


def test_a_finished_report_needs_only_its_outcome():
    finished = TaskFinished.model_validate({"task_id": 3, "outcome": "cancelled"})
    assert (finished.exit_code, finished.error, finished.changes, finished.steps) == (None, None, None, None)


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"outcome": "exploded"}, "outcome: must be 'succeeded', 'failed' or 'cancelled'"),
        ({"outcome": None}, "outcome: must be"),
        ({"exit_code": "1"}, "exit_code: must be an integer"),
        ({"exit_code": True}, "exit_code: must be an integer"),
        ({"exit_code": 2**31}, "exit_code: must be less than"),
        ({"exit_code": -(2**31)}, "exit_code: must be greater than"),
        ({"duration": -1}, "duration: must be greater than or equal to 0"),
        ({"duration": float("inf")}, "duration: must be a finite number"),
        ({"error": 5}, "error: must be a string"),
        ({"log_truncated": "no"}, "log_truncated: must be true or false"),
        ({"changes": [{"path": "../etc/passwd", "op": "modified"}]}, "changes.0.path: a path must not"),
        ({"changes": [{"path": "/etc/passwd", "op": "modified"}]}, "changes.0.path: a path must be relative"),
        ({"changes": [{"path": "a", "op": "chmod"}]}, "changes.0.op: must be 'created', 'modified' or"),
        ({"changes": [{"path": "a", "op": "created"}] * 101}, "changes: must have at most 100 items"),
        ({"changes": [{"path": "a", "op": "created", "diff": 1}]}, "changes.0.diff: must be a string"),
        ({"steps": [{"index": 0, "artifact": "../../etc/passwd"}]}, f"steps.0.artifact: {ARTIFACT_REFUSED}"),
        ({"steps": [{"index": 0, "artifact": "step-1.png\n"}]}, f"steps.0.artifact: {ARTIFACT_REFUSED}"),
        ({"steps": [{"index": 99}]}, "steps.0.index: must be less than 50"),
        ({"steps": [{"index": True}]}, "steps.0.index: must be an integer"),
        ({"steps": [{}]}, "steps.0.index: is required"),
        ({"steps": [{"index": 0, "text": 3}]}, "steps.0.text: must be a string"),
        ({"steps": [{"index": 0}] * 51}, "steps: must have at most 50 items"),
    ],
)
def test_a_bad_finished_report_is_refused(fields, said):
    assert refused(TaskFinished, {"task_id": 1, "outcome": "succeeded", **fields}).startswith(said)


# Browser steps -------------------------------------------------------------------------------------

GOOD = [
    {"action": "open", "url": "https://shop.example.com/order"},
    {"action": "fill", "selector": "#qty", "value": "3", "timeout": 2.5},
    {"action": "click", "selector": "button[type=submit]"},
    {"action": "press", "key": "Enter"},
    {"action": "select", "selector": "#size", "value": "L"},
    {"action": "wait", "text": "Thank you"},
    {"action": "read", "selector": "#total", "attribute": "title"},
    {"action": "screenshot", "full_page": True},
    {"action": "pdf"},
]


def test_good_steps_pass_and_keep_only_their_fields():
    assert steps_error(GOOD) is None
    assert [BrowserStep.model_validate(step).wire() for step in GOOD] == GOOD


@pytest.mark.parametrize(
    ("step", "said"),
    [
        ("click", 'step 1: not an object like {"action": "click", "selector": "#buy"}'),
        ({"action": "hover"}, 'step 1: unknown action "hover" (use one of open, click,'),
        ({"action": None}, "step 1: unknown action None"),
        ({"action": "click"}, "step 1 (click): selector is required"),
        ({"action": "wait"}, "step 1 (wait): selector or text is required"),
        ({"action": "pdf", "selector": "#a"}, 'step 1 (pdf): unknown field "selector"'),
        ({"action": "click", "selector": "a", "script": "x"}, 'step 1 (click): unknown field "script"'),
        ({"action": "click", "selector": "a", "timeout": 0}, "step 1 (click): timeout must be 1-120 seconds"),
        (
            {"action": "click", "selector": "a", "timeout": 121},
            "step 1 (click): timeout must be 1-120 seconds",
        ),
        (
            {"action": "click", "selector": "a", "timeout": True},
            "step 1 (click): timeout must be 1-120 seconds",
        ),
        (
            {"action": "click", "selector": "a", "timeout": "5"},
            "step 1 (click): timeout must be 1-120 seconds",
        ),
        (
            {"action": "click", "selector": "a", "timeout": float("nan")},
            "step 1 (click): timeout must be 1-120",
        ),
        ({"action": "screenshot", "full_page": 1}, "step 1 (screenshot): full_page must be true or false"),
        ({"action": "screenshot", "full_page": None}, "step 1 (screenshot): full_page must be true or false"),
        ({"action": "fill", "selector": "#a", "value": 3}, "step 1 (fill): value must be text of 1-2000"),
        ({"action": "fill", "selector": "#a", "value": ""}, "step 1 (fill): value must be text of 1-2000"),
        (
            {"action": "fill", "selector": "#a", "value": "a\x00"},
            "step 1 (fill): value must be text of 1-2000",
        ),
        ({"action": "click", "selector": None}, "step 1 (click): selector must be text of 1-500 characters"),
        (
            {"action": "read", "selector": "s" * 501},
            "step 1 (read): selector must be text of 1-500 characters",
        ),
        ({"action": "wait", "text": "y" * 2001}, "step 1 (wait): text must be text of 1-2000 characters"),
        (
            {"action": "open", "url": "file:///etc/passwd"},
            "step 1 (open): url must be an http or https address",
        ),
        ({"action": "open", "url": "javascript:alert(1)"}, "step 1 (open): url must be an http or https"),
    ],
)
def test_a_bad_step_is_named_with_what_is_wrong(step, said):
    assert step_error(0, step).startswith(said)


def test_steps_are_a_list_of_1_to_50():
    assert steps_error([]) == "a browser task needs a list of 1-50 steps"
    assert steps_error({"action": "pdf"}) == "a browser task needs a list of 1-50 steps"
    assert steps_error([{"action": "pdf"}] * 51) == "a browser task has at most 50 steps (this one has 51)"
    assert steps_error([GOOD[0], {"action": "click"}]) == "step 2 (click): selector is required"


def test_an_assignment_carries_checked_steps():
    message = TaskAssign.model_validate(
        {"task": {"id": 7, "project": "docs", "executor": "browser", "prompt": "Check", "steps": GOOD}}
    )
    assert message.task.steps == GOOD and message.task.target == ""
    assert refused(
        TaskAssign,
        {"task": {"id": 7, "project": "d", "executor": "b", "prompt": "p", "steps": [{"action": "x"}]}},
    ).startswith('task.steps: step 1: unknown action "x"')
