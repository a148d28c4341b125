"""Agent sessions: timeline items, turns and permission requests. Display
text and display lists are cut, never refused; ids and choices are refused."""

import pytest

from protocol import limits
from protocol.sessions import (
    DATA_REFUSED,
    KEY_REFUSED,
    OPTION_IDS_DIFFER,
    REQUEST_ID_REFUSED,
    NoticeData,
    PlanData,
    TaskItem,
    TaskPermission,
    TaskPermissionClosed,
    TaskTurn,
    TextData,
    ToolData,
    UserData,
)
from tests.kits.protocol_checks import refused

ALLOW = {"option_id": "allow", "name": "Allow", "kind": "allow_once"}
REJECT = {"option_id": "reject", "name": "Reject", "kind": "reject_once"}


def item(kind: str, data, key: str = "k1") -> dict:
    return {"task_id": 1, "key": key, "kind": kind, "data": data}


@pytest.mark.parametrize(
    ("kind", "model"),
    [("user", UserData), ("agent", TextData), ("thought", TextData), ("plan", PlanData), ("tool", ToolData),
     ("notice", NoticeData)],
)  # fmt: skip
def test_empty_data_takes_each_kinds_defaults(kind, model):
    message = TaskItem.model_validate(item(kind, {}))
    assert type(message.data) is model and message.data == model()


def test_null_fields_take_their_defaults():
    data = TaskItem.model_validate(
        item("tool", {"title": None, "tool_kind": None, "status": None, "locations": None, "diffs": None})
    ).data
    assert data.model_dump() == {
        "title": "", "tool_kind": "other", "status": "pending", "locations": [], "text": "", "diffs": [],
    }  # fmt: skip


def test_text_and_lists_are_cut_to_their_caps():
    tool = {
        "title": "t" * 300,
        "locations": ["l" * 1200] * 30,
        "text": "o" * 9000,
        "diffs": [{"path": "a.md", "diff": "d" * 70_000}] * 12,
    }
    data = TaskItem.model_validate(item("tool", tool)).data
    assert (len(data.title), len(data.text)) == (limits.MAX_TITLE, limits.MAX_TOOL_TEXT)
    assert len(data.locations) == limits.MAX_LOCATIONS and len(data.locations[0]) == limits.MAX_LOCATION
    assert len(data.diffs) == limits.MAX_DIFFS and len(data.diffs[0].diff) == limits.MAX_DIFF
    plan = TaskItem.model_validate(item("plan", {"entries": [{"content": "c" * 600}] * 60})).data
    assert len(plan.entries) == limits.MAX_PLAN_ENTRIES and len(plan.entries[0].content) == 500
    assert plan.entries[0].status == "pending" and plan.entries[0].priority == "medium"


def test_nul_and_lone_surrogates_are_replaced():
    assert TaskItem.model_validate(item("agent", {"text": "a\x00b\ud800c"})).data.text == "a\ufffdb?c"
    assert TaskItem.model_validate(item("tool", {"locations": ["x\udfff"]})).data.locations == ["x?"]


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        (item("agent", {}, key="has space"), f"key: {KEY_REFUSED}"),
        (item("agent", {}, key=""), f"key: {KEY_REFUSED}"),
        (item("agent", {}, key="k" * 81), f"key: {KEY_REFUSED}"),
        (item("agent", {}, key="key\n"), f"key: {KEY_REFUSED}"),
        (item("agent", {}, key=7), "key: must be a string"),
        (item("shell", {}), "kind: must be 'user', 'agent'"),
        (item(None, {}), "kind: must be"),
        (item("agent", "text"), DATA_REFUSED),
        (item("agent", None), DATA_REFUSED),
        ({"task_id": 1, "key": "k", "kind": "agent"}, DATA_REFUSED),
        (item("agent", {"text": 5}), "data.text: must be a string"),
        (item("user", {"message_id": "7"}), "data.message_id: must be an integer"),
        (item("user", {"message_id": -1}), "data.message_id: must be greater than 0"),
        (item("user", {"message_id": True}), "data.message_id: must be an integer"),
        (item("plan", {"entries": {"content": "x"}}), "data.entries: must be a list"),
        (item("plan", {"entries": [{"status": "done"}]}), "data.entries.0.status: must be 'pending'"),
        (item("plan", {"entries": ["x"]}), "data.entries.0: must be an object"),
        (item("plan", {"entries": [None]}), "data.entries.0: must be an object"),
        (item("tool", {"tool_kind": "rm -rf"}), "data.tool_kind: must be 'read'"),
        (item("tool", {"status": "exploded"}), "data.status: must be 'pending'"),
        (item("tool", {"locations": "README.md"}), "data.locations: must be a list"),
        (item("tool", {"locations": [None]}), "data.locations.0: must be a string"),
        (item("tool", {"diffs": [{"path": "a", "diff": 1}]}), "data.diffs.0.diff: must be a string"),
        (item("notice", {"level": "critical"}), "data.level: must be 'info' or 'error'"),
    ],
)
def test_a_malformed_item_is_refused_naming_the_field(payload, said):
    assert refused(TaskItem, payload).startswith(said)


def test_an_item_built_by_the_agent_with_its_data_model():
    message = TaskItem(
        task_id=1, key="notice:1", kind="notice", data=NoticeData(text="refused", level="error")
    )
    assert TaskItem.model_validate(message.model_dump(mode="json")) == message


def test_an_item_with_the_data_of_another_kind_is_refused():
    assert refused(TaskItem, {"task_id": 1, "key": "k", "kind": "user", "data": NoticeData()}) == DATA_REFUSED


# Turns ------------------------------------------------------------------------------------------


def test_a_turn():
    turn = TaskTurn.model_validate(
        {"task_id": 1, "state": "waiting", "message_id": None, "stop_reason": "x\x00"}
    )
    assert (turn.state, turn.stop_reason) == ("waiting", "x\ufffd")


def test_a_stop_reason_acp_adds_later_is_taken():
    assert TaskTurn.model_validate({"task_id": 1, "state": "waiting", "stop_reason": "new_one"}).stop_reason


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"state": "sleeping"}, "state: must be 'working' or 'waiting'"),
        ({"state": None}, "state: must be"),
        ({"state": "working", "message_id": "1"}, "message_id: must be an integer"),
        ({"state": "working", "message_id": 0}, "message_id: must be greater than 0"),
        ({"state": "waiting", "stop_reason": 3}, "stop_reason: must be a string"),
    ],
)
def test_a_malformed_turn_is_refused(fields, said):
    assert refused(TaskTurn, {"task_id": 1, **fields}).startswith(said)


# Permission requests -------------------------------------------------------------------------------


def permission(**fields) -> dict:
    payload = {
        "task_id": 1,
        "request_id": "p1",
        "title": "Edit notes.md",
        "tool_kind": "edit",
        "locations": ["notes.md"],
        "diffs": [{"path": "notes.md", "diff": "--- a\n+++ b\n"}],
        "options": [ALLOW, REJECT],
        "on_timeout": "reject",
        "timeout": 600,
    }
    payload.update(fields)
    return payload


def test_a_permission_request():
    request = TaskPermission.model_validate(permission(timeout=0.4))
    assert [o.option_id for o in request.options] == ["allow", "reject"]
    assert (request.timeout, request.timeout_seconds) == (0.4, 1)
    assert TaskPermission.model_validate(permission(on_timeout="wait", timeout=None)).timeout_seconds is None


def test_an_option_without_a_name_is_named_by_its_id_and_names_are_cleaned():
    options = [
        {"option_id": "a", "kind": "allow_once", "name": "  "},
        {**REJECT, "name": "R\x00" + "n" * 100},
    ]
    first, second = TaskPermission.model_validate(permission(options=options)).options
    assert first.name == "a"
    assert len(second.name) == limits.MAX_OPTION_NAME and second.name.startswith("R\ufffd")


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"request_id": "has space"}, f"request_id: {REQUEST_ID_REFUSED}"),
        ({"request_id": "r" * 65}, f"request_id: {REQUEST_ID_REFUSED}"),
        ({"request_id": None}, "request_id: must be a string"),
        ({"options": []}, "options: must have at least 1 item"),
        ({"options": [ALLOW] * 9}, "options: must have at most 8 items"),
        ({"options": "allow"}, "options: must be a list"),
        ({"options": [ALLOW, ALLOW]}, f"options: {OPTION_IDS_DIFFER}"),
        ({"options": [{**ALLOW, "kind": "allow_forever"}]}, "options.0.kind: must be 'allow_once'"),
        ({"options": [{**ALLOW, "option_id": ""}]}, "options.0.option_id: option_id must be text of 1-64"),
        ({"options": [{**ALLOW, "option_id": "o" * 65}]}, "options.0.option_id: option_id must be text"),
        ({"options": [{**ALLOW, "option_id": "a\x00"}]}, "options.0.option_id: option_id must be text"),
        ({"options": [{**ALLOW, "option_id": "a\ud800"}]}, "options.0.option_id: option_id must be text"),
        ({"options": [{**ALLOW, "option_id": 1}]}, "options.0.option_id: must be a string"),
        ({"options": ["allow"]}, "options.0: must be an object"),
        ({"diffs": [None]}, "diffs.0: must be an object"),
        ({"on_timeout": "explode"}, "on_timeout: must be 'reject' or 'wait'"),
        ({"on_timeout": None}, "on_timeout: must be"),
        ({"timeout": -5}, "timeout: must be greater than 0"),
        ({"timeout": "600"}, "timeout: must be a number"),
        ({"timeout": 10**9}, "timeout: must be less than or equal to 604800"),
        ({"timeout": True}, "timeout: must be a number"),
        ({"tool_kind": "sudo"}, "tool_kind: must be 'read'"),
        ({"title": ["x"]}, "title: must be a string"),
        ({"locations": "notes.md"}, "locations: must be a list"),
    ],
)
def test_a_malformed_permission_request_is_refused(fields, said):
    assert refused(TaskPermission, permission(**fields)).startswith(said)


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"outcome": "granted"}, "outcome: must be 'selected', 'timed_out' or 'cancelled'"),
        ({"option_id": 5}, "option_id: must be a string"),
        ({"option_id": "x\udc00"}, "option_id: option_id must be text"),
        ({"request_id": "bad id"}, f"request_id: {REQUEST_ID_REFUSED}"),
    ],
)
def test_a_malformed_closing_is_refused(fields, said):
    payload = {"task_id": 1, "request_id": "p1", "outcome": "selected", "option_id": "allow", **fields}
    assert refused(TaskPermissionClosed, payload).startswith(said)
