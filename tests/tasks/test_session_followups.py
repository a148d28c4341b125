"""Follow-ups, Stop turn and End session: checked like a prompt, bounded, sent
to the host after the commit and again on reconnect until the host reports
them; the new POSTs need the CSRF token and a second factor."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from tasks import services, sessions
from tasks.models import Task, TaskMessage, TaskState
from tests.kits.common import login, page_text
from tests.kits.sessions import SessionStream, ask, make_session, ringing, to_host
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def send(client, task, text, **headers):
    return client.post(reverse("task_message", args=[task.id]), {"text": text}, **headers)


def test_a_follow_up_goes_to_the_host_and_rings_the_phones(alice_client, alice, task):
    with ringing() as sent:
        response = send(alice_client, task, "  Also update the index  ", **JSON)
    assert response.status_code == 200 and response.json() == {"ok": True}
    message = TaskMessage.objects.get()
    assert (message.text, message.created_by, message.delivered_at) == ("Also update the index", alice, None)
    assert to_host(sent, task.host_id) == [
        {
            "type": "task.message",
            "task_id": task.id,
            "message_id": message.id,
            "text": "Also update the index",
        }
    ]
    assert (f"task.{task.id}", {"type": "task.item", "task": task.id, "key": f"message:{message.id}"}) in sent
    assert AuditEvent.objects.get(action="task.message_sent").detail == {"text": "Also update the index"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", sessions.MESSAGE_EMPTY),
        ("   \n ", sessions.MESSAGE_EMPTY),
        ("a\x00b", sessions.MESSAGE_NUL),
        ("x" * (64 * 1024 + 1), sessions.MESSAGE_TOO_LONG),
    ],
)
def test_a_bad_follow_up_is_400_and_nothing_is_sent(alice_client, task, text, error):
    with ringing() as sent:
        response = send(alice_client, task, text, **JSON)
    assert response.status_code == 400 and response.json() == {"error": error}
    assert not TaskMessage.objects.exists() and sent == []


@pytest.mark.parametrize(
    "change",
    [
        {"state": TaskState.SUCCEEDED, "session_state": "ended"},
        {"state": TaskState.FAILED},
        {"session_state": "ended"},
    ],
)
def test_a_finished_or_ended_session_takes_no_follow_up_409(alice_client, task, change):
    Task.objects.filter(id=task.id).update(**change)
    response = send(alice_client, task, "More", **JSON)
    assert response.status_code == 409 and response.json() == {"error": sessions.SESSION_ENDED}
    assert not TaskMessage.objects.exists()


def test_a_session_being_ended_takes_no_follow_up(alice_client, alice, task):
    sessions.task_end(user=alice, task=task)
    assert send(alice_client, task, "More", **JSON).status_code == 409


def test_a_task_that_is_not_a_session_takes_no_follow_up_409(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING)
    response = send(alice_client, task, "More", **JSON)
    assert response.status_code == 409 and response.json() == {"error": sessions.NOT_A_SESSION}


def test_at_most_20_follow_ups_wait_for_the_agent(alice_client, alice, task):
    TaskMessage.objects.bulk_create(
        [TaskMessage(task=task, text=f"m{n}", created_by=alice) for n in range(20)]
    )
    response = send(alice_client, task, "one too many", **JSON)
    assert response.status_code == 429 and response.json() == {"error": sessions.TOO_MANY_WAITING}
    first = TaskMessage.objects.order_by("id").first()
    SessionStream(task.host_id).turn(task.id, "working", message_id=first.id)
    assert send(alice_client, task, "now there is room", **JSON).status_code == 200


def test_a_follow_up_is_sent_again_on_reconnect_until_a_turn_carries_it(alice, task):
    message = sessions.task_message_send(user=alice, task=task, text="Also the index")
    resend = {"type": "task.message", "task_id": task.id, "message_id": message.id, "text": "Also the index"}
    assert services.link_assignments(host_id=task.host_id) == [resend]
    assert services.link_assignments(host_id=task.host_id) == [resend]
    SessionStream(task.host_id).turn(task.id, "working", message_id=message.id)
    assert services.link_assignments(host_id=task.host_id) == []
    message.refresh_from_db()
    assert message.delivered_at is not None


def test_a_follow_up_for_a_queued_session_waits_until_it_starts(alice, project):
    task = make_session(project, alice, state=TaskState.QUEUED, session_state="working")
    with ringing() as sent:
        message = sessions.task_message_send(user=alice, task=task, text="And then this")
    assert to_host(sent, task.host_id) == []
    with ringing() as sent:
        SessionStream(task.host_id).started(task.id)
    assert {
        "type": "task.message",
        "task_id": task.id,
        "message_id": message.id,
        "text": "And then this",
    } in (to_host(sent, task.host_id))


def test_a_refused_form_post_keeps_the_text(alice_client, task):
    Task.objects.filter(id=task.id).update(session_state="ended")
    response = send(alice_client, task, "Keep <me>")
    assert response.status_code == 409
    body = response.content.decode()
    assert "Keep &lt;me&gt;</textarea>" in body and sessions.SESSION_ENDED in page_text(response)


def test_a_form_post_goes_back_to_the_task(alice_client, task):
    response = send(alice_client, task, "More")
    assert response.status_code == 302 and response.url == reverse("task_detail", args=[task.id])


def test_another_teams_task_is_404(charlie, task):
    client = login(Client(), charlie)
    assert send(client, task, "Hello", **JSON).status_code == 404
    assert client.post(reverse("task_interrupt", args=[task.id])).status_code == 404
    assert client.post(reverse("task_end", args=[task.id])).status_code == 404
    assert not TaskMessage.objects.exists()


# Stop turn -------------------------------------------------------------------------------


def test_stop_turn_asks_the_host_while_the_agent_works(alice_client, task):
    Task.objects.filter(id=task.id).update(session_state="working")
    with ringing() as sent:
        response = alice_client.post(reverse("task_interrupt", args=[task.id]), **JSON)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert to_host(sent, task.host_id) == [{"type": "task.interrupt", "task_id": task.id}]


def test_stop_turn_is_409_while_the_agent_waits(alice_client, task):
    with ringing() as sent:
        response = alice_client.post(reverse("task_interrupt", args=[task.id]), **JSON)
    assert response.status_code == 409 and response.json() == {"error": sessions.NOT_WORKING}
    assert sent == []


def test_stop_turn_by_form_goes_back_to_the_task(alice_client, task):
    Task.objects.filter(id=task.id).update(session_state="working")
    response = alice_client.post(reverse("task_interrupt", args=[task.id]))
    assert response.status_code == 302


def test_stop_turn_is_not_sent_again_on_reconnect(alice, task):
    Task.objects.filter(id=task.id).update(session_state="working")
    sessions.task_interrupt(user=alice, task=task)
    assert services.link_assignments(host_id=task.host_id) == []


# End session ---------------------------------------------------------------------------


def test_end_session_asks_the_host_once_and_again_on_reconnect(alice_client, task):
    with ringing() as sent:
        response = alice_client.post(reverse("task_end", args=[task.id]), **JSON)
        again = alice_client.post(reverse("task_end", args=[task.id]), **JSON)
    assert response.status_code == 200 and again.status_code == 200
    assert to_host(sent, task.host_id) == [{"type": "task.end", "task_id": task.id}]
    task.refresh_from_db()
    assert task.end_requested_at is not None and not task.session_open
    assert services.link_assignments(host_id=task.host_id) == [{"type": "task.end", "task_id": task.id}]
    SessionStream(task.host_id).finished(task.id)
    assert services.link_assignments(host_id=task.host_id) == []


def test_end_session_of_a_finished_task_is_409(alice_client, task):
    Task.objects.filter(id=task.id).update(state=TaskState.SUCCEEDED, session_state="ended")
    response = alice_client.post(reverse("task_end", args=[task.id]), **JSON)
    assert response.status_code == 409 and response.json() == {"error": services.ALREADY_FINISHED}


def test_ending_a_session_the_host_never_got_cancels_it(alice_client, alice, project):
    task = make_session(project, alice, state=TaskState.QUEUED, session_state="working")
    with ringing() as sent:
        assert alice_client.post(reverse("task_end", args=[task.id]), **JSON).status_code == 200
    task.refresh_from_db()
    assert (task.state, task.session_state) == ("cancelled", "ended")
    assert to_host(sent, task.host_id) == []


def test_end_session_of_a_command_task_is_409(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING)
    assert alice_client.post(reverse("task_end", args=[task.id]), **JSON).status_code == 409


# CSRF and the second factor --------------------------------------------------------------


def session_posts(task) -> list[tuple[str, dict]]:
    request = ask(task)
    return [
        (reverse("task_permission_answer", args=[task.id, request.id]), {"option_id": "allow"}),
        (reverse("task_message", args=[task.id]), {"text": "More"}),
        (reverse("task_interrupt", args=[task.id]), {}),
        (reverse("task_end", args=[task.id]), {}),
    ]


def test_the_session_posts_need_the_csrf_token(alice, task):
    Task.objects.filter(id=task.id).update(session_state="working")
    client = login(Client(enforce_csrf_checks=True), alice)
    for url, data in session_posts(task):
        assert client.post(url, data, **JSON).status_code == 403, url
    task.refresh_from_db()
    assert task.end_requested_at is None and not TaskMessage.objects.exists()
    assert task.permissions.get().state == "pending"


def test_the_session_posts_pass_with_the_csrf_token(alice, task):
    client = login(Client(enforce_csrf_checks=True), alice)
    client.get(reverse("task_detail", args=[task.id]))
    token = client.cookies["csrftoken"].value
    url, data = session_posts(task)[1]
    response = client.post(
        url, {**data, "csrfmiddlewaretoken": token}, HTTP_ORIGIN="http://testserver", **JSON
    )
    assert response.status_code == 200


def test_the_session_posts_need_the_second_factor(bob, task):
    client = login(Client(), bob, verified=False)
    for url, data in session_posts(task):
        assert client.post(url, data, **JSON).status_code == 403, url
