"""Adopting plain simplejwt tokens (no ``sid`` claim) when a project switches to this app.

A project that already handed out simplejwt refresh tokens turns on
``TOKEN_SESSIONS["ACCEPT_LEGACY_REFRESH_TOKENS"]`` for one refresh-token lifetime. Meanwhile
a legacy refresh token presented to the refresh endpoint is exchanged, **once**, for a new
device session; its JTI is recorded (:class:`~.models.LegacyTokenExchange`) so a second
use is refused, and it is blacklisted in simplejwt's own tables when its
``token_blacklist`` app is installed. :class:`LegacyJWTAuthentication` optionally accepts
legacy access tokens for the same window.

Like :mod:`.services`, no HTTP here: :func:`rotate_or_exchange` is what a refresh view of
any framework calls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import (
    ExpiredTokenError,
    TokenBackendError,
    TokenBackendExpiredToken,
    TokenError,
)
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from . import services
from .authentication import SessionJWTAuthentication
from .conf import app_settings, jwt_settings
from .device import ClientInfo
from .exceptions import TokenExpired, TokenInvalid, TokenReused, UserInactive, UserNotFound
from .models import LegacyTokenExchange
from .tokens import (
    BAD_TIME_CLAIM_ERRORS,
    check_claims,
    get_token_backend,
    is_user_claim,
    token_text,
)

__all__ = [
    "LegacyAccessToken",
    "LegacyJWTAuthentication",
    "exchange_legacy_refresh_token",
    "is_legacy_token",
    "purge_exchanges",
    "rotate_or_exchange",
]


class _LiveBackendMixin:
    # simplejwt's classes use a backend built once at import; ours follows SIMPLE_JWT
    # changes (override_settings), like the session tokens of .tokens.
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


class _LegacyRefreshToken(_LiveBackendMixin, RefreshToken):  # type: ignore[misc]  # simplejwt's stubs
    """simplejwt's ``RefreshToken``: type, ``exp``, ``jti`` and, with its
    ``token_blacklist`` app installed, "not blacklisted" are its checks."""


class LegacyAccessToken(_LiveBackendMixin, AccessToken):
    """A plain simplejwt access token, as :class:`LegacyJWTAuthentication` sets it on
    ``request.auth``. It names no device session: ``session_id`` is None."""

    session_id = None


def _verified_payload(raw: Any) -> dict[str, Any]:
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
        payload = _verified_payload(raw)
    except (TokenInvalid, TokenExpired):
        return False
    return app_settings.SESSION_ID_CLAIM not in payload


def _already_exchanged(jti: Any) -> bool:
    return jti is not None and LegacyTokenExchange.objects.filter(jti=str(jti)).exists()


def _reused() -> TokenReused:
    # Nothing is revoked: a legacy token was never single-use, so a second holder is not
    # proof of theft. The session the first exchange created lives on.
    return TokenReused(str(_("This refresh token was already exchanged for a session.")))


def _password_hash_matches(payload: dict[str, Any], user: Any) -> bool:
    """simplejwt's ``CHECK_REVOKE_TOKEN``: the token must carry the current password's hash."""
    api = jwt_settings()
    if not getattr(api, "CHECK_REVOKE_TOKEN", False):
        return True
    from rest_framework_simplejwt.utils import get_md5_hash_password

    return bool(payload.get(api.REVOKE_TOKEN_CLAIM) == get_md5_hash_password(user.password))


def _user_of(payload: dict[str, Any]) -> Any:
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


def exchange_legacy_refresh_token(
    raw: Any, *, client: ClientInfo | None = None
) -> services.IssuedSession:
    """Exchange a plain simplejwt refresh token (no ``sid``) for a new device session.

    The token is validated by simplejwt's own ``RefreshToken`` (signature, ``exp``, type
    and, when its ``token_blacklist`` app is installed, the blacklist), then its user
    (``USER_ID_CLAIM``, ``USER_AUTHENTICATION_RULE``, ``CHECK_REVOKE_TOKEN``). Its JTI is
    inserted into a unique column in the same transaction that creates the session, so of
    any number of concurrent exchanges exactly one succeeds; every other use raises
    :class:`~.exceptions.TokenReused` and changes nothing. With ``token_blacklist``
    installed the token is also blacklisted there.

    Does not look at ``ACCEPT_LEGACY_REFRESH_TOKENS``: :func:`rotate_or_exchange` does.
    """
    payload = _verified_payload(raw)
    if app_settings.SESSION_ID_CLAIM in payload:
        raise TokenInvalid(str(_("Token is not a legacy token.")))
    try:
        # Checked here, not only by the token's verify(): a refused token's jti is looked
        # up below (a replay is told apart from other refusals), so it must be fit for SQL.
        check_claims(payload, legacy=True)
    except TokenError as exc:
        raise TokenInvalid(str(exc.args[0])) from exc
    jti = payload[jwt_settings().JTI_CLAIM]
    try:
        token = _LegacyRefreshToken(raw)
    except ExpiredTokenError as exc:
        raise TokenExpired() from exc
    except TokenError as exc:
        # The exchange blacklists the token (with token_blacklist): to simplejwt a replay,
        # or a concurrent exchange that lost the race, is merely "blacklisted".
        if _already_exchanged(jti):
            raise _reused() from exc
        raise TokenInvalid(str(exc.args[0]) if exc.args else None) from exc
    except BAD_TIME_CLAIM_ERRORS as exc:
        # An "exp" PyJWT accepts but simplejwt's datetime check cannot (a numeric string).
        raise TokenInvalid() from exc
    user = _user_of(token.payload)
    expires_at: datetime = datetime_from_epoch(token.payload["exp"])

    with transaction.atomic():
        # First statement, before any other lock is taken: a concurrent exchange of the
        # same token waits here for this transaction, then fails on the unique JTI.
        try:
            with transaction.atomic():
                record = LegacyTokenExchange.objects.create(
                    jti=str(jti), user=user, expires_at=expires_at
                )
        except IntegrityError as exc:
            raise _reused() from exc
        blacklist = getattr(token, "blacklist", None)  # only with token_blacklist installed
        if blacklist is not None:
            blacklist()
        issued = services.create_session(user, client=client)
        LegacyTokenExchange.objects.filter(pk=record.pk).update(session=issued.session_id)
    return issued


def rotate_or_exchange(raw: Any, *, client: ClientInfo | None = None) -> services.IssuedSession:
    """What a refresh endpoint calls: rotate a session's refresh token, or adopt a legacy one.

    :func:`~.services.rotate_refresh_token`, except that while
    ``ACCEPT_LEGACY_REFRESH_TOKENS`` is on, a token it refuses as invalid *because* it has
    no session id (a valid plain simplejwt token) goes to
    :func:`exchange_legacy_refresh_token`. A token with a ``sid`` never does.
    """
    try:
        return services.rotate_refresh_token(raw, client=client)
    except TokenInvalid:
        if not (app_settings.ACCEPT_LEGACY_REFRESH_TOKENS and is_legacy_token(raw)):
            raise
    return exchange_legacy_refresh_token(raw, client=client)


def purge_exchanges(now: datetime | None = None) -> int:
    """Delete the records of legacy tokens that have expired (they are refused anyway).

    Returns how many were deleted.
    """
    now = now or timezone.now()
    deleted, _by_model = LegacyTokenExchange.objects.filter(
        expires_at__lt=now - get_token_backend().get_leeway()
    ).delete()
    return deleted


class LegacyJWTAuthentication(SessionJWTAuthentication):
    """Transition only: also accept plain simplejwt access tokens (no ``sid``).

    List it **before** :class:`~.authentication.SessionJWTAuthentication`. It authenticates
    only a valid access token without a session id, and only while
    ``ACCEPT_LEGACY_REFRESH_TOKENS`` is on; for anything else it returns None, so the next
    class decides (and refuses with its usual errors). It never accepts a token that has a
    ``sid``: session tokens always go through the revocation check. ``request.auth`` is a
    :class:`LegacyAccessToken`, whose ``session_id`` is None.
    """

    def authenticate(self, request: Request) -> tuple[Any, LegacyAccessToken] | None:
        if not app_settings.ACCEPT_LEGACY_REFRESH_TOKENS:
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
            user = _user_of(token.payload)
        except (TokenInvalid, UserInactive, UserNotFound) as error:
            raise exceptions.AuthenticationFailed(
                {"detail": error.detail, "code": error.code}
            ) from error
        return user, token
