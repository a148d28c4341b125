"""A computer task's steps as the protocol reads them (the hub before creating a task, the
agent before any input), and a computer executor's actions in hello."""

import pytest

from protocol.computer import step_error, step_subject, steps_error
from protocol.link import Executor
from protocol.tasks import TaskAssign
from tests.kits.protocol_checks import refused

GOOD = [
    {"action": "screenshot"},
    {"action": "move", "x": 0, "y": 0},
    {"action": "click", "x": 120, "y": 45, "button": "right", "count": 2},
    {"action": "type", "text": "Dear Ada,\n\tthanks"},
    {"action": "key", "keys": "ctrl+shift+t"},
    {"action": "scroll", "direction": "down", "amount": 5, "x": 10, "y": 10},
    {"action": "scroll", "direction": "left"},
    {"action": "drag", "x": 1, "y": 2, "to_x": 300, "to_y": 400, "button": "left"},
    {"action": "wait", "seconds": 0.5},
    {"action": "wait", "title": "Save as", "timeout": 30},
    {"action": "focus", "title": "Invoices - March.ods"},
]


@pytest.mark.parametrize("step", GOOD, ids=lambda step: step["action"])
def test_good_steps_pass(step):
    assert step_error(0, step) is None


@pytest.mark.parametrize(
    ("step", "said"),
    [
        ({"action": "click", "x": 1}, "step 1 (click): y is required"),
        ({"action": "click", "x": 1.5, "y": 1}, "step 1 (click): x must be an integer 0-32767"),
        ({"action": "click", "x": "1", "y": 1}, "step 1 (click): x must be an integer 0-32767"),
        ({"action": "click", "x": 32768, "y": 1}, "step 1 (click): x must be an integer 0-32767"),
        ({"action": "click", "x": 1, "y": 1, "count": 0}, "step 1 (click): count must be 1-3 clicks"),
        ({"action": "click", "x": 1, "y": 1, "count": 10**12}, "step 1 (click): count must be 1-3 clicks"),
        ({"action": "click", "x": 1, "y": 1, "button": "back"}, "step 1 (click): button must be one of left"),
        ({"action": "type", "text": ""}, "step 1 (type): text must be 1-2000 characters"),
        ({"action": "type", "text": "x" * 1024 * 1024}, "step 1 (type): text must be 1-2000 characters"),
        ({"action": "type", "text": "a\x00b"}, "step 1 (type): text must be 1-2000 characters"),
        ({"action": "type", "text": "a\x1b[31mb"}, "step 1 (type): text must be 1-2000 characters"),
        ({"action": "key", "keys": "ctrl+nope"}, "step 1 (key): unknown key 'nope'"),
        ({"action": "key", "keys": None}, "step 1 (key): keys must be 1-64 characters"),
        ({"action": "scroll", "direction": "sideways"}, "step 1 (scroll): direction must be one of up, down"),
        ({"action": "scroll", "direction": "up", "x": 1}, "step 1 (scroll): scroll takes both x and y"),
        (
            {"action": "scroll", "direction": "up", "amount": 51},
            "step 1 (scroll): amount must be 1-50 notches",
        ),
        ({"action": "drag", "x": 1, "y": 1, "to_x": 2}, "step 1 (drag): to_y is required"),
        ({"action": "wait"}, "step 1 (wait): wait takes seconds or a window title (one of them)"),
        ({"action": "wait", "seconds": 121}, "step 1 (wait): seconds must be 0.1-120"),
        ({"action": "wait", "seconds": True}, "step 1 (wait): seconds must be 0.1-120"),
        ({"action": "focus", "title": "a\u202eb"}, "step 1 (focus): title must be 1-200 characters"),
        ({"action": "focus", "title": "x" * 201}, "step 1 (focus): title must be 1-200 characters"),
        ({"action": "screenshot", "timeout": 0}, "step 1 (screenshot): timeout must be 1-120 seconds"),
        ({"action": "screenshot", "selector": "#x"}, 'step 1 (screenshot): unknown field "selector"'),
        (
            {"action": "open", "url": "https://x"},
            'step 1: unknown action "open" (use one of screenshot, move',
        ),
        (["click"], 'step 1: not an object like {"action": "click", "x": 10, "y": 20}'),
    ],
)
def test_a_bad_step_is_named_with_what_is_wrong(step, said):
    assert step_error(0, step).startswith(said)


def test_steps_are_a_list_of_1_to_50_of_the_allowed_actions():
    assert steps_error(GOOD) is None
    assert steps_error([]) == "a computer task needs a list of 1-50 steps"
    assert (
        steps_error([{"action": "screenshot"}] * 51)
        == "a computer task has at most 50 steps (this one has 51)"
    )
    assert steps_error(GOOD, ("screenshot", "move")) == (
        "step 3 (click): click is not allowed on this host (it allows screenshot, move)"
    )


def test_what_a_step_acts_on_reads_in_a_line():
    assert [step_subject(step) for step in GOOD] == [
        "",
        "0,0",
        "120,45 (right x2)",
        '"Dear Ada, \tthanks"',
        "ctrl+shift+t",
        "down 5 at 10,10",
        "left 3",
        "1,2 to 300,400",
        "0.5 s",
        '"Save as"',
        '"Invoices - March.ods"',
    ]


def test_an_assignment_carries_checked_computer_steps():
    task = {"id": 7, "project": "docs", "executor": "desk", "prompt": "Fill the invoice"}
    message = TaskAssign.model_validate({"task": {**task, "computer_steps": GOOD}})
    assert message.task.computer_steps == GOOD and message.task.steps is None
    bad = {**task, "computer_steps": [{"action": "key", "keys": "hyper+x"}]}
    assert refused(TaskAssign, {"task": bad}).startswith(
        "task.computer_steps: step 1 (key): unknown key 'hyper'"
    )


def test_a_computer_executor_lists_its_actions_in_hello_and_unknown_ones_are_dropped():
    executor = Executor.model_validate(
        {"name": "desk", "kind": "computer", "actions": ["click", "teleport", "type"]}
    )
    assert executor.actions == ["click", "type"]
    assert Executor.model_validate({"name": "b", "kind": "browser"}).actions == []
