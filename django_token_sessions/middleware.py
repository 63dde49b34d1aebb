"""Puts issued refresh tokens in an HttpOnly cookie and out of the JSON body."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from . import transport
from .conf import app_settings


class RefreshTokenCookieMiddleware:
    """Moves refresh tokens between JSON bodies and the refresh cookie.

    Add it to ``MIDDLEWARE`` (anywhere after ``SessionMiddleware``/``CsrfViewMiddleware``).
    Works under WSGI and ASGI.

    - A response marked by :func:`~.transport.attach_refresh_token` whose request uses
      the cookie transport gets ``Set-Cookie`` and loses the ``refresh`` JSON field.
    - A response marked by :func:`~.transport.clear_refresh_token`, or a 401 to a request
      that authenticated with the cookie (revoked, reused, expired or garbage token),
      deletes the cookie with the attributes it was set with.
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
        self.process_response(request, response)  # type: ignore[arg-type]
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)  # type: ignore[misc]
        self.process_response(request, response)
        return response  # type: ignore[no-any-return]

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> None:
        """Apply the marks the view left on ``response``."""
        issued = transport.issued_token(response)
        cookie_request = transport.requested_transport(request) == "cookie"
        if issued is not None and cookie_request:
            token, expires_at = issued
            _strip_refresh_field(response)
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


def _strip_refresh_field(response: HttpResponseBase) -> None:
    if getattr(response, "streaming", False):
        return
    content = getattr(response, "content", b"")
    try:
        data = json.loads(content)
    except (ValueError, TypeError):
        return
    if isinstance(data, dict) and "refresh" in data:
        del data["refresh"]
        response.content = json.dumps(data).encode()  # type: ignore[attr-defined]
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
