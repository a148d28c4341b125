"""Answering an agent's permission request from the phone: only people the
host allows, only offered options, only once; the host hears the answer after
the commit, and again on each reconnect until it reports the request closed."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from codexhub.errors import ServiceError
from devices.models import ApproveRole, Host
from tasks import services, sessions
from tasks.models import PermissionRequest, Task, TaskState
from tests.kits.common import login, page_text
from tests.kits.sessions import SessionStream, ask, make_session, ringing, to_host

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def task(project, alice):
    return make_session(project, alice, session_state="working")


@pytest.fixture
def request_(task):
    return ask(task)


@pytest.fixture
def bob_client(bob):
    return login(Client(), bob)


def answer(client, request, option_id="allow", **headers):
    url = reverse("task_permission_answer", args=[request.task_id, request.id])
    return client.post(url, {"option_id": option_id}, **headers)


def admins_only(host: Host) -> None:
    Host.objects.filter(id=host.id).update(approve_role=ApproveRole.ADMIN)


def test_a_member_answers_when_the_host_lets_members(bob_client, bob, request_, task):
    with ringing() as sent:
        response = answer(bob_client, request_, "always", **JSON)
    assert response.status_code == 200 and response.json() == {"ok": True}
    request_.refresh_from_db()
    assert (request_.state, request_.option_id, request_.answered_by) == ("answered", "always", bob)
    assert to_host(sent, task.host_id) == [
        {"type": "task.answer", "task_id": task.id, "request_id": "p1", "option_id": "always"}
    ]
    event = {"type": "task.permission", "task": task.id, "request": request_.id, "state": "answered"}
    assert (f"task.{task.id}", event) in sent
    audit = AuditEvent.objects.get(action="task.permission_answered")
    assert audit.actor == bob and audit.detail["option"] == "always"


def test_a_member_is_refused_when_only_admins_may_answer(bob_client, request_, task):
    admins_only(task.host)
    with ringing() as sent:
        response = answer(bob_client, request_, **JSON)
    assert response.status_code == 403
    assert response.json() == {"error": sessions.ONLY_MANAGERS_ANSWER}
    assert to_host(sent, task.host_id) == []
    request_.refresh_from_db()
    assert request_.state == "pending"


def test_an_owner_answers_when_only_admins_may(alice_client, request_, task):
    admins_only(task.host)
    assert answer(alice_client, request_, **JSON).status_code == 200


def test_the_page_tells_a_member_who_may_answer(bob_client, request_, task):
    admins_only(task.host)
    body = page_text(bob_client.get(reverse("task_detail", args=[task.id])))
    assert "Only the team's owners and admins can answer for Studio." in body
    assert 'value="allow"' not in body


def test_an_option_the_agent_did_not_offer_is_400(alice_client, request_):
    response = answer(alice_client, request_, "sudo", **JSON)
    assert response.status_code == 400 and response.json() == {"error": sessions.NOT_AN_OPTION}
    assert answer(alice_client, request_, "", **JSON).status_code == 400


def test_a_second_answer_is_409_and_the_first_stands(alice_client, bob_client, request_, task):
    assert answer(bob_client, request_, "allow", **JSON).status_code == 200
    with ringing() as sent:
        response = answer(alice_client, request_, "reject", **JSON)
    assert response.status_code == 409
    assert response.json() == {"error": "Already answered: bob@example.com chose Allow once."}
    assert to_host(sent, task.host_id) == []
    request_.refresh_from_db()
    assert request_.option_id == "allow"


def test_a_closed_request_is_409(alice_client, request_):
    PermissionRequest.objects.filter(id=request_.id).update(
        state="closed", outcome="timed_out", option_id="reject", timeout_seconds=600
    )
    response = answer(alice_client, request_, **JSON)
    assert response.status_code == 409
    assert response.json() == {"error": "Already answered: No answer in 10 min: rejected."}


def test_a_request_of_a_finished_task_is_409(alice_client, request_, task):
    Task.objects.filter(id=task.id).update(state=TaskState.FAILED)
    response = answer(alice_client, request_, **JSON)
    assert response.status_code == 409 and response.json() == {"error": sessions.NOT_RUNNING}


def test_another_teams_user_gets_404(charlie, request_):
    client = login(Client(), charlie)
    assert answer(client, request_, **JSON).status_code == 404
    with pytest.raises(ServiceError) as refused:
        sessions.permission_answer(user=charlie, request=request_, option_id="allow")
    assert refused.value.status == 404
    request_.refresh_from_db()
    assert request_.state == "pending"


def test_a_request_of_another_task_is_404(alice_client, alice, project, request_):
    other = make_session(project, alice)
    url = reverse("task_permission_answer", args=[other.id, request_.id])
    assert alice_client.post(url, {"option_id": "allow"}).status_code == 404


def test_a_form_post_answers_and_goes_back_to_the_task(alice_client, request_, task):
    response = answer(alice_client, request_)
    assert response.status_code == 302 and response.url == reverse("task_detail", args=[task.id])


def test_a_refused_form_post_shows_the_page_with_the_reason(bob_client, request_, task):
    admins_only(task.host)
    response = answer(bob_client, request_)
    assert response.status_code == 403
    assert sessions.ONLY_MANAGERS_ANSWER in page_text(response)


def test_answering_needs_the_second_factor(bob, request_):
    client = login(Client(), bob, verified=False)
    assert answer(client, request_, **JSON).status_code == 403
    request_.refresh_from_db()
    assert request_.state == "pending"


def test_the_answer_is_sent_again_on_reconnect_until_the_host_closes_it(alice, request_, task):
    sessions.permission_answer(user=alice, request=request_, option_id="allow")
    resend = {"type": "task.answer", "task_id": task.id, "request_id": "p1", "option_id": "allow"}
    assert resend in services.link_assignments(host_id=task.host_id)
    assert resend in services.link_assignments(host_id=task.host_id)
    SessionStream(task.host_id).permission_closed(task.id, "p1", "selected", "allow")
    assert resend not in services.link_assignments(host_id=task.host_id)
    request_.refresh_from_db()
    assert (request_.state, request_.outcome, request_.answered_by) == ("closed", "selected", alice)


def test_may_answer_follows_the_hosts_setting(alice, bob, charlie, task):
    host = task.host
    assert sessions.may_answer(user=bob, host=host) and sessions.may_answer(user=alice, host=host)
    assert not sessions.may_answer(user=charlie, host=host)
    admins_only(host)
    host.refresh_from_db()
    assert not sessions.may_answer(user=bob, host=host) and sessions.may_answer(user=alice, host=host)


# The host page: who may answer -------------------------------------------------------


def test_an_owner_sets_who_may_answer_on_the_host_page(alice_client, task):
    url = reverse("host_approvals", args=[task.host_id])
    response = alice_client.post(url, {"approve_role": "admin"})
    assert response.status_code == 302
    assert Host.objects.get(id=task.host_id).approve_role == "admin"
    assert AuditEvent.objects.get(action="host.approve_role_changed").detail == {
        "old": "member",
        "new": "admin",
    }
    body = page_text(alice_client.get(reverse("host_detail", args=[task.host_id])))
    assert "Only owners and admins" in body


def test_a_member_cannot_change_who_may_answer(bob_client, task):
    response = bob_client.post(reverse("host_approvals", args=[task.host_id]), {"approve_role": "member"})
    assert response.status_code == 403


def test_an_unknown_role_is_refused(alice_client, task):
    response = alice_client.post(reverse("host_approvals", args=[task.host_id]), {"approve_role": "anyone"})
    assert response.status_code == 400
    assert Host.objects.get(id=task.host_id).approve_role == "member"
