# drf-spectacular's OpenApiExtension.__init_subclass__ (its registry) is untyped.
# mypy: disable-error-code="no-untyped-call"
"""OpenAPI 3 description of the endpoints, for drf-spectacular (the ``schema`` extra).

:class:`~.apps.TokenSessionsConfig` imports this module only when drf-spectacular is
installed; nothing else does, so the views never depend on it. The extensions document
the views from the outside: each one swaps its view for a subclass carrying
``extend_schema`` (drf-spectacular's ``OpenApiViewExtension``), and the bearer scheme is
registered for :class:`~.authentication.SessionJWTAuthentication` and its subclasses.

Every error body is ``{"detail", "code"}`` (:func:`.views.exception_handler`); each status
lists the exact ``code`` values it can carry, so clients can branch on them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions as drf

from .conf import app_settings
from .exceptions import (
    ACCESS_TOKEN_ERRORS,
    REFRESH_TOKEN_ERRORS,
    BadRequest,
    CsrfFailed,
    InvalidCredentials,
    InvalidRequest,
    RequestTooLarge,
    ServiceUnavailable,
)
from .serializers import (
    DeviceSessionSerializer,
    LoginResponseSerializer,
    LoginSerializer,
    LogoutAllSerializer,
    RenameSessionSerializer,
    TokenResponseSerializer,
)
from .transport import TRANSPORT_HEADER

TAGS = ["token-sessions"]

#: simplejwt's code for an ``Authorization`` header that is not ``Bearer <token>``
#: (``JWTAuthentication.get_raw_token``; it has no exception class of its own).
BAD_AUTHORIZATION_HEADER = "bad_authorization_header"

#: The codes of a 400: a body that fails validation (with per-field ``errors``), no JSON,
#: or a request Django itself refuses as malformed.
BAD_REQUEST = (InvalidRequest.code, drf.ParseError.default_code, BadRequest.code)
#: The codes of a 401 to a bearer access token (``Authorization: Bearer <access>``).
BEARER_FAILURES = (
    drf.NotAuthenticated.default_code,
    BAD_AUTHORIZATION_HEADER,
    *(error.code for error in ACCESS_TOKEN_ERRORS),
)
#: The codes of a 401 to a refresh token (refresh and logout).
REFRESH_FAILURES = tuple(error.code for error in REFRESH_TOKEN_ERRORS)


def error_schema(codes: tuple[str, ...], *, with_errors: bool = False) -> dict[str, Any]:
    """The JSON schema of an error body whose ``code`` is one of ``codes``."""
    properties: dict[str, Any] = {
        "detail": {"type": "string", "description": "Human-readable message; may be translated."},
        "code": {
            "type": "string",
            "enum": sorted(set(codes)),
            "description": "Stable, machine-readable error code: branch on this, not on detail.",
        },
    }
    if with_errors:
        properties["errors"] = {
            "type": "object",
            "description": "With `invalid_request`: the messages of each invalid field.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }
    return {"type": "object", "properties": properties, "required": ["detail", "code"]}


def _error(description: str, *codes: str, with_errors: bool = False) -> OpenApiResponse:
    return OpenApiResponse(
        response=error_schema(codes, with_errors=with_errors), description=description
    )


_BAD_REQUEST = _error(
    "The body is not JSON (`parse_error`) or fails validation (`invalid_request`, with `errors`).",
    *BAD_REQUEST,
    with_errors=True,
)
_UNSUPPORTED = _error("The body is not `application/json`.", drf.UnsupportedMediaType.default_code)
_NOT_ACCEPTABLE = _error(
    "The `Accept` header excludes `application/json`: every answer is JSON.",
    drf.NotAcceptable.default_code,
)
_TOO_LARGE = _error(
    "The body is over `DATA_UPLOAD_MAX_MEMORY_SIZE` or has more fields than "
    "`DATA_UPLOAD_MAX_NUMBER_FIELDS` allows.",
    RequestTooLarge.code,
)
_SESSION_ID = OpenApiParameter(
    name="id",
    location=OpenApiParameter.PATH,
    type=OpenApiTypes.UUID,
    description="The session's id, as the session list gives it (any letter case).",
)
_RETRY_AFTER = OpenApiParameter(
    name="Retry-After",
    location=OpenApiParameter.HEADER,
    type=OpenApiTypes.INT,
    response=[429],
    description="Seconds until the next attempt may succeed.",
)
_BEARER_401 = _error(
    "No, or a refused, bearer access token. `session_revoked` takes effect on the very "
    "next request after a logout or revocation.",
    *BEARER_FAILURES,
)
_UNAVAILABLE = _error(
    "The database is unreachable (connection lost, failover); the request may be retried.",
    ServiceUnavailable.code,
)
_NOT_FOUND = _error(
    "No active session with this id among the user's own.", drf.NotFound.default_code
)


def _refresh_cookie() -> OpenApiParameter:
    # The name is a setting: read it when the schema is generated, not at import.
    return OpenApiParameter(
        name=app_settings.REFRESH_COOKIE_NAME,
        location=OpenApiParameter.COOKIE,
        type=OpenApiTypes.STR,
        required=False,
        description=(
            "The refresh token, as set by login with the cookie transport (HttpOnly). Used "
            "when the body has no `refresh`; the request must then pass Django's CSRF check "
            "(the CSRF token in the `X-CSRFToken` header, or a same-origin `Origin`), "
            "else 403 `csrf_failed`."
        ),
    )


def _set_cookie(*statuses: int, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name="Set-Cookie",
        location=OpenApiParameter.HEADER,
        type=OpenApiTypes.STR,
        response=list(statuses),
        description=f"With the cookie transport: {what} the HttpOnly refresh cookie.",
    )


_TRANSPORT_HEADER = OpenApiParameter(
    name=TRANSPORT_HEADER,
    location=OpenApiParameter.HEADER,
    type=OpenApiTypes.STR,
    enum=["body", "cookie"],
    required=False,
    description=(
        "`body` asks for the refresh token in the JSON body (native clients), if the "
        "deployment allows it (`ALLOW_BODY_TRANSPORT`). Otherwise the deployment's "
        "`REFRESH_TOKEN_TRANSPORT` decides (default: the HttpOnly cookie)."
    ),
)

# The refresh token of refresh and logout: in the body, or else in the cookie.
_REFRESH_BODY = {
    "type": "object",
    "properties": {
        "refresh": {
            "type": "string",
            "maxLength": 8192,
            "description": "The refresh token. Omit the body to use the refresh cookie.",
        }
    },
    "required": ["refresh"],
}


def _login_view(view: Any) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id="token_sessions_login",
            summary="Log in: create a device session",
            description=(
                "Checks the credentials (the user model's `USERNAME_FIELD` is accepted in "
                "place of `username`) and starts a device session. The refresh token is "
                "returned in the body or set as an HttpOnly cookie; see `X-Token-Transport`."
            ),
            tags=TAGS,
            request=LoginSerializer,
            parameters=[_TRANSPORT_HEADER, _set_cookie(200, what="sets"), _RETRY_AFTER],
            responses={
                200: LoginResponseSerializer,
                400: _BAD_REQUEST,
                401: _error(
                    "Wrong username or password, or an inactive user.", InvalidCredentials.code
                ),
                406: _NOT_ACCEPTABLE,
                413: _TOO_LARGE,
                415: _UNSUPPORTED,
                503: _UNAVAILABLE,
                429: _error(
                    "Too many login attempts from this address.", drf.Throttled.default_code
                ),
            },
        )
    )(view)


def _refresh_view(view: Any) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id="token_sessions_refresh",
            summary="Rotate the refresh token",
            description=(
                "Exchanges the refresh token (body or cookie) for a new access token and a new "
                "refresh token; the old refresh token stops working. Presenting a rotated "
                "token again revokes the whole session (`token_reused`). The answer uses the "
                "transport the token came by."
            ),
            tags=TAGS,
            request={"application/json": _REFRESH_BODY},
            parameters=[_refresh_cookie(), _set_cookie(200, 401, what="replaces or deletes")],
            responses={
                200: TokenResponseSerializer,
                400: _BAD_REQUEST,
                401: _error(
                    "The refresh token is refused; a refused cookie is deleted.",
                    *REFRESH_FAILURES,
                ),
                403: _error("The refresh cookie was sent without passing CSRF.", CsrfFailed.code),
                406: _NOT_ACCEPTABLE,
                413: _TOO_LARGE,
                415: _UNSUPPORTED,
                503: _UNAVAILABLE,
            },
        )
    )(view)


def _logout_view(view: Any) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id="token_sessions_logout",
            summary="Log out this device",
            description=(
                "Ends the session of the refresh token (body, else cookie) and the session of "
                "the bearer access token, when both are sent: a 204 means no credential of "
                "the request still opens a live session. A refused refresh cookie does not "
                "block the logout."
            ),
            tags=TAGS,
            request={"application/json": _REFRESH_BODY},
            parameters=[_refresh_cookie(), _set_cookie(204, what="deletes")],
            responses={
                204: OpenApiResponse(description="The session has ended."),
                400: _BAD_REQUEST,
                401: _error(
                    "The refresh token or the bearer token is refused, or none was sent.",
                    *REFRESH_FAILURES,
                    *BEARER_FAILURES,
                ),
                403: _error("The refresh cookie was sent without passing CSRF.", CsrfFailed.code),
                406: _NOT_ACCEPTABLE,
                413: _TOO_LARGE,
                415: _UNSUPPORTED,
                503: _UNAVAILABLE,
            },
        )
    )(view)


def _logout_all_view(view: Any) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id="token_sessions_logout_all",
            summary="Log out everywhere, or every other device",
            description="`all` (the default) ends every session of the user, this one too.",
            tags=TAGS,
            request=LogoutAllSerializer,
            parameters=[_set_cookie(204, what="with `scope: all`, deletes")],
            responses={
                204: OpenApiResponse(description="The sessions have ended."),
                400: _BAD_REQUEST,
                401: _BEARER_401,
                406: _NOT_ACCEPTABLE,
                413: _TOO_LARGE,
                415: _UNSUPPORTED,
                503: _UNAVAILABLE,
            },
        )
    )(view)


def _session_list_view(view: Any) -> Any:
    return extend_schema_view(
        get=extend_schema(
            operation_id="token_sessions_session_list",
            summary="List my active device sessions",
            description="Most recently used first; `current` marks the session of this request.",
            tags=TAGS,
            responses={
                200: DeviceSessionSerializer(many=True),
                401: _BEARER_401,
                406: _NOT_ACCEPTABLE,
                503: _UNAVAILABLE,
            },
        )
    )(view)


def _session_detail_view(view: Any) -> Any:
    return extend_schema_view(
        patch=extend_schema(
            operation_id="token_sessions_session_rename",
            summary="Rename one of my devices",
            description="An empty name restores the label parsed from the user agent.",
            tags=TAGS,
            request=RenameSessionSerializer,
            parameters=[_SESSION_ID],
            responses={
                200: DeviceSessionSerializer,
                400: _BAD_REQUEST,
                401: _BEARER_401,
                404: _NOT_FOUND,
                406: _NOT_ACCEPTABLE,
                413: _TOO_LARGE,
                415: _UNSUPPORTED,
                503: _UNAVAILABLE,
            },
        ),
        delete=extend_schema(
            operation_id="token_sessions_session_revoke",
            summary="Revoke one of my devices",
            description="Its tokens stop working on their next request.",
            tags=TAGS,
            parameters=[_SESSION_ID, _set_cookie(204, what="if it is this session, deletes")],
            responses={
                204: OpenApiResponse(description="The session has been revoked."),
                401: _BEARER_401,
                404: _NOT_FOUND,
                406: _NOT_ACCEPTABLE,
                503: _UNAVAILABLE,
            },
        ),
    )(view)


class SessionJWTScheme(SimpleJWTScheme):
    """``Authorization: Bearer <access>``, a JWT bound to a live device session."""

    target_class = "django_token_sessions.authentication.SessionJWTAuthentication"
    match_subclasses = True  # a project's own subclasses (contrib.legacy's has its own scheme)
    name = "sessionJWT"


def _subclass(target: Any) -> Any:
    # extend_schema on a subclass leaves the real view, and its other users, untouched.
    return type(target.__name__, (target,), {"__module__": target.__module__})


def _view_extension(view: str, document: Any) -> type[OpenApiViewExtension]:
    """An extension that documents ``views.<view>`` with ``document`` (our extend_schema)."""

    def view_replacement(self: OpenApiViewExtension) -> Any:
        return document(_subclass(self.target_class))

    # Creating the class registers it with drf-spectacular.
    return type(
        f"{view}Schema",
        (OpenApiViewExtension,),
        {
            "target_class": f"django_token_sessions.views.{view}",
            "view_replacement": view_replacement,
        },
    )


VIEW_EXTENSIONS = [
    _view_extension("LoginView", _login_view),
    _view_extension("RefreshView", _refresh_view),
    _view_extension("LogoutView", _logout_view),
    _view_extension("LogoutAllView", _logout_all_view),
    _view_extension("SessionListView", _session_list_view),
    _view_extension("SessionDetailView", _session_detail_view),
]
