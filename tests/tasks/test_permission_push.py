"""An agent session's notifications: a permission request (who is asked, what
the push carries: Allow / Reject buttons with user-bound tokens, and answering
with such a button through POST /api/push/answer/), and the end of a turn."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role
from codexhub.errors import ServiceError
from devices.models import Host
from notifications import services
from notifications.models import Preference
from tasks import notify
from tasks.models import PermissionRequest, TaskState
from tests.kits.common import login
from tests.kits.sessions import OPTIONS, asking, subscribed

pytestmark = pytest.mark.django_db


def answer(client: Client, token: str):
    return client.post(
        reverse("api_permission_answer"), json.dumps({"token": token}), content_type="application/json"
    )


def test_the_sender_gets_allow_and_reject_buttons(alice, session, push_service):
    subscribed(alice, push_service)
    request = asking(session)
    assert notify.notify_permission(request_id=request.id) == 1
    (push,) = push_service.wait_for(1)
    body = push.json()
    assert body["title"] == "Agent asks: Edit notes.md"
    assert body["body"] == "notes on studio · Add a line to the notes"
    assert body["url"] == f"/tasks/{session.id}/#permission-{request.id}"
    assert body["tag"] == f"permission-{request.id}"
    assert [(a["action"], a["title"]) for a in body["actions"]] == [
        ("option-0", "Allow once"),
        ("option-1", "Reject"),
    ]
    tokens = [a["token"] for a in body["actions"]]
    assert notify.answer_from_token(user=alice, token=tokens[0]) == (request.id, "allow")
    assert notify.answer_from_token(user=alice, token=tokens[1]) == (request.id, "reject")


def test_always_options_stand_in_when_there_is_no_once(alice):
    options = [
        {"option_id": "yes", "name": "Always", "kind": "allow_always"},
        {"option_id": "no", "name": "Never", "kind": "reject_always"},
    ]
    assert [o["option_id"] for o in notify._push_options(options)] == ["yes", "no"]
    assert notify._push_options([{"option_id": "x", "name": "X", "kind": "other"}]) == []


def test_the_same_request_is_pushed_once_per_device(alice, session, push_service):
    subscribed(alice, push_service)
    request = asking(session)
    assert notify.notify_permission(request_id=request.id) == 1
    assert notify.notify_permission(request_id=request.id) == 0  # a redelivered job
    push_service.wait_for(1)
    assert len(push_service.attempts) == 1


def test_an_answered_request_is_not_pushed(alice, session, push_service):
    subscribed(alice, push_service)
    request = asking(session)
    PermissionRequest.objects.filter(id=request.id).update(state="answered", option_id="allow")
    assert notify.notify_permission(request_id=request.id) == 0


def test_the_preference_turns_it_off(alice, session, push_service):
    subscribed(alice, push_service)
    Preference.objects.update_or_create(user=alice, defaults={"permission_asked": False})
    assert notify.notify_permission(request_id=asking(session).id) == 0


def test_managers_are_asked_when_the_sender_may_not_answer(team_a, alice, bob, session, push_service):
    """alice sent the task as a member; the host lets only owners and admins answer."""
    Membership.objects.filter(team=team_a, user=alice).update(role=Role.MEMBER)
    Membership.objects.update_or_create(team=team_a, user=bob, defaults={"role": Role.ADMIN})
    Host.objects.filter(id=session.host_id).update(approve_role="admin")
    subscribed(alice, push_service)
    subscribed(bob, push_service)
    request = asking(session)
    assert notify.notify_permission(request_id=request.id) == 1
    (push,) = push_service.wait_for(1)
    token = push.json()["actions"][0]["token"]
    assert notify.answer_from_token(user=bob, token=token) == (request.id, "allow")
    with pytest.raises(ServiceError) as refused:
        notify.answer_from_token(user=alice, token=token)
    assert refused.value.status == 403


def test_apns_gets_the_permission_category(alice, session):
    request = asking(session)
    message = notify.permission_message(request, alice)
    assert services.apns_payload(message)["category"] == services.PERMISSION_CATEGORY
    assert services.fcm_payload(message)["extra"]["category"] == services.PERMISSION_CATEGORY
    assert "category" not in services.apns_payload(notify.task_message(session))


def test_a_button_answers_for_the_signed_in_user(
    alice, alice_client, session, django_capture_on_commit_callbacks
):
    request = asking(session)
    token = notify.answer_token(request, alice, OPTIONS[2])
    client = Client(enforce_csrf_checks=True)  # the worker sends no CSRF token
    client.cookies = alice_client.cookies
    with django_capture_on_commit_callbacks(execute=True):
        response = answer(client, token)
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "task": session.id, "option_id": "reject"}
    request.refresh_from_db()
    assert (request.state, request.option_id, request.answered_by) == ("answered", "reject", alice)
    again = answer(client, token)
    assert again.status_code == 409 and again.json()["error"]


def test_a_button_refuses_another_users_token(alice, bob, team_a, session):
    Membership.objects.update_or_create(team=team_a, user=bob, defaults={"role": Role.OWNER})
    request = asking(session)
    response = answer(login(Client(), bob), notify.answer_token(request, alice, OPTIONS[0]))
    assert response.status_code == 403 and "someone else" in response.json()["error"]
    request.refresh_from_db()
    assert request.state == "pending"


@pytest.mark.parametrize("token", ["", "x" * 2000, "not-signed", 42, None])
def test_a_forged_token_is_refused(alice_client, session, token):
    request = asking(session)
    response = answer(alice_client, token)
    assert response.status_code == 400 and response.json()["error"] == "That answer is not one this hub sent."
    request.refresh_from_db()
    assert request.state == "pending"


def test_a_tampered_token_is_refused(alice, alice_client, session):
    request = asking(session)
    token = notify.answer_token(request, alice, OPTIONS[2])
    payload, rest = token.split(":", 1)
    forged = notify.answer_token(request, alice, {"option_id": "allow"}).split(":", 1)[0] + ":" + rest
    assert answer(alice_client, forged).status_code == 400
    request.refresh_from_db()
    assert request.state == "pending"


def test_an_old_notification_cannot_answer(alice, alice_client, session, settings):
    request = asking(session)
    token = notify.answer_token(request, alice, OPTIONS[0])
    later = timezone.now() + timedelta(seconds=settings.PERMISSION_ANSWER_MAX_AGE + 60)
    with time_machine.travel(later):
        response = answer(alice_client, token)
    assert response.status_code == 410 and "too old" in response.json()["error"]


def test_signed_out_the_button_says_so(alice, session):
    request = asking(session)
    response = answer(Client(), notify.answer_token(request, alice, OPTIONS[0]))
    assert response.status_code == 401 and response.json()["error"] == "Sign in to answer: open the task."


def test_a_request_of_another_team_is_not_found(charlie, session):
    """charlie holds a token for a request he cannot see (say he left the team)."""
    request = asking(session)
    response = answer(login(Client(), charlie), notify.answer_token(request, charlie, OPTIONS[0]))
    assert response.status_code == 404


def test_the_end_of_a_turn_tells_the_sender(alice, session, push_service):
    subscribed(alice, push_service)
    assert notify.notify_turn(task_id=session.id, turn=1) == 1
    assert notify.notify_turn(task_id=session.id, turn=1) == 0  # a redelivered job
    (push,) = push_service.wait_for(1)
    assert push.json() == {
        "title": "Your turn · Add a line to the notes",
        "body": "The agent waits for your message in notes on studio",
        "url": f"/tasks/{session.id}/",
        "tag": f"task-{session.id}",
    }
    assert notify.notify_turn(task_id=session.id, turn=2) == 1


def test_the_end_of_a_turn_follows_the_finished_tasks_preference(alice, session, push_service):
    subscribed(alice, push_service)
    Preference.objects.update_or_create(user=alice, defaults={"task_succeeded": False})
    assert notify.notify_turn(task_id=session.id, turn=1) == 0


def test_an_ended_session_has_no_turn_to_announce(alice, session, push_service):
    subscribed(alice, push_service)
    session.state = TaskState.SUCCEEDED
    session.save(update_fields=["state"])
    assert notify.notify_turn(task_id=session.id, turn=1) == 0
