"""Errors of the service layer and of our HTTP edge, each with a stable ``code``.

They carry no HTTP machinery: views of any framework map them to a response with
``status_code``, ``code`` and ``detail``. DRF views do it in :mod:`.views`. Every code a
client can receive is the ``code`` of a class here, or the ``default_code`` of the DRF
exception that DRF raises for it (``not_authenticated``, ``throttled``…).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class TokenSessionError(Exception):
    """Base class. ``code`` is public API: clients branch on it."""

    status_code = 401
    code = "token_invalid"
    default_detail = _("Token is invalid.")

    def __init__(self, detail: str | None = None) -> None:
        self.detail = str(detail if detail is not None else self.default_detail)
        super().__init__(self.detail)


class TokenInvalid(TokenSessionError):
    """Malformed, tampered, wrong-type or foreign token, or one missing a required claim."""


class TokenExpired(TokenSessionError):
    """The token's ``exp`` has passed."""

    code = "token_expired"
    default_detail = _("Token has expired.")


class TokenReused(TokenSessionError):
    """A rotated refresh token was presented again: the session has been revoked."""

    code = "token_reused"
    default_detail = _("Refresh token was already used; the session has been revoked.")


class SessionNotFound(TokenSessionError):
    """The token names a session that does not exist (deleted or purged)."""

    code = "session_not_found"
    default_detail = _("Session does not exist.")


class SessionRevoked(TokenSessionError):
    """The token's session has been revoked."""

    code = "session_revoked"
    default_detail = _("Session has been revoked.")


class SessionExpired(TokenSessionError):
    """The session passed its idle or absolute expiry."""

    code = "session_expired"
    default_detail = _("Session has expired.")


class UserInactive(TokenSessionError):
    """The session's user is inactive (or fails ``USER_AUTHENTICATION_RULE``)."""

    code = "user_inactive"
    default_detail = _("User is inactive.")


class UserNotFound(TokenSessionError):
    """The token's user no longer exists."""

    code = "user_not_found"
    default_detail = _("User not found.")


class RevocationUnavailable(TokenSessionError):
    """The revocation cache failed and ``REVOCATION_CACHE_FAILURE`` is ``"deny"``."""

    code = "revocation_unavailable"
    default_detail = _("Cannot verify the session right now; try again.")


class InvalidCredentials(TokenSessionError):
    """Login with a wrong username or password, or for an inactive user."""

    code = "invalid_credentials"
    default_detail = _("No active account found with the given credentials.")


class CsrfFailed(TokenSessionError):
    """A request authenticated by the refresh-token cookie failed Django's CSRF check."""

    status_code = 403
    code = "csrf_failed"
    default_detail = _("CSRF check failed.")


class RequestTooLarge(TokenSessionError):
    """The body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` or has more fields than
    ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` allows."""

    status_code = 413
    code = "request_too_large"
    default_detail = _("Request body is too large.")


class BadRequest(TokenSessionError):
    """A request Django refused as malformed before or while our view read it."""

    status_code = 400
    code = "bad_request"
    default_detail = _("Bad request.")


class InvalidRequest(TokenSessionError):
    """The request's JSON lacks a field or has a malformed one; DRF views list the messages
    of each field under ``errors``."""

    status_code = 400
    code = "invalid_request"
    default_detail = _("Invalid request.")


class ServiceUnavailable(TokenSessionError):
    """The database could not be reached (connection lost, failover, restart). The request
    may be retried: a change either ran completely or not at all."""

    status_code = 503
    code = "service_unavailable"
    default_detail = _("Service temporarily unavailable.")


class ServerError(TokenSessionError):
    """An unexpected failure, answered as JSON rather than as Django's HTML error page."""

    status_code = 500
    code = "server_error"
    default_detail = _("Internal server error.")


class RefreshTokenExposed(TokenSessionError):
    """A cookie-path response would have shown the refresh token in its body (a view that
    put it back into its data, or a body that cannot be inspected): it was withheld."""

    status_code = 500
    code = "refresh_token_exposed"
    default_detail = _(
        "The response was withheld: it would have exposed the refresh token. "
        "The refresh cookie has been set; refresh again to get an access token."
    )


#: What refusing a bearer access token raises (:mod:`.authentication`).
ACCESS_TOKEN_ERRORS: tuple[type[TokenSessionError], ...] = (
    TokenInvalid,
    TokenExpired,
    SessionRevoked,
    UserNotFound,
    UserInactive,
    RevocationUnavailable,
)
#: What refusing a refresh token raises (rotation and logout in :mod:`.services`).
REFRESH_TOKEN_ERRORS: tuple[type[TokenSessionError], ...] = (
    TokenInvalid,
    TokenExpired,
    TokenReused,
    SessionNotFound,
    SessionRevoked,
    SessionExpired,
    UserNotFound,
    UserInactive,
)
