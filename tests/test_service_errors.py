"""One error type, answered in one place: a ServiceError raised by a service
reaches a page as the error page with its message and status, and a JSON
caller as {"error": message}, without a view catching it."""

import json

from django.http import HttpResponse
from django.test import RequestFactory

from codexhub.errors import ServiceError, ServiceErrorMiddleware

MESSAGE = "No such file."


def answer(path: str, **headers) -> HttpResponse:
    request = RequestFactory().get(path, **headers)
    request.user = None  # the error page renders without a signed-in user's context
    middleware = ServiceErrorMiddleware(lambda request: HttpResponse())
    response = middleware.process_exception(request, ServiceError(MESSAGE, 404))
    assert response is not None
    return response


def test_it_answers_a_page_with_the_error_page(db):
    response = answer("/projects/1/files/x")
    assert response.status_code == 404
    assert "text/html" in response["Content-Type"]
    assert MESSAGE in response.content.decode()


def test_it_answers_the_api_with_json(db):
    response = answer("/api/tasks/1/")
    assert response.status_code == 404
    assert json.loads(response.content) == {"error": MESSAGE}


def test_it_answers_a_page_s_fetch_with_json(db):
    response = answer("/tasks/1/", HTTP_ACCEPT="application/json")
    assert json.loads(response.content) == {"error": MESSAGE}


def test_it_leaves_other_exceptions_to_django(db):
    request = RequestFactory().get("/")
    middleware = ServiceErrorMiddleware(lambda request: HttpResponse())
    assert middleware.process_exception(request, ValueError("boom")) is None


def test_a_missing_file_of_a_visible_project_reads_as_the_message(alice_client, alice):
    from tests.kits.common import make_host
    from tests.kits.task_stream import offering, shared_project

    host, _ = make_host(alice.memberships.get().team, "studio")
    project = shared_project(offering(host))
    response = alice_client.get(f"/projects/{project.id}/files/no/such/file.txt")
    assert response.status_code == 404
    assert MESSAGE in response.content.decode()
