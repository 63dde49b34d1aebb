"""Plain simplejwt tokens as this app reads them: with the live signing settings, the
claim checks of the core, and the user checks simplejwt itself would make.

No model here: :mod:`.authentication` imports this module and must stay importable (and
harmless) in a project that has removed the app from ``INSTALLED_APPS``.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from ... import services
from ...conf import app_settings, jwt_settings
from ...exceptions import TokenExpired, TokenInvalid, UserInactive, UserNotFound
from ...tokens import check_claims, get_token_backend, is_user_claim, token_text

__all__ = ["LegacyAccessToken", "LegacyRefreshToken", "is_legacy_token", "user_of"]


class _LiveBackendMixin:
    # simplejwt's classes use a backend built once at import; ours follows SIMPLE_JWT
    # changes (override_settings), like the session tokens of the core.
    payload: dict[str, Any]

    @property
    def token_backend(self) -> TokenBackend:
        return get_token_backend()

    def get_token_backend(self) -> TokenBackend:
        return get_token_backend()

    def verify(self) -> None:
        # The claims first: simplejwt's blacklist check (a refresh token's verify, with
        # token_blacklist installed) sends the jti to the database before its own checks.
        check_claims(self.payload, legacy=True)
        super().verify()  # type: ignore[misc]


class LegacyRefreshToken(_LiveBackendMixin, RefreshToken):  # type: ignore[misc]  # simplejwt's stubs
    """simplejwt's ``RefreshToken``: type, ``exp``, ``jti`` and, with its
    ``token_blacklist`` app installed, "not blacklisted" are its checks."""


class LegacyAccessToken(_LiveBackendMixin, AccessToken):
    """A plain simplejwt access token, as
    :class:`~.authentication.LegacyJWTAuthentication` sets it on ``request.auth``. It
    names no device session: ``session_id`` is None."""

    session_id = None


def verified_payload(raw: Any) -> dict[str, Any]:
    """The claims of a token whose signature (and ``exp``, audience, issuer) check out."""
    try:
        payload: dict[str, Any] = get_token_backend().decode(
            token_text(raw),  # type: ignore[arg-type]
            verify=True,
        )
    except TokenBackendExpiredToken as exc:
        raise TokenExpired() from exc
    except TokenBackendError as exc:
        raise TokenInvalid() from exc
    return payload


def is_legacy_token(raw: Any) -> bool:
    """True if ``raw`` is a valid token signed with our keys that carries no session id."""
    try:
        payload = verified_payload(raw)
    except (TokenInvalid, TokenExpired):
        return False
    return app_settings.SESSION_ID_CLAIM not in payload


def _password_hash_matches(payload: dict[str, Any], user: Any) -> bool:
    """simplejwt's ``CHECK_REVOKE_TOKEN``: the token must carry the current password's hash."""
    api = jwt_settings()
    if not getattr(api, "CHECK_REVOKE_TOKEN", False):
        return True
    # Imported here: simplejwt versions without CHECK_REVOKE_TOKEN lack the helper.
    from rest_framework_simplejwt.utils import get_md5_hash_password

    return bool(payload.get(api.REVOKE_TOKEN_CLAIM) == get_md5_hash_password(user.password))


def user_of(payload: dict[str, Any]) -> Any:
    """The user a legacy token's claims name, if simplejwt would still let them in.

    Raises :class:`~django_token_sessions.exceptions.TokenInvalid` (no usable user id claim,
    or ``CHECK_REVOKE_TOKEN`` and a changed password), ``UserNotFound`` or ``UserInactive``.
    """
    api = jwt_settings()
    if not is_user_claim(payload.get(api.USER_ID_CLAIM)):
        # Also refuses true and 1.5, which the ORM would read as the user with pk 1.
        raise TokenInvalid(str(_("Token contained no recognizable user identification")))
    user = services.user_for_claim(payload[api.USER_ID_CLAIM])
    if user is None:
        raise UserNotFound()
    if not services.user_may_authenticate(user):
        raise UserInactive()
    if not _password_hash_matches(payload, user):
        raise TokenInvalid(str(_("The user's password has been changed.")))
    return user
