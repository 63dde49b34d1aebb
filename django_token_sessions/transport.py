"""How a refresh token travels: an HttpOnly cookie for browsers, the JSON body for others.

The transport of an answer is decided before anything is rendered: a view asks
:func:`delivers_in_body` and puts ``refresh`` into its data only if the answer is for a
native client. On the cookie path the token never enters the data, so no renderer, content
type or error page can show it. Views (ours, or a team's own views calling the services)
*mark* the response: :func:`attach_refresh_token` when a token was issued,
:func:`clear_refresh_token` when the session ended.
:class:`~.middleware.RefreshTokenCookieMiddleware` sets and deletes the cookie from those
marks; it never parses a body, and it refuses a cookie-path body that contains the token.

The rule that keeps the cookie useful against XSS: a request that authenticated with the
cookie is always answered through the cookie. A script in the page can make the browser
send the cookie, but can never get the refresh token back in a body it can read.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import NoReverseMatch, reverse

from .conf import app_settings
from .exceptions import CsrfFailed, InvalidRequest

#: Request header a native client sends to get the refresh token in the JSON body.
TRANSPORT_HEADER = "X-Token-Transport"

_RESPONSE_TOKEN = "token_sessions_refresh"
_RESPONSE_CLEAR = "token_sessions_clear"
_REQUEST_TRANSPORT = "token_sessions_transport"


def url_prefix() -> str | None:
    """The path the app's URLs are mounted at (``"/api/auth/"``), None if not mounted."""
    try:
        login = reverse("token_sessions:login")
    except NoReverseMatch:
        return None
    return login.rstrip("/").rsplit("/", 1)[0] + "/"


def cookie_path() -> str:
    """``REFRESH_COOKIE_PATH``, or the prefix the app's URLs are mounted at."""
    if app_settings.REFRESH_COOKIE_PATH:
        return app_settings.REFRESH_COOKIE_PATH
    return url_prefix() or "/"


def requested_transport(request: HttpRequest) -> str:
    """``"cookie"`` or ``"body"`` for a request that presented no refresh token (login).

    The deployment's ``REFRESH_TOKEN_TRANSPORT`` decides, unless ``ALLOW_BODY_TRANSPORT``
    lets the client ask for the body with ``X-Token-Transport: body``.
    """
    chosen = getattr(request, _REQUEST_TRANSPORT, None)
    if chosen:
        return str(chosen)
    header = request.headers.get(TRANSPORT_HEADER, "").strip().lower()
    if header == "body" and app_settings.ALLOW_BODY_TRANSPORT:
        return "body"
    return app_settings.REFRESH_TOKEN_TRANSPORT


def set_request_transport(request: HttpRequest, transport: str) -> None:
    """Pin the transport of this request's answer (the one its token arrived by)."""
    setattr(request, _REQUEST_TRANSPORT, transport)


def delivers_in_body(request: HttpRequest) -> bool:
    """True if a refresh token issued to this request goes in the JSON body.

    Decided from the request alone, before the view builds its data: a token that came
    in the body is answered in the body, one that came by cookie (and a login on the
    cookie transport) is answered only through the cookie.
    """
    return requested_transport(request) == "body"


def used_cookie(request: HttpRequest) -> bool:
    """True if this request's refresh token came from the cookie (and passed CSRF)."""
    return getattr(request, _REQUEST_TRANSPORT, None) == "cookie"


def cookie_token(request: HttpRequest) -> str | None:
    """The refresh token from the cookie, if the request carries one."""
    value = request.COOKIES.get(app_settings.REFRESH_COOKIE_NAME)
    return value or None


def refresh_token_from(request: HttpRequest, body_token: Any) -> str | None:
    """The refresh token a refresh/logout request presents: the body's, else the cookie's.

    A cookie-borne token is CSRF-checked first (the cookie is ambient: a cross-site form
    would send it too); a body token is not, a page cannot be tricked into sending it.
    Raises :class:`~.exceptions.CsrfFailed`.
    """
    if body_token:
        set_request_transport(request, "body")
        return str(body_token)
    token = cookie_token(request)
    if token is None:
        return None
    enforce_csrf(request)
    set_request_transport(request, "cookie")
    return token


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> Any:
        return reason


#: The request header that carries a refresh's retry key (the IETF draft's idempotency key).
RETRY_KEY_HEADER = "Idempotency-Key"
#: A retry key is 16 to 255 visible ASCII characters: room for a UUID or 128 random bits,
#: in any encoding.
RETRY_KEY_MIN_LENGTH, RETRY_KEY_MAX_LENGTH = 16, 255
_RETRY_KEY = re.compile(rf"[!-~]{{{RETRY_KEY_MIN_LENGTH},{RETRY_KEY_MAX_LENGTH}}}")


def retry_key(request: HttpRequest) -> str | None:
    """The refresh's retry key (``Idempotency-Key``), or None if the request sent none.

    A client makes a fresh key for each refresh and sends the same key again only when it
    retries that refresh because the response was lost; with it, the retry gets the pair
    the lost response carried even past the grace window. A malformed key is refused
    (400 ``invalid_request``) rather than ignored, so a client never believes it is
    protected when it is not.
    """
    value = request.headers.get(RETRY_KEY_HEADER)
    if value is None:
        return None
    if not _RETRY_KEY.fullmatch(value):
        raise InvalidRequest(
            f"{RETRY_KEY_HEADER} must be {RETRY_KEY_MIN_LENGTH} to {RETRY_KEY_MAX_LENGTH} "
            "visible ASCII characters (a UUID will do)."
        )
    return value


def enforce_csrf(request: HttpRequest) -> None:
    """Run Django's CSRF check (token, Origin, Referer) now, whatever view decorators say."""
    check = _CsrfCheck(lambda req: None)  # type: ignore[arg-type]
    check.process_request(request)
    reason = check.process_view(request, None, (), {})  # type: ignore[arg-type]
    if reason:
        raise CsrfFailed(f"CSRF check failed: {reason}")


def attach_refresh_token(response: HttpResponseBase, token: str, expires_at: datetime) -> None:
    """Mark ``response`` as carrying a newly issued refresh token for the middleware."""
    setattr(response, _RESPONSE_TOKEN, (token, expires_at))


def clear_refresh_token(response: HttpResponseBase) -> None:
    """Mark ``response`` so the middleware deletes the refresh cookie."""
    setattr(response, _RESPONSE_CLEAR, True)


def issued_token(response: HttpResponseBase) -> tuple[str, datetime] | None:
    """The token :func:`attach_refresh_token` put on ``response``, if any."""
    value: tuple[str, datetime] | None = getattr(response, _RESPONSE_TOKEN, None)
    return value


def must_clear(response: HttpResponseBase) -> bool:
    """True if :func:`clear_refresh_token` marked ``response``."""
    return bool(getattr(response, _RESPONSE_CLEAR, False))
