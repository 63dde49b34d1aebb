"""The exchange of a plain simplejwt refresh token for a device session.

Like the core's services, no HTTP here: the core's refresh
(:func:`~django_token_sessions.services.rotate_refresh_token`) calls
:func:`adopt_legacy_refresh_token`, which :class:`~.apps.LegacyConfig` registers, for a
token it refuses for having no session id; any framework's refresh view gets the exchange
through it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.utils import datetime_from_epoch

from ... import services
from ...conf import app_settings, jwt_settings
from ...device import ClientInfo
from ...exceptions import TokenExpired, TokenInvalid, TokenReused
from ...tokens import BAD_TIME_CLAIM_ERRORS, check_claims, get_token_backend
from .models import LegacyTokenExchange
from .tokens import LegacyRefreshToken, is_legacy_token, user_of, verified_payload

__all__ = ["adopt_legacy_refresh_token", "exchange_legacy_refresh_token", "purge_exchanges"]


def _already_exchanged(jti: Any) -> bool:
    return jti is not None and LegacyTokenExchange.objects.filter(jti=str(jti)).exists()


def _reused() -> TokenReused:
    # Nothing is revoked: a legacy token was never single-use, so a second holder is not
    # proof of theft. The session the first exchange created lives on.
    return TokenReused(str(_("This refresh token was already exchanged for a session.")))


def exchange_legacy_refresh_token(
    raw: Any, *, client: ClientInfo | None = None
) -> services.IssuedSession:
    """Exchange a plain simplejwt refresh token (no ``sid``) for a new device session.

    The token is validated by simplejwt's own ``RefreshToken`` (signature, ``exp``, type
    and, when its ``token_blacklist`` app is installed, the blacklist), then its user
    (``USER_ID_CLAIM``, ``USER_AUTHENTICATION_RULE``, ``CHECK_REVOKE_TOKEN``). Its JTI is
    inserted into a unique column in the same transaction that creates the session, so of
    any number of concurrent exchanges exactly one succeeds; every other use raises
    :class:`~django_token_sessions.exceptions.TokenReused` and changes nothing. With
    ``token_blacklist`` installed the token is also blacklisted there.
    """
    payload = verified_payload(raw)
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
        token = LegacyRefreshToken(raw)
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
    user = user_of(token.payload)
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


def adopt_legacy_refresh_token(
    raw: Any, *, client: ClientInfo | None = None
) -> services.IssuedSession | None:
    """The refresh-token exchange this app registers with the core.

    For a token the core's refresh refused as invalid: None unless it is a valid token
    signed with our keys that has no session id (the core's refusal then stands), else
    :func:`exchange_legacy_refresh_token`. A token with a ``sid`` is never adopted.
    """
    if not is_legacy_token(raw):
        return None
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
