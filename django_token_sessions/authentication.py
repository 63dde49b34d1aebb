"""DRF authentication: simplejwt's validation plus "the token's session is still alive"."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from .conf import jwt_settings
from .context import set_current_session
from .exceptions import SessionRevoked, TokenSessionError, UserInactive, UserNotFound
from .models import LOOKUP_ERRORS
from .revocation import PendingCheck, get_revocation_backend
from .tokens import SessionAccessToken, decode_access


def _failed(error: TokenSessionError) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed({"detail": error.detail, "code": error.code})


class SessionJWTAuthentication(JWTAuthentication):
    """Authenticate ``Authorization: Bearer <access>`` against a live device session.

    Refuses access tokens without a ``sid`` claim (plain simplejwt tokens), and tokens
    whose session has been revoked, on the very next request. ``request.auth`` is the
    validated :class:`~.tokens.SessionAccessToken`; its ``session_id`` names the device.

    The revocation backend's check begins when the token is validated and is answered
    after the user query (:class:`~.revocation.PendingCheck`): the ``redis`` backend's
    round trip runs while the query does, the ``db`` backend's check rides on the query.
    DRF creates an authentication instance per request, which is what holds the check
    between :meth:`get_validated_token` and :meth:`get_user`.
    """

    #: Checks begun inside :meth:`authenticate`, not yet answered.
    _checks: list[tuple[PendingCheck, SessionAccessToken]] | None = None

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """simplejwt's header parsing, validation and user lookup, with the session check
        answered after the user query (or at the end, if an overriding ``get_user`` did
        not answer it)."""
        checks: list[tuple[PendingCheck, SessionAccessToken]] = []
        self._checks = checks
        try:
            result = super().authenticate(request)
            self._answer_checks(result[0] if result is not None else None)
        finally:
            self._checks = None
            for check, _token in checks:  # an error came first: drop the unread answer
                check.cancel()
        return result

    def get_validated_token(self, raw_token: bytes) -> SessionAccessToken:
        """Decode and verify the token, and begin the revocation check of its session
        (answered at once when called outside :meth:`authenticate`)."""
        try:
            token = decode_access(raw_token)
        except TokenSessionError as error:
            raise _failed(error) from error
        check = get_revocation_backend().begin(token)
        if self._checks is None:
            self._answer(check, token, None)
        else:
            self._checks.append((check, token))
        return token

    def _answer_checks(self, user: Any) -> None:
        checks = self._checks
        while checks:
            check, token = checks.pop()
            self._answer(check, token, user)

    @staticmethod
    def _answer(check: PendingCheck, token: SessionAccessToken, user: Any) -> None:
        """Raise the 401 for a revoked session (or an unusable backend failing closed)."""
        try:
            revoked = check.result(user)
        except TokenSessionError as error:  # RevocationUnavailable, when failing closed
            raise _failed(error) from error
        if revoked:
            raise _failed(SessionRevoked())
        set_current_session(token.session_id)

    def get_user(self, validated_token: Any) -> Any:
        """Load the user named by the token; refuse deleted and inactive users."""
        api = jwt_settings()
        user_model = get_user_model()
        users = user_model._default_manager.all()
        for check, _token in self._checks or ():
            users = check.prepare_user_query(users)
        try:
            user = users.get(**{api.USER_ID_FIELD: validated_token[api.USER_ID_CLAIM]})
        except (user_model.DoesNotExist, *LOOKUP_ERRORS) as exc:
            self._answer_checks(None)  # a revoked session is the answer, if it is one
            raise _failed(UserNotFound()) from exc
        self._answer_checks(user)
        if api.CHECK_USER_IS_ACTIVE and not getattr(user, "is_active", True):
            raise _failed(UserInactive(str(_("User is inactive."))))
        return user
