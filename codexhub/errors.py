"""One error type for services, turned into a response in one place.

A service raises `ServiceError(message, status)` when the caller asked for
something it may not have or that cannot be done; the message is written for
the person reading it. `ServiceErrorMiddleware` answers JSON callers with
`{"error": message}` and pages with the error page, both with the status.
A view that shows the message inside its own form catches it first.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from codexhub.http import wants_json


class ServiceError(Exception):
    """`code` and `extra` serve an API with an error shape of its own (the
    agent's pairing API answers RFC 8628 codes such as "slow_down" and the
    fields that go with them); the middleware answers with the message."""

    def __init__(self, message: str, status: int = 400, *, code: str = "", extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.extra = extra or {}


def error_response(request: HttpRequest, error: ServiceError) -> HttpResponse:
    if wants_json(request):
        response: HttpResponse = JsonResponse({"error": error.message}, status=error.status)
    else:
        response = render(
            request, "error.html", {"message": error.message, "status": error.status}, status=error.status
        )
    if error.status == 429:
        response["Retry-After"] = "60"
    return response


class ServiceErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ServiceError):
            return error_response(request, exception)
        return None
