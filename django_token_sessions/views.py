"""DRF views over the services. Thin: parse, call a service, shape the response."""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib.auth import authenticate
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.middleware.csrf import get_token
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from . import legacy, services, transport
from .authentication import SessionJWTAuthentication
from .device import client_info
from .exceptions import InvalidCredentials, TokenSessionError
from .models import DeviceSession, RevokeReason
from .serializers import (
    DeviceSessionSerializer,
    LoginSerializer,
    LogoutAllSerializer,
    RefreshSerializer,
    RenameSessionSerializer,
)
from .throttling import LoginRateThrottle

_CODES_BY_CLASS = {
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid_request",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped so every error body is ``{"detail", "code"}``.

    Validation errors keep their per-field messages under ``"errors"``. Service errors
    (:class:`~.exceptions.TokenSessionError`) become their own status and code; a lost
    database connection a 503 ``service_unavailable``.
    """
    if isinstance(exc, TokenSessionError):
        # No set_rollback() here, unlike DRF's handler: under ATOMIC_REQUESTS that would
        # undo the revocation reuse detection has just written.
        return Response({"detail": exc.detail, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away (connection dropped, failover, restart): a JSON 503 the
        # client may retry, not Django's HTML 500 page. A retry is safe: a rotation is
        # one UPDATE, so it either ran (the grace window hands the current token out
        # again) or did not. Django logs the 503; the transaction, if any, is dead.
        set_rollback()
        return Response(
            {"detail": "Service temporarily unavailable.", "code": "service_unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = next((c for k, c in _CODES_BY_CLASS.items() if isinstance(exc, k)), "error")
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid request.", "code": code, "errors": data}
    elif isinstance(data, dict) and "code" in data and "detail" in data:
        response.data = {"detail": str(data["detail"]), "code": str(data["code"])}
    else:
        detail = data.get("detail", data) if isinstance(data, dict) else data
        if isinstance(exc, exceptions.APIException) and isinstance(exc.detail, str):
            code = str(getattr(exc.detail, "code", None) or code)
        response.data = {"detail": str(detail), "code": code}
    return response


class TokenSessionsAPIView(APIView):
    """Base view: JSON only, our error shape, and bearer auth by session tokens."""

    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]
    # JSON only: a cross-site HTML form cannot produce application/json, which keeps
    # these endpoints out of reach of form-based CSRF (login CSRF included).
    parser_classes = [JSONParser]

    def get_exception_handler(self) -> Any:
        """Use :func:`exception_handler` whatever the project's DRF settings say."""
        return exception_handler

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


def _token_body(issued: services.IssuedSession) -> dict[str, Any]:
    return {
        "access": issued.tokens.access,
        "refresh": issued.tokens.refresh,
        "access_expires_at": issued.tokens.access_expires_at,
    }


class LoginView(TokenSessionsAPIView):
    """POST ``{username, password}`` → 200 ``{access, refresh, access_expires_at, session}``."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    def post(self, request: Request) -> Response:
        data = self._validated(LoginSerializer, request)
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None or not getattr(user, "is_active", True):
            raise InvalidCredentials()
        issued = services.create_session(user, client=client_info(request._request))
        body = _token_body(issued)
        body["session"] = DeviceSessionSerializer(
            issued.session, context={"current_session_id": issued.session_id}
        ).data
        if transport.requested_transport(request._request) == "cookie":
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
        # Rotation; with ACCEPT_LEGACY_REFRESH_TOKENS on, a plain simplejwt token is adopted.
        issued = legacy.rotate_or_exchange(raw, client=client_info(request._request))
        return _with_refresh(Response(_token_body(issued)), issued)


class LogoutView(TokenSessionsAPIView):
    """POST ``{refresh}`` or with a bearer access token → 204; ends this device's session."""

    permission_classes = [AllowAny]

    def perform_authentication(self, request: Request) -> None:
        # Lazy: a stale bearer token must not block a logout by refresh token or cookie.
        pass

    def post(self, request: Request) -> Response:
        raw = self._presented_refresh_token(request)
        if raw is not None and transport.used_cookie(request._request):
            # A stale, revoked or garbage cookie never blocks a logout: the session it
            # named is over (a reuse is still recorded by the service); drop the cookie.
            with contextlib.suppress(TokenSessionError):
                services.logout(raw)
        elif raw is not None:
            services.logout(raw)
        elif request.auth is not None:
            services.revoke_session(
                self._current_session_id(request), reason=RevokeReason.LOGOUT, user=request.user
            )
        else:
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


class SessionDetailView(TokenSessionsAPIView):
    """PATCH ``{name}`` renames a device (200); DELETE revokes it (204). Others' are 404."""

    def patch(self, request: Request, pk: Any) -> Response:
        data = self._validated(RenameSessionSerializer, request)
        session = services.rename_session(request.user, pk, data["name"])
        if session is None:
            raise exceptions.NotFound()
        context = {"current_session_id": self._current_session_id(request)}
        return Response(DeviceSessionSerializer(session, context=context).data)

    def delete(self, request: Request, pk: Any) -> Response:
        if not services.revoke_session(
            pk, reason=RevokeReason.USER_REVOKED_DEVICE, user=request.user
        ):
            raise exceptions.NotFound()
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if str(pk) == str(self._current_session_id(request)):
            transport.clear_refresh_token(response)
        return response
