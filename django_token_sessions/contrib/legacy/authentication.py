"""A DRF authentication class for the transition: plain simplejwt access tokens too."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError

from ...authentication import SessionJWTAuthentication
from ...conf import app_settings
from ...exceptions import TokenInvalid, UserInactive, UserNotFound
from ...tokens import BAD_TIME_CLAIM_ERRORS
from .apps import LegacyConfig
from .tokens import LegacyAccessToken, user_of

__all__ = ["LegacyJWTAuthentication"]


class LegacyJWTAuthentication(SessionJWTAuthentication):
    """Transition only: also accept plain simplejwt access tokens (no ``sid``).

    List it **before** :class:`~django_token_sessions.authentication.SessionJWTAuthentication`
    (the check ``token_sessions_legacy.W001`` says so otherwise). It authenticates only a
    valid access token without a session id, and only while this app is in
    ``INSTALLED_APPS``; for anything else it returns None, so the next class decides (and
    refuses with its usual errors). It never accepts a token that has a ``sid``: session
    tokens always go through the revocation check. ``request.auth`` is a
    :class:`~.tokens.LegacyAccessToken`, whose ``session_id`` is None.
    """

    def authenticate(self, request: Request) -> tuple[Any, LegacyAccessToken] | None:
        if not apps.is_installed(LegacyConfig.name):
            # Still listed after the app was removed: the transition is over, and a
            # forgotten line in REST_FRAMEWORK must not keep it open.
            return None
        header: bytes | None = self.get_header(request)  # None without the header
        if header is None:
            return None
        try:
            raw = self.get_raw_token(header)
        except exceptions.AuthenticationFailed:
            return None  # a malformed header: the session class says so in its own words
        if raw is None:
            return None
        try:
            token = LegacyAccessToken(raw)  # type: ignore[arg-type]
        except (TokenError, *BAD_TIME_CLAIM_ERRORS):
            # The non-TokenErrors: an "exp" simplejwt's datetime check cannot read.
            return None
        if app_settings.SESSION_ID_CLAIM in token.payload:
            return None
        try:
            user = user_of(token.payload)
        except (TokenInvalid, UserInactive, UserNotFound) as error:
            raise exceptions.AuthenticationFailed(
                {"detail": error.detail, "code": error.code}
            ) from error
        return user, token
