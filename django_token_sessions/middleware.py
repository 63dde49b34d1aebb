"""Sets and deletes the refresh cookie, and keeps every answer on our URLs JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from rest_framework import exceptions as drf

from . import transport
from .conf import app_settings
from .exceptions import (
    BadRequest,
    RefreshTokenExposed,
    RequestTooLarge,
    ServerError,
    ServiceUnavailable,
)

logger = logging.getLogger("django_token_sessions")

#: Headers of an error response that still mean something once its body is JSON.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Vary")

#: The ``code`` of an error response that reached us as something other than our JSON (an
#: HTML page of Django's or another framework's), by its status: the code our views answer
#: that status with.
_CODES_BY_STATUS = {
    **{
        error.status_code: error.default_code
        for error in (
            drf.NotAuthenticated,
            drf.PermissionDenied,
            drf.NotFound,
            drf.MethodNotAllowed,
            drf.NotAcceptable,
            drf.UnsupportedMediaType,
            drf.Throttled,
        )
    },
    **{
        ours.status_code: ours.code
        for ours in (BadRequest, RequestTooLarge, ServerError, ServiceUnavailable)
    },
}


class RefreshTokenCookieMiddleware:
    """Applies the marks our views leave on a response, and fails closed at the edge.

    Add it to ``MIDDLEWARE`` (anywhere after ``SessionMiddleware``/``CsrfViewMiddleware``).
    Works under WSGI and ASGI. It never parses or rewrites a body it lets through:

    - A response marked by :func:`~.transport.attach_refresh_token` on the cookie path
      gets ``Set-Cookie``. The view has already left the token out of its data; if the
      body still contains it (a view that put it back, a body that cannot be inspected),
      the body is replaced by a JSON 500 ``refresh_token_exposed``, never passed on.
    - A response marked by :func:`~.transport.clear_refresh_token`, or a 401 to a request
      that authenticated with the cookie (revoked, reused, expired or garbage token),
      deletes the cookie with the attributes it was set with.
    - An error on our URLs that is not JSON (an HTML page Django made before our view
      ran: an unknown sub-path, a request Django refused) becomes ``{"detail", "code"}``
      with the same status.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(self.get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        response = self.get_response(request)
        return self.process_response(request, response)  # type: ignore[arg-type]

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)  # type: ignore[misc]
        return self.process_response(request, response)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        """Apply the marks the view left on ``response``; return the response to send."""
        if response.status_code >= 400 and not _is_json(response) and _is_for_this_app(request):
            response = _as_json_error(response)
        issued = transport.issued_token(response)
        if issued is not None and not transport.delivers_in_body(request):
            token, expires_at = issued
            if _may_expose(response, token):
                logger.error(
                    "token_sessions: a cookie-path response to %s would have exposed the "
                    "refresh token in its body; it was withheld",
                    request.path,
                )
                response = _withheld(response)
            max_age = max(0, int((expires_at - timezone.now()).total_seconds()))
            response.set_cookie(
                app_settings.REFRESH_COOKIE_NAME,
                token,
                max_age=max_age,
                path=transport.cookie_path(),
                domain=app_settings.REFRESH_COOKIE_DOMAIN,
                secure=app_settings.REFRESH_COOKIE_SECURE,
                # HttpOnly is not optional: the check token_sessions.E008 refuses False.
                httponly=True,
                samesite=app_settings.REFRESH_COOKIE_SAMESITE,
            )
        elif transport.must_clear(response) or (
            # The cookie's token was refused: it is dead weight the browser should drop.
            response.status_code == 401 and transport.used_cookie(request)
        ):
            response.delete_cookie(
                app_settings.REFRESH_COOKIE_NAME,
                path=transport.cookie_path(),
                domain=app_settings.REFRESH_COOKIE_DOMAIN,
                samesite=app_settings.REFRESH_COOKIE_SAMESITE,
            )
        return response


def _is_json(response: HttpResponseBase) -> bool:
    content_type = str(response.get("Content-Type", "")).split(";", 1)[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _is_for_this_app(request: HttpRequest) -> bool:
    """True if the request was routed to one of our views, or to no view at all under the
    prefix our URLs are mounted at (another app's view there keeps its own errors)."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return "token_sessions" in match.app_names
    prefix = transport.url_prefix()
    return prefix is not None and request.path.startswith(prefix)


def _may_expose(response: HttpResponseBase, token: str) -> bool:
    """True unless the body is plain bytes we can read and the token is not in them."""
    if getattr(response, "streaming", False):
        return True
    if response.get("Content-Encoding", "identity").strip().lower() != "identity":
        return True  # compressed before it reached us: unreadable, so not provably clean
    content = bytes(getattr(response, "content", b""))
    # The signature alone is what makes a token usable; it is base64url, which neither
    # JSON, HTML nor XML escapes, so any renderer leaves it as is.
    signature = token.rsplit(".", 1)[-1].encode()
    return signature in content


def _json_error(status: int, code: str, detail: str, source: HttpResponseBase) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code}, status=status)
    for header in _KEPT_HEADERS:
        if source.has_header(header):
            response[header] = source[header]
    for morsel in source.cookies.values():
        response.cookies[morsel.key] = morsel
    add_never_cache_headers(response)
    return response


def _as_json_error(response: HttpResponseBase) -> JsonResponse:
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code = _CODES_BY_STATUS.get(status, drf.APIException.default_code)
    return _json_error(status, code, f"{phrase}.", response)


def _withheld(response: HttpResponseBase) -> JsonResponse:
    """The JSON 500 sent in place of ``response``, which would have exposed the token."""
    error = RefreshTokenExposed()
    return _json_error(error.status_code, error.code, error.detail, response)
