# drf-spectacular's OpenApiExtension.__init_subclass__ (its registry) is untyped.
# mypy: disable-error-code="no-untyped-call"
"""OpenAPI 3 description of the endpoints, for drf-spectacular (the ``schema`` extra).

:class:`~.apps.TokenSessionsConfig` imports this module only when drf-spectacular is
installed; nothing else does, so the views never depend on it. The extensions document
the views from the outside: each one swaps its view for a subclass carrying
``extend_schema`` (drf-spectacular's ``OpenApiViewExtension``), and the bearer scheme is
registered for :class:`~.authentication.SessionJWTAuthentication` and its subclasses.

Every error body is ``{"detail", "code"}`` (:func:`.views.exception_handler`), one shared
component (``TokenSessionsError``) whose ``code`` is an open string: each error response
lists the codes it is known to carry (description and examples), so clients can branch on
them, and a code a later release adds does not break an older client's parser. Anonymous
operations (login, refresh, logout) carry no security requirement, and the refresh cookie
is described, not declared as a parameter, so generated clients keep it in a cookie jar.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import exceptions as drf
from rest_framework import serializers

from .conf import app_settings
from .exceptions import (
    ACCESS_TOKEN_ERRORS,
    REFRESH_TOKEN_ERRORS,
    BadRequest,
    CsrfFailed,
    InvalidCredentials,
    InvalidRequest,
    RefreshTokenExposed,
    RequestTooLarge,
    ServerError,
    ServiceUnavailable,
    TokenSessionError,
)
from .serializers import (
    DeviceSessionSerializer,
    LoginResponseSerializer,
    LoginSerializer,
    LogoutAllSerializer,
    RenameSessionSerializer,
    TokenResponseSerializer,
)
from .transport import (
    RETRY_KEY_HEADER,
    RETRY_KEY_MAX_LENGTH,
    RETRY_KEY_MIN_LENGTH,
    TRANSPORT_HEADER,
)

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


#: The codes a status can carry on every operation, whatever the endpoint.
METHOD_NOT_ALLOWED = (drf.MethodNotAllowed.default_code,)
NOT_ACCEPTABLE = (drf.NotAcceptable.default_code,)
THROTTLED = (drf.Throttled.default_code,)
SERVER_ERRORS = (ServerError.code,)
#: A login or refresh answered on the cookie path whose body would have shown the token.
TOKEN_RESPONSE_SERVER_ERRORS = (ServerError.code, RefreshTokenExposed.code)
UNAVAILABLE = (ServiceUnavailable.code,)
#: The codes of a request body refused before validation.
TOO_LARGE = (RequestTooLarge.code,)
UNSUPPORTED = (drf.UnsupportedMediaType.default_code,)

#: Every code an operation of the schema can answer with, in the order of docs/reference/errors.md.
KNOWN_CODES = tuple(
    dict.fromkeys(
        (
            *BAD_REQUEST,
            InvalidCredentials.code,
            *BEARER_FAILURES,
            *REFRESH_FAILURES,
            CsrfFailed.code,
            drf.NotFound.default_code,
            *METHOD_NOT_ALLOWED,
            *NOT_ACCEPTABLE,
            *TOO_LARGE,
            *UNSUPPORTED,
            *THROTTLED,
            *TOKEN_RESPONSE_SERVER_ERRORS,
            *UNAVAILABLE,
        )
    )
)

#: The name of the one error component every error response refers to.
ERROR_COMPONENT = "TokenSessionsError"


class TokenSessionsErrorSerializer(serializers.Serializer):
    """Every error answer: `{"detail", "code"}`, plus `errors` with `invalid_request`.

    Branch on the HTTP status first, then on `code`. The set of codes is open: a later
    release may add one, so treat an unknown `code` by its status. Each error response
    lists the codes it is known to carry in its description and its examples.
    """

    detail = serializers.CharField(help_text="Human-readable message; may be translated.")
    code = serializers.CharField(
        help_text=(
            "Stable, machine-readable error code: branch on this, not on `detail`. Not a "
            "closed list: handle an unknown code by the HTTP status. Known codes: "
            + ", ".join(f"`{code}`" for code in KNOWN_CODES)
            + "."
        )
    )
    # A field, not Serializer.errors: the metaclass moves it into _declared_fields.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="With `invalid_request`: the messages of each invalid field.",
    )


def _detail(code: str) -> str:
    """The message an error with ``code`` carries by default, for the examples."""
    ours: tuple[type[TokenSessionError], ...] = (
        BadRequest,
        InvalidRequest,
        InvalidCredentials,
        CsrfFailed,
        RequestTooLarge,
        ServerError,
        RefreshTokenExposed,
        ServiceUnavailable,
        *ACCESS_TOKEN_ERRORS,
        *REFRESH_TOKEN_ERRORS,
    )
    for error in ours:
        if error.code == code:
            return str(error.default_detail)
    drf_errors: tuple[type[drf.APIException], ...] = (
        drf.ParseError,
        drf.NotAuthenticated,
        drf.NotFound,
        drf.MethodNotAllowed,
        drf.NotAcceptable,
        drf.UnsupportedMediaType,
        drf.Throttled,
    )
    for drf_error in drf_errors:
        if drf_error.default_code == code:
            return str(drf_error.default_detail).replace("{method}", "PUT")
    if code == BAD_AUTHORIZATION_HEADER:
        return "Authorization header must contain two space-delimited values"
    raise ValueError(f"unknown error code {code!r}")  # pragma: no cover


def _error(description: str, *codes: str) -> OpenApiResponse:
    """An error response: the shared component, its known codes listed and exemplified.

    Built when the schema is generated (the examples' messages are translated strings).
    """
    codes = tuple(dict.fromkeys(codes))
    examples = []
    for code in codes:
        value: dict[str, Any] = {"detail": _detail(code), "code": code}
        if code == InvalidRequest.code:
            value["errors"] = {"password": ["This field is required."]}
        examples.append(OpenApiExample(code, value=value, response_only=True))
    known = ", ".join(f"`{code}`" for code in codes)
    return OpenApiResponse(
        response=TokenSessionsErrorSerializer,
        description=f"{description} Known codes: {known}.",
        examples=examples,
    )


def _bad_request() -> OpenApiResponse:
    return _error(
        "The body is not JSON (`parse_error`) or fails validation (`invalid_request`, with "
        "`errors`).",
        *BAD_REQUEST,
    )


def _bearer_401() -> OpenApiResponse:
    return _error(
        "No, or a refused, bearer access token. `session_revoked` takes effect on the very "
        "next request after a logout or revocation.",
        *BEARER_FAILURES,
    )


def _not_found() -> OpenApiResponse:
    return _error("No active session with this id among the user's own.", drf.NotFound.default_code)


def _csrf_failed() -> OpenApiResponse:
    return _error("The refresh cookie was sent without passing CSRF.", CsrfFailed.code)


def _common(
    *, body: bool, throttled: str | None = None, server_errors: tuple[str, ...] = SERVER_ERRORS
) -> dict[int, OpenApiResponse]:
    """The statuses any operation can answer with; with ``body``, those of a request body."""
    responses = {
        405: _error(
            "The method is not allowed on this path (a client built for another version).",
            *METHOD_NOT_ALLOWED,
        ),
        406: _error(
            "The `Accept` header excludes `application/json`: every answer is JSON.",
            *NOT_ACCEPTABLE,
        ),
        429: _error(
            throttled
            or "The project's own DRF throttles (`DEFAULT_THROTTLE_CLASSES`) refused the "
            "request; see `Retry-After`.",
            *THROTTLED,
        ),
        500: _error("An unexpected failure on the server, answered as JSON.", *server_errors),
        503: _error(
            "The database is unreachable (connection lost, failover); the request may be retried.",
            *UNAVAILABLE,
        ),
    }
    if body:
        responses[413] = _error(
            "The body is over `DATA_UPLOAD_MAX_MEMORY_SIZE` or has more fields than "
            "`DATA_UPLOAD_MAX_NUMBER_FIELDS` allows.",
            *TOO_LARGE,
        )
        responses[415] = _error("The body is not `application/json`.", *UNSUPPORTED)
    return dict(sorted(responses.items()))


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


def _refresh_cookie() -> tuple[str, dict[str, Any]]:
    """The refresh cookie: a sentence for the description, and an ``x-`` extension.

    Not an operation parameter: generated clients would pass it per request (httpx
    deprecates that). A client keeps the cookie in its cookie jar, where login put it.
    """
    # The name is a setting: read it when the schema is generated, not at import.
    name = app_settings.REFRESH_COOKIE_NAME
    sentence = (
        f"Without a body `refresh`, the HttpOnly cookie `{name}` that login set (cookie "
        "transport) is used: keep it in the client's cookie jar, do not pass it per request. "
        "The request must then pass Django's CSRF check (the CSRF token in the "
        "`X-CSRFToken` header, or a same-origin `Origin`), else 403 `csrf_failed`."
    )
    extension = {"x-refresh-cookie": {"name": name, "in": "cookie", "httpOnly": True}}
    return sentence, extension


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

_RETRY_KEY = OpenApiParameter(
    name=RETRY_KEY_HEADER,
    location=OpenApiParameter.HEADER,
    type={
        "type": "string",
        "minLength": RETRY_KEY_MIN_LENGTH,
        "maxLength": RETRY_KEY_MAX_LENGTH,
        "pattern": "^[!-~]+$",
    },
    required=False,
    description=(
        f"A fresh key for each refresh (a UUID will do: {RETRY_KEY_MIN_LENGTH} to "
        f"{RETRY_KEY_MAX_LENGTH} visible ASCII characters), sent again only when "
        "retrying that refresh because its response was lost: the retry then gets the "
        "pair the lost response carried, even after the grace window, instead of "
        "`token_reused`. A malformed key is 400 `invalid_request`."
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

#: No security requirement: anonymous operations. drf-spectacular then writes no
#: ``security`` (the schema has no global one), which generated clients read as "no auth"
#: (``security: [{}]``, what ``AllowAny`` gives, makes openapi-python-client demand an
#: ``AuthenticatedClient``).
_ANONYMOUS: list[str] = []


@extend_schema_serializer(component_name="Login")
class _LoginRequest(LoginSerializer):
    """``{"username": ..., "password": ...}``; the user model's ``USERNAME_FIELD`` works too."""

    # The server requires a username: this one, or the USERNAME_FIELD's field.
    username = serializers.CharField(max_length=254, trim_whitespace=False)


@extend_schema_serializer(component_name="RenameSession")
class _RenameRequest(RenameSessionSerializer):
    """``{"name": "..."}``; an empty name restores the label parsed from the user agent."""

    # The view validates the PATCH body whole (no partial=True): `name` is required.
    # drf-spectacular marks a PATCH body partial, as DRF's UpdateModelMixin would;
    # this serializer cannot be made partial.
    @property
    def partial(self) -> bool:
        return False

    @partial.setter
    def partial(self, value: bool) -> None:
        pass


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
            auth=_ANONYMOUS,
            request=_LoginRequest,
            parameters=[_TRANSPORT_HEADER, _set_cookie(200, what="sets"), _RETRY_AFTER],
            responses={
                200: LoginResponseSerializer,
                400: _bad_request(),
                401: _error(
                    "Wrong username or password, or an inactive user.", InvalidCredentials.code
                ),
                **_common(
                    body=True,
                    throttled="Too many login attempts from this address or for this "
                    "username; see `Retry-After`.",
                    server_errors=TOKEN_RESPONSE_SERVER_ERRORS,
                ),
            },
        )
    )(view)


def _refresh_view(view: Any) -> Any:
    cookie, extension = _refresh_cookie()
    return extend_schema_view(
        post=extend_schema(
            operation_id="token_sessions_refresh",
            summary="Rotate the refresh token",
            description=(
                "Exchanges the refresh token (body or cookie) for a new access token and a new "
                "refresh token; the old refresh token stops working. Presenting a rotated "
                "token again revokes the whole session (`token_reused`). The answer uses the "
                f"transport the token came by.\n\n{cookie}"
            ),
            tags=TAGS,
            auth=_ANONYMOUS,
            extensions=extension,
            request={"application/json": _REFRESH_BODY},
            parameters=[
                _RETRY_KEY,
                _set_cookie(200, 401, what="replaces or deletes"),
                _RETRY_AFTER,
            ],
            responses={
                200: TokenResponseSerializer,
                400: _bad_request(),
                401: _error(
                    "The refresh token is refused; a refused cookie is deleted.",
                    *REFRESH_FAILURES,
                ),
                403: _csrf_failed(),
                **_common(body=True, server_errors=TOKEN_RESPONSE_SERVER_ERRORS),
            },
        )
    )(view)


def _logout_view(view: Any) -> Any:
    cookie, extension = _refresh_cookie()
    return extend_schema_view(
        post=extend_schema(
            operation_id="token_sessions_logout",
            summary="Log out this device",
            description=(
                "Ends the session of the refresh token (body, else cookie) and the session of "
                "the bearer access token (`Authorization: Bearer`, optional), when both are "
                "sent: a 204 means no credential of the request still opens a live session. "
                "Either one is enough, so the operation has no security requirement. A "
                f"refused refresh cookie does not block the logout.\n\n{cookie}"
            ),
            tags=TAGS,
            auth=_ANONYMOUS,
            extensions=extension,
            request={"application/json": _REFRESH_BODY},
            parameters=[_set_cookie(204, what="deletes"), _RETRY_AFTER],
            responses={
                204: OpenApiResponse(description="The session has ended."),
                400: _bad_request(),
                401: _error(
                    "The refresh token or the bearer token is refused, or none was sent.",
                    *REFRESH_FAILURES,
                    *BEARER_FAILURES,
                ),
                403: _csrf_failed(),
                **_common(body=True),
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
            parameters=[_set_cookie(204, what="with `scope: all`, deletes"), _RETRY_AFTER],
            responses={
                204: OpenApiResponse(description="The sessions have ended."),
                400: _bad_request(),
                401: _bearer_401(),
                **_common(body=True),
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
            parameters=[_RETRY_AFTER],
            responses={
                200: DeviceSessionSerializer(many=True),
                401: _bearer_401(),
                **_common(body=False),
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
            request=_RenameRequest,
            parameters=[_SESSION_ID, _RETRY_AFTER],
            responses={
                200: DeviceSessionSerializer,
                400: _bad_request(),
                401: _bearer_401(),
                404: _not_found(),
                **_common(body=True),
            },
        ),
        delete=extend_schema(
            operation_id="token_sessions_session_revoke",
            summary="Revoke one of my devices",
            description="Its tokens stop working on their next request.",
            tags=TAGS,
            parameters=[
                _SESSION_ID,
                _set_cookie(204, what="if it is this session, deletes"),
                _RETRY_AFTER,
            ],
            responses={
                204: OpenApiResponse(description="The session has been revoked."),
                401: _bearer_401(),
                404: _not_found(),
                **_common(body=False),
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
