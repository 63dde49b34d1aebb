"""DRF authentication: simplejwt's validation plus "the token's session is still alive"."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication

from .conf import jwt_settings
from .exceptions import SessionRevoked, TokenSessionError, UserInactive, UserNotFound
from .revocation import get_revocation_store
from .tokens import SessionAccessToken, decode_access

# The session the current request authenticated with, for receivers that have no request
# (the password-change trigger may keep it). Reset when each request starts.
_current_session: ContextVar[uuid.UUID | None] = ContextVar("token_sessions_current", default=None)


def current_session_id() -> uuid.UUID | None:
    """The device session the current request authenticated with, if any."""
    return _current_session.get()


def reset_current_session(**kwargs: Any) -> None:
    """``request_started`` receiver: forget the previous request's session."""
    _current_session.set(None)


def _failed(error: TokenSessionError) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed({"detail": error.detail, "code": error.code})


class SessionJWTAuthentication(JWTAuthentication):
    """Authenticate ``Authorization: Bearer <access>`` against a live device session.

    Refuses access tokens without a ``sid`` claim (plain simplejwt tokens), and tokens
    whose session has been revoked, on the very next request. ``request.auth`` is the
    validated :class:`~.tokens.SessionAccessToken`; its ``session_id`` names the device.
    """

    def get_validated_token(self, raw_token: bytes) -> SessionAccessToken:
        """Decode and verify the token, then ask the revocation store about its session."""
        try:
            token = decode_access(raw_token)
        except TokenSessionError as error:
            raise _failed(error) from error
        try:
            revoked = get_revocation_store().is_revoked(token)
        except TokenSessionError as error:  # RevocationUnavailable, when failing closed
            raise _failed(error) from error
        if revoked:
            raise _failed(SessionRevoked())
        _current_session.set(token.session_id)
        return token

    def get_user(self, validated_token: Any) -> Any:
        """Load the user named by the token; refuse deleted and inactive users."""
        api = jwt_settings()
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get(
                **{api.USER_ID_FIELD: validated_token[api.USER_ID_CLAIM]}
            )
        except (user_model.DoesNotExist, ValueError, TypeError) as exc:
            raise _failed(UserNotFound()) from exc
        if api.CHECK_USER_IS_ACTIVE and not getattr(user, "is_active", True):
            raise _failed(UserInactive(str(_("User is inactive."))))
        return user
