"""What a host reports about an agent session (task.item, task.turn,
task.permission, task.permission_closed): applied once, checked and cut to
size; anything hostile is refused, writes nothing and leaves the link up."""

import pytest
from django.db.models import Q

from devices.services import APPLIED, REJECTED
from protocol import limits
from tasks.housekeeping import _fail_where
from tasks.models import PermissionRequest, TaskItem, TaskMessage, TaskState
from tests.kits.common import make_host
from tests.kits.sessions import ALLOW, DIFF, REJECT, SessionStream, make_session, ringing
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(project):
    return SessionStream(project.host_id)


def item_of(task, key):
    return TaskItem.objects.get(task=task, key=key)


# task.item ----------------------------------------------------------------------------


def test_it_keeps_each_kind_of_entry(task, stream):
    stream.item(task.id, "user:0", "user", text="Tidy the README", message_id=None)
    stream.item(task.id, "agent:1", "agent", text="I will **tidy** it.")
    stream.item(task.id, "thought:1", "thought", text="Look at the headings first")
    plan = [{"content": "Read it", "status": "completed", "priority": "high"}]
    stream.item(task.id, "plan", "plan", entries=plan)
    tool = {
        "title": "Edit README.md",
        "tool_kind": "edit",
        "status": "completed",
        "locations": ["README.md"],
        "text": "done",
        "diffs": [{"path": "README.md", "diff": DIFF}],
    }
    stream.item(task.id, "tool:call_1", "tool", **tool)
    stream.item(task.id, "notice:1", "notice", text="refused to write /etc/hosts", level="error")
    assert list(task.items.values_list("kind", flat=True)) == [
        "user",
        "agent",
        "thought",
        "plan",
        "tool",
        "notice",
    ]
    assert item_of(task, "plan").data == {"entries": plan}
    assert item_of(task, "tool:call_1").data == tool
    assert item_of(task, "user:0").data == {"text": "Tidy the README", "message_id": None}


def test_the_same_key_replaces_the_entry_and_keeps_its_place(task, stream):
    stream.item(task.id, "agent:1", "agent", text="I will")
    stream.item(task.id, "tool:a", "tool", title="Read", tool_kind="read", status="in_progress")
    stream.item(task.id, "agent:1", "agent", text="I will tidy it.")
    assert list(task.items.values_list("key", flat=True)) == ["agent:1", "tool:a"]
    assert item_of(task, "agent:1").data == {"text": "I will tidy it."}


def test_missing_fields_take_their_defaults_and_unknown_ones_are_dropped(task, stream):
    stream.item(task.id, "tool:b", "tool", title="Run tests", extra="<script>")
    assert item_of(task, "tool:b").data == {
        "title": "Run tests",
        "tool_kind": "other",
        "status": "pending",
        "locations": [],
        "text": "",
        "diffs": [],
    }


def test_oversized_text_and_lists_are_cut_to_the_caps(task, stream):
    stream.item(task.id, "agent:1", "agent", text="a" * 40_000)
    stream.item(task.id, "notice:1", "notice", text="n" * 600)
    stream.item(task.id, "user:1", "user", text="u" * 70_000)
    entries = [{"content": "c" * 600, "status": "pending", "priority": "low"}] * 60
    stream.item(task.id, "plan", "plan", entries=entries)
    tool = {"title": "t" * 300, "locations": ["l" * 1200] * 30, "text": "o" * 9000}
    stream.item(task.id, "tool:1", "tool", **tool, diffs=[{"path": "a.md", "diff": "d" * 70_000}] * 12)
    assert len(item_of(task, "agent:1").data["text"]) == 32 * 1024
    assert len(item_of(task, "notice:1").data["text"]) == 500
    assert len(item_of(task, "user:1").data["text"]) == 64 * 1024
    plan = item_of(task, "plan").data["entries"]
    assert len(plan) == 50 and len(plan[0]["content"]) == 500
    data = item_of(task, "tool:1").data
    assert len(data["title"]) == 200 and len(data["text"]) == 8 * 1024
    assert len(data["locations"]) == 20 and len(data["locations"][0]) == 1000
    assert len(data["diffs"]) == 10 and len(data["diffs"][0]["diff"]) == 64 * 1024


def test_nul_and_lone_surrogates_are_replaced(task, stream):
    stream.item(task.id, "agent:1", "agent", text="a\x00b\ud800c")
    assert item_of(task, "agent:1").data["text"] == "a\ufffdb?c"


@pytest.mark.parametrize(
    ("key", "kind", "data"),
    [
        ("has space", "agent", {"text": "x"}),
        ("", "agent", {"text": "x"}),
        ("k" * 81, "agent", {"text": "x"}),
        ("key\n", "agent", {"text": "x"}),
        ("../etc", "agent", {"text": "x"}),
        (7, "agent", {"text": "x"}),
        ("k", "shell", {"text": "x"}),
        ("k", None, {"text": "x"}),
        ("k", "agent", "text"),
        ("k", "agent", {"text": 5}),
        ("k", "user", {"text": "x", "message_id": "7"}),
        ("k", "user", {"text": "x", "message_id": -1}),
        ("k", "plan", {"entries": {"content": "x"}}),
        ("k", "plan", {"entries": [{"content": "x", "status": "done"}]}),
        ("k", "plan", {"entries": ["x"]}),
        ("k", "plan", {"entries": [None]}),
        ("k", "agent", None),
        ("k", "tool", {"title": "x", "tool_kind": "rm -rf"}),
        ("k", "tool", {"title": "x", "status": "exploded"}),
        ("k", "tool", {"title": "x", "locations": "README.md"}),
        ("k", "tool", {"title": "x", "locations": [None]}),
        ("k", "tool", {"title": "x", "diffs": [{"path": "a", "diff": 1}]}),
        ("k", "notice", {"text": "x", "level": "critical"}),
    ],
)
def test_a_malformed_entry_is_refused_and_writes_nothing(task, stream, key, kind, data):
    payload = {"task_id": task.id, "key": key, "kind": kind, "data": data}
    with ringing() as sent:
        assert stream.send("task.item", payload).outcome == REJECTED
    assert not TaskItem.objects.exists() and sent == []


def test_past_2000_entries_new_keys_are_dropped_and_old_ones_still_change(task, stream, monkeypatch):
    monkeypatch.setattr(limits, "MAX_ITEMS", 3)
    for n in range(4):
        assert stream.item(task.id, f"agent:{n}", "agent", text=str(n)).outcome == APPLIED
    assert list(task.items.values_list("key", flat=True)) == ["agent:0", "agent:1", "agent:2"]
    stream.item(task.id, "agent:2", "agent", text="changed")
    assert item_of(task, "agent:2").data == {"text": "changed"}


def test_the_real_cap_is_2000():
    assert limits.MAX_ITEMS == 2000


def test_another_hosts_task_is_refused(task, team_a):
    other, _ = make_host(team_a, "Other")
    stream = SessionStream(other.id)
    assert stream.item(task.id, "agent:1", "agent", text="hi").outcome == REJECTED
    assert stream.turn(task.id, "working").outcome == REJECTED
    assert stream.permission(task.id).outcome == REJECTED
    assert not TaskItem.objects.exists() and not PermissionRequest.objects.exists()


def test_a_command_task_keeps_entries_but_no_turns_or_permission_requests(project, alice, stream):
    task = make_task(project, alice, state=TaskState.RUNNING)  # its stdout a structured format
    assert stream.item(task.id, "agent:1", "agent", text="hi").outcome == APPLIED
    assert item_of(task, "agent:1").data == {"text": "hi"}
    result = stream.permission(task.id)
    assert result.outcome == REJECTED and "not an agent session" in result.error
    assert stream.turn(task.id, "working").outcome == REJECTED
    assert not PermissionRequest.objects.exists()


def test_a_finished_task_ignores_late_entries(task, stream):
    stream.finished(task.id)
    assert stream.item(task.id, "agent:1", "agent", text="late").outcome == APPLIED
    assert stream.permission(task.id).outcome == APPLIED
    assert not TaskItem.objects.exists() and not PermissionRequest.objects.exists()


def test_phones_hear_of_each_entry(task, stream):
    with ringing() as sent:
        stream.item(task.id, "agent:1", "agent", text="hi")
    assert sent == [(f"task.{task.id}", {"type": "task.item", "task": task.id, "key": "agent:1"})]


# task.turn ----------------------------------------------------------------------------


def test_a_turn_sets_the_session_state_and_marks_its_message_delivered(task, stream, alice):
    message = TaskMessage.objects.create(task=task, text="Also the index", created_by=alice)
    with ringing() as sent:
        stream.turn(task.id, "working", message_id=message.id)
    task.refresh_from_db()
    message.refresh_from_db()
    assert task.session_state == "working" and message.delivered_at is not None
    assert (f"task.{task.id}", {"type": "task.turn", "task": task.id, "state": "working"}) in sent
    stream.turn(task.id, "waiting", stop_reason="end_turn")
    task.refresh_from_db()
    assert task.session_state == "waiting"


def test_a_turn_naming_another_tasks_message_is_refused(task, project, alice, stream):
    other = make_session(project, alice)
    message = TaskMessage.objects.create(task=other, text="Not yours", created_by=alice)
    assert stream.turn(task.id, "working", message_id=message.id).outcome == REJECTED
    message.refresh_from_db()
    task.refresh_from_db()
    assert message.delivered_at is None and task.session_state == "waiting"


@pytest.mark.parametrize(
    "payload",
    [
        {"state": "sleeping"},
        {"state": None},
        {"state": "working", "message_id": "1"},
        {"state": "working", "message_id": 0},
        {"state": "waiting", "stop_reason": 3},
    ],
)
def test_a_malformed_turn_is_refused(task, stream, payload):
    assert stream.send("task.turn", {"task_id": task.id, **payload}).outcome == REJECTED
    task.refresh_from_db()
    assert task.session_state == "waiting"


def test_a_finished_session_stays_ended(task, stream):
    stream.finished(task.id)
    stream.turn(task.id, "working")
    task.refresh_from_db()
    assert task.session_state == "ended"


def test_the_end_of_a_turn_tells_the_sender_once(task, stream, alice, jobs_enqueued):
    task.session_state = "working"
    task.save(update_fields=["session_state"])
    assert stream.turn(task.id, "waiting", stop_reason="end_turn").outcome == APPLIED
    assert stream.turn(task.id, "waiting", stop_reason="end_turn").outcome == APPLIED  # no turn in between
    assert jobs_enqueued == [("tasks.jobs.notify_turn_job", task.id, 1)]
    message = TaskMessage.objects.create(task=task, text="And the index", created_by=alice)
    stream.turn(task.id, "working", message_id=message.id)
    stream.turn(task.id, "waiting", stop_reason="end_turn")
    assert jobs_enqueued[-1] == ("tasks.jobs.notify_turn_job", task.id, 2)


def test_a_turn_a_person_stopped_is_not_announced(task, stream, jobs_enqueued):
    task.session_state = "working"
    task.save(update_fields=["session_state"])
    assert stream.turn(task.id, "waiting", stop_reason="cancelled").outcome == APPLIED
    assert jobs_enqueued == []


# task.permission ----------------------------------------------------------------------


def test_a_permission_request_is_kept_and_rings_phones_and_the_notifier(task, stream, jobs_enqueued):
    with ringing() as sent:
        assert stream.permission(task.id, "p1").outcome == APPLIED
    request = PermissionRequest.objects.get()
    assert (request.request_id, request.title, request.tool_kind) == ("p1", "Edit notes.md", "edit")
    assert request.locations == ["notes.md"] and request.diffs == [{"path": "notes.md", "diff": DIFF}]
    assert [o["option_id"] for o in request.options] == ["allow", "always", "reject"]
    assert (request.on_timeout, request.timeout_seconds, request.state) == ("reject", 600, "pending")
    event = {"type": "task.permission", "task": task.id, "request": request.id, "state": "pending"}
    assert sent == [(f"task.{task.id}", event)]
    assert jobs_enqueued == [("tasks.jobs.notify_permission_job", request.id)]


def test_a_repeated_request_id_is_ignored(task, stream, jobs_enqueued):
    stream.permission(task.id, "p1", title="First")
    assert stream.permission(task.id, "p1", title="Second").outcome == APPLIED
    assert list(PermissionRequest.objects.values_list("title", flat=True)) == ["First"]
    assert len(jobs_enqueued) == 1


def test_a_request_that_waits_for_ever(task, stream):
    stream.permission(task.id, on_timeout="wait", timeout=None)
    request = PermissionRequest.objects.get()
    assert (request.on_timeout, request.timeout_seconds) == ("wait", None)


@pytest.mark.parametrize(
    "fields",
    [
        {"request_id": "has space"},
        {"request_id": "r" * 65},
        {"request_id": None},
        {"options": []},
        {"options": [ALLOW] * 9},
        {"options": "allow"},
        {"options": [ALLOW, ALLOW]},
        {"options": [{**ALLOW, "kind": "allow_forever"}]},
        {"options": [{**ALLOW, "option_id": ""}]},
        {"options": [{**ALLOW, "option_id": "o" * 65}]},
        {"options": [{**ALLOW, "option_id": 1}]},
        {"options": ["allow"]},
        {"options": [None]},
        {"diffs": [None]},
        {"on_timeout": "explode"},
        {"on_timeout": None},
        {"timeout": -5},
        {"timeout": "600"},
        {"timeout": 10**9},
        {"tool_kind": "sudo"},
        {"title": ["x"]},
        {"locations": "notes.md"},
    ],
)
def test_a_malformed_permission_request_is_refused(task, stream, fields, jobs_enqueued):
    assert stream.permission(task.id, **fields).outcome == REJECTED
    assert not PermissionRequest.objects.exists() and jobs_enqueued == []


def test_permission_text_is_cut_and_cleaned(task, stream):
    option = {"option_id": "allow", "name": "A\x00" + "n" * 100, "kind": "allow_once"}
    stream.permission(task.id, title="T\x00" + "t" * 300, options=[option, REJECT])
    request = PermissionRequest.objects.get()
    assert len(request.title) == 200 and request.title.startswith("T\ufffd")
    assert len(request.options[0]["name"]) == 64 and "\x00" not in request.options[0]["name"]


# task.permission_closed ---------------------------------------------------------------


def test_closing_records_the_outcome(task, stream):
    stream.permission(task.id, "p1")
    with ringing() as sent:
        stream.permission_closed(task.id, "p1", "timed_out", "reject")
    request = PermissionRequest.objects.get()
    assert (request.state, request.outcome, request.option_id) == ("closed", "timed_out", "reject")
    assert request.closed_at is not None
    assert sent[0][1]["type"] == "task.permission" and sent[0][1]["state"] == "closed"


def test_a_cancelled_request_closes_without_an_option(task, stream):
    stream.permission(task.id, "p1")
    stream.permission_closed(task.id, "p1", "cancelled")
    request = PermissionRequest.objects.get()
    assert (request.state, request.outcome, request.option_id) == ("closed", "cancelled", "")


def test_a_closed_request_stays_as_it_closed(task, stream):
    stream.permission(task.id, "p1")
    stream.permission_closed(task.id, "p1", "cancelled")
    stream.permission_closed(task.id, "p1", "selected", "allow")
    assert PermissionRequest.objects.get().outcome == "cancelled"


@pytest.mark.parametrize(
    ("request_id", "outcome", "option_id"),
    [
        ("unknown", "selected", "allow"),
        ("p1", "granted", "allow"),
        ("p1", "selected", "sudo"),
        ("p1", "selected", 5),
        ("bad id", "cancelled", None),
    ],
)
def test_a_bad_closing_is_refused(task, stream, request_id, outcome, option_id):
    stream.permission(task.id, "p1")
    assert stream.permission_closed(task.id, request_id, outcome, option_id).outcome == REJECTED
    assert PermissionRequest.objects.get().state == "pending"


# task.finished ------------------------------------------------------------------------


def test_the_end_of_a_session_cancels_its_open_requests(task, stream):
    stream.permission(task.id, "p1")
    stream.permission(task.id, "p2", options=[ALLOW, REJECT])
    PermissionRequest.objects.filter(request_id="p2").update(state="answered", option_id="allow")
    stream.finished(task.id, outcome="cancelled")
    task.refresh_from_db()
    assert (task.state, task.session_state) == ("cancelled", "ended")
    states = dict(PermissionRequest.objects.values_list("request_id", "outcome"))
    assert states == {"p1": "cancelled", "p2": ""}
    assert PermissionRequest.objects.get(request_id="p1").state == "closed"


def test_a_host_lost_ends_the_session_too(task, stream):
    stream.permission(task.id, "p1")
    assert _fail_where(Q(id=task.id), TaskState.FAILED, "host lost") == 1
    task.refresh_from_db()
    assert task.session_state == "ended" and PermissionRequest.objects.get().state == "closed"
