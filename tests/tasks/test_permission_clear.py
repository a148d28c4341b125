# ruff: noqa: F811  (the session fixture, imported, is every test's argument)
"""A permission request answered on the page, by a notification's button on
another device, or closed by its host: its notices are read in every inbox
and taken down from every device they reached."""

import pytest

from notifications import services
from notifications.models import InboxEntry
from tasks import notify, sessions
from tasks.jobs import clear_permission_job
from tasks.services import end_session
from tests.kits.sessions import SessionStream, asking, subscribed

pytestmark = pytest.mark.django_db


def run_clears(jobs_enqueued) -> int:
    clears = [args for name, *args in jobs_enqueued if name == clear_permission_job.name]
    return sum(clear_permission_job.apply(args=args).get() for args in clears)


@pytest.fixture
def asked(alice, session, push_service):
    subscribed(alice, push_service)
    request = asking(session)
    assert notify.notify_permission(request_id=request.id) == 1
    push_service.wait_for(1)
    return request


def test_an_answer_on_the_page_takes_the_notification_down(
    alice, asked, push_service, jobs_enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sessions.permission_answer(user=alice, request=asked, option_id="allow")
    assert run_clears(jobs_enqueued) == 1
    _, clear = push_service.wait_for(2)
    assert clear.json() == {"type": "clear", "tag": f"permission-{asked.id}"}
    assert InboxEntry.objects.get(key=f"permission:{asked.id}").read_at is not None


def test_the_host_closing_it_takes_it_down_too(
    alice,
    asked,
    session,
    push_service,
    jobs_enqueued,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        SessionStream(session.host_id).permission_closed(session.id, "p1", "timed_out", "reject")
    assert run_clears(jobs_enqueued) == 1
    assert push_service.wait_for(2)[1].json()["type"] == "clear"


def test_a_session_that_ends_takes_down_what_it_asked(
    alice,
    asked,
    session,
    push_service,
    jobs_enqueued,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        end_session(session)
    assert run_clears(jobs_enqueued) == 1
    assert push_service.wait_for(2)[1].json() == {"type": "clear", "tag": f"permission-{asked.id}"}


def test_a_pending_request_is_not_cleared_and_a_clear_goes_once(alice, asked, push_service):
    assert notify.clear_permission(request_id=asked.id) == 0  # still waiting for an answer
    asked.state = "answered"
    asked.save()
    assert notify.clear_permission(request_id=asked.id) == 1
    assert notify.clear_permission(request_id=asked.id) == 0  # a redelivered job
    assert len(push_service.wait_for(2)) == 2


def test_someone_never_sent_it_gets_no_clear(alice, bob, asked, push_service):
    subscribed(bob, push_service)
    asked.state = "answered"
    asked.save()
    assert notify.clear_permission(request_id=asked.id) == 1
    assert len(push_service.attempts) == 2  # alice's notice and alice's clear


def test_native_apps_get_a_silent_clear_naming_the_tag(alice, session):
    clear = services.Notice(title="", body="", url="", tag="permission-9", clear=True)
    apns = services.apns_payload(clear)
    assert apns == {"message": None, "content_available": True, "extra": {"clear": "permission-9"}}
    assert services.fcm_payload(clear) == {"extra": {"clear": "permission-9"}}
