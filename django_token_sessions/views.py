"""DRF views over the services. Thin: parse, call a service, shape the response."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from typing import Any

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.middleware.csrf import get_token
from django.utils.cache import add_never_cache_headers
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from . import services, transport
from .authentication import SessionJWTAuthentication
from .device import app_device_label, client_info
from .exceptions import (
    BadRequest,
    InvalidCredentials,
    InvalidRequest,
    RequestTooLarge,
    ServiceUnavailable,
    TokenSessionError,
)
from .models import DeviceSession, RevokeReason
from .parsers import JSONParser
from .serializers import (
    DeviceSessionSerializer,
    LoginSerializer,
    LogoutAllSerializer,
    RefreshSerializer,
    RenameSessionSerializer,
)
from .throttling import LOGIN_THROTTLES


def _suspicious(exc: SuspiciousOperation) -> TokenSessionError:
    """The error a request Django refused while our view read it answers with."""
    # Logged as Django logs the ones it catches itself (django.security.<name>).
    logging.getLogger(f"django.security.{type(exc).__name__}").warning(str(exc))
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return RequestTooLarge("Request body has too many fields.")
    return BadRequest()


def field_errors(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's validation errors as ``{"field": ["message", ...]}``, one level deep: a nested
    field is named by its path (``"device.platform"``), as the schema's ``errors`` says."""
    if not isinstance(data, dict):
        messages = data if isinstance(data, list) else [data]
        if all(not isinstance(message, dict | list) for message in messages):
            return {prefix or "non_field_errors": [str(message) for message in messages]}
        flat: dict[str, list[str]] = {}
        for index, item in enumerate(messages):
            flat.update(field_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    flat = {}
    for key, value in data.items():
        flat.update(field_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _error_body(error: TokenSessionError) -> dict[str, Any]:
    return {"detail": error.detail, "code": error.code}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped so every error body is ``{"detail", "code"}``.

    Validation errors keep their per-field messages under ``"errors"``. Service errors
    (:class:`~.exceptions.TokenSessionError`) become their own status and code; a body
    Django refuses (too large, too many fields) a 413 ``request_too_large``; a lost
    database connection a 503 ``service_unavailable``.
    """
    if isinstance(exc, SuspiciousOperation):
        exc = _suspicious(exc)
    if isinstance(exc, TokenSessionError):
        # No set_rollback() here, unlike DRF's handler: under ATOMIC_REQUESTS that would
        # undo the revocation reuse detection has just written.
        return Response(_error_body(exc), status=exc.status_code)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away (connection dropped, failover, restart): a JSON 503 the
        # client may retry, not Django's HTML 500 page. A retry is safe: a rotation is
        # one UPDATE, so it either ran (the grace window hands the current token out
        # again) or did not. Django logs the 503; the transaction, if any, is dead.
        set_rollback()
        unavailable = ServiceUnavailable()
        return Response(_error_body(unavailable), status=unavailable.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # DRF's handler answers nothing else either: Django's 500 follows
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        response.data = {**_error_body(InvalidRequest()), "errors": field_errors(data)}
    elif isinstance(data, dict) and "code" in data and "detail" in data:
        response.data = {"detail": str(data["detail"]), "code": str(data["code"])}
    else:
        detail = data.get("detail", data) if isinstance(data, dict) else data
        code = getattr(exc.detail, "code", None) if isinstance(exc.detail, str) else None
        response.data = {"detail": str(detail), "code": str(code or exc.default_code)}
    return response


class TokenSessionsAPIView(APIView):
    """Base view: JSON only, our error shape, and bearer auth by session tokens.

    Requests and responses are JSON whatever ``REST_FRAMEWORK`` says: a browsable API
    page of a token response is a page a script can read. A client that accepts nothing
    but HTML gets a JSON 406. No response may be cached (RFC 6749 §5.1).
    """

    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]
    # JSON only: a cross-site HTML form cannot produce application/json, which keeps
    # these endpoints out of reach of form-based CSRF (login CSRF included).
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        """Use :func:`exception_handler` whatever the project's DRF settings say."""
        return exception_handler

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        """DRF's, plus ``Cache-Control: no-store`` on every answer, errors included."""
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    def _validated(self, serializer_class: Any, request: Request) -> dict[str, Any]:
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _current_session_id(self, request: Request) -> Any:
        return getattr(request.auth, "session_id", None)

    def _presented_refresh_token(self, request: Request) -> str | None:
        """The body's ``refresh``, else the cookie's (CSRF-checked), else None.

        A body that does not parse is not an error yet: a browser relying on the cookie
        may send none. It becomes one only if there is no cookie either.
        """
        try:
            data = request.data
            parse_error = None
        except (exceptions.ParseError, exceptions.UnsupportedMediaType) as exc:
            data, parse_error = {}, exc
        body_token = None
        if isinstance(data, dict) and data.get("refresh") not in (None, ""):
            body_token = self._validated(RefreshSerializer, request)["refresh"]
        raw = transport.refresh_token_from(request._request, body_token)
        if raw is None and parse_error is not None:
            raise parse_error
        return raw


def _with_refresh(response: Response, issued: services.IssuedSession) -> Response:
    transport.attach_refresh_token(
        response, issued.tokens.refresh, issued.tokens.refresh_expires_at
    )
    return response


def _token_body(request: Request, issued: services.IssuedSession) -> dict[str, Any]:
    body: dict[str, Any] = {"access": issued.tokens.access}
    # Decided here, before anything renders: on the cookie path the token is never data.
    if transport.delivers_in_body(request._request):
        body["refresh"] = issued.tokens.refresh
    body["access_expires_at"] = issued.tokens.access_expires_at
    return body


class LoginView(TokenSessionsAPIView):
    """POST ``{username, password}`` → 200 ``{access, refresh, access_expires_at, session}``."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = LOGIN_THROTTLES

    def post(self, request: Request) -> Response:
        data = self._validated(LoginSerializer, request)
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None or not getattr(user, "is_active", True):
            raise InvalidCredentials()
        client = client_info(request._request)
        device = data.get("device") or {}
        app_label = app_device_label(device.get("name"), device.get("platform"))
        if app_label:
            client = dataclasses.replace(client, app_label=app_label)
        issued = services.create_session(user, client=client)
        body = _token_body(request, issued)
        body["session"] = DeviceSessionSerializer(
            issued.session, context={"current_session_id": issued.session_id}
        ).data
        if not transport.delivers_in_body(request._request):
            # The page needs a CSRF cookie for its cookie-borne refresh and logout calls.
            get_token(request._request)
        return _with_refresh(Response(body), issued)


class RefreshView(TokenSessionsAPIView):
    """POST ``{refresh}`` → 200 ``{access, refresh, access_expires_at}``; the old token dies."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        raw = self._presented_refresh_token(request)
        if raw is None:
            raise exceptions.ValidationError({"refresh": ["This field is required."]})
        issued = services.rotate_refresh_token(
            raw,
            client=client_info(request._request),
            retry_key=transport.retry_key(request._request),
        )
        return _with_refresh(Response(_token_body(request, issued)), issued)


class LogoutView(TokenSessionsAPIView):
    """POST ``{refresh}`` and/or with a bearer access token → 204; ends this device's session.

    Every session a valid credential of the request names is ended: the refresh token's
    (body, else cookie) and the bearer token's, when both are sent. A 204 therefore means
    that no credential the request carried still opens a live session.
    """

    permission_classes = [AllowAny]

    def perform_authentication(self, request: Request) -> None:
        # Lazy: a stale bearer token must not block a logout by refresh token or cookie.
        pass

    def post(self, request: Request) -> Response:
        raw = self._presented_refresh_token(request)
        # The refresh token first: a refused body token (401) must leave everything as it
        # was, the bearer's session included.
        if raw is not None and transport.used_cookie(request._request):
            # A stale, revoked or garbage cookie never blocks a logout: the session it
            # named is over (a reuse is still recorded by the service); drop the cookie.
            with contextlib.suppress(TokenSessionError):
                services.logout(raw)
        elif raw is not None:
            services.logout(raw)
        try:
            bearer = request.auth
        except exceptions.AuthenticationFailed:
            if raw is None:
                raise
            bearer = None  # a dead access token next to a refresh token names nothing live
        if bearer is not None:
            services.revoke_session(
                self._current_session_id(request), reason=RevokeReason.LOGOUT, user=request.user
            )
        elif raw is None:
            raise exceptions.NotAuthenticated()
        response = Response(status=status.HTTP_204_NO_CONTENT)
        transport.clear_refresh_token(response)
        return response


class LogoutAllView(TokenSessionsAPIView):
    """POST ``{"scope": "all" | "others"}`` with a bearer token → 204."""

    def post(self, request: Request) -> Response:
        data = self._validated(LogoutAllSerializer, request)
        if data["scope"] == "others":
            services.logout_everywhere(
                request.user,
                reason=RevokeReason.LOGOUT_OTHERS,
                keep_session_id=self._current_session_id(request),
            )
            return Response(status=status.HTTP_204_NO_CONTENT)
        services.logout_everywhere(request.user, reason=RevokeReason.LOGOUT_ALL)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        transport.clear_refresh_token(response)
        return response


class SessionListView(TokenSessionsAPIView):
    """GET → 200, the user's active sessions, ``current: true`` on this one."""

    def get(self, request: Request) -> Response:
        sessions = DeviceSession.objects.for_user(request.user).active().order_by("-last_seen_at")
        context = {"current_session_id": self._current_session_id(request)}
        return Response(DeviceSessionSerializer(sessions, many=True, context=context).data)


def _session_id(pk: str) -> uuid.UUID:
    """The session id of the URL; any spelling ``uuid.UUID`` reads (upper case too), else
    a JSON 404 from our view rather than Django's HTML one from the URL resolver."""
    try:
        return uuid.UUID(pk)
    except ValueError:
        raise exceptions.NotFound() from None


class SessionDetailView(TokenSessionsAPIView):
    """PATCH ``{name}`` renames a device (200); DELETE revokes it (204). Others' are 404."""

    def patch(self, request: Request, pk: str) -> Response:
        data = self._validated(RenameSessionSerializer, request)
        session = services.rename_session(request.user, _session_id(pk), data["name"])
        if session is None:
            raise exceptions.NotFound()
        context = {"current_session_id": self._current_session_id(request)}
        return Response(DeviceSessionSerializer(session, context=context).data)

    def delete(self, request: Request, pk: str) -> Response:
        session_id = _session_id(pk)
        if not services.revoke_session(
            session_id, reason=RevokeReason.USER_REVOKED_DEVICE, user=request.user
        ):
            raise exceptions.NotFound()
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if session_id == self._current_session_id(request):
            transport.clear_refresh_token(response)
        return response
