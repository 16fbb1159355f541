"""The one place where domain errors (:mod:`annotations.errors`) become HTTP answers:
for the pages (a middleware) and for the REST API (DRF's exception handler). A view that
wants a friendlier answer (a message and a redirect) catches the error itself; whatever
it does not catch ends here, with the status the error means, never as a 500."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.defaults import page_not_found
from rest_framework.exceptions import APIException
from rest_framework.views import exception_handler as drf_exception_handler

from annotations.errors import DomainError


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError):
            return None
        if exception.status == 404:
            return page_not_found(request, Http404(str(exception)))
        return render(request, "error.html", {"message": str(exception)}, status=exception.status)


class _DomainAPIError(APIException):
    def __init__(self, error: DomainError):
        self.status_code = error.status
        super().__init__(detail=str(error), code=error.code)


def api_exception_handler(exc, context):
    """DRF's handler, with domain errors answered as ``{"detail": message}`` and their status."""
    if isinstance(exc, DomainError):
        exc = _DomainAPIError(exc)
    return drf_exception_handler(exc, context)
