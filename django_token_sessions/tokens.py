"""simplejwt token classes that carry the device-session id (``sid``) claim.

We extend simplejwt's :class:`~rest_framework_simplejwt.tokens.Token` rather than its
``RefreshToken``: that class registers every token in the ``token_blacklist`` tables
when the app is installed, which is the per-token bookkeeping the session row replaces.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import datetime_from_epoch, datetime_to_epoch

from .conf import access_token_lifetime, app_settings, jwt_settings, refresh_token_lifetime
from .exceptions import TokenExpired, TokenInvalid

#: Claim of refresh tokens holding the session's absolute expiry (epoch seconds).
SESSION_EXPIRY_CLAIM = "sxp"
#: Claim of access tokens holding their issue time in epoch milliseconds.
ISSUED_AT_MS_CLAIM = "iat_ms"
#: Longest JTI a session row can hold (``DeviceSession.refresh_jti``).
MAX_JTI_LENGTH = 64
#: What reading a signed time claim as a datetime raises when PyJWT accepted it but
#: ``datetime`` cannot hold it (``"exp": "99999999999"``, a year past 9999).
BAD_TIME_CLAIM_ERRORS = (TypeError, ValueError, OverflowError, OSError)


@lru_cache(maxsize=4)
def _backend_for(api_settings: Any) -> TokenBackend:
    return TokenBackend(
        api_settings.ALGORITHM,
        api_settings.SIGNING_KEY,
        api_settings.VERIFYING_KEY,
        api_settings.AUDIENCE,
        api_settings.ISSUER,
        api_settings.JWK_URL,
        api_settings.LEEWAY,
        api_settings.JSON_ENCODER,
    )


def get_token_backend() -> TokenBackend:
    """A simplejwt ``TokenBackend`` for the current ``SIMPLE_JWT`` settings.

    simplejwt's own ``state.token_backend`` is built once at import; ours follows
    ``override_settings`` (cached per settings object, so it is built once per change).
    """
    return _backend_for(jwt_settings())


#: A user id claim that is an integer must fit a 64-bit signed column: a bigger one is
#: never a primary key, and older Django versions raise on it instead of matching nothing.
_MAX_INT_CLAIM = 2**63 - 1


def is_user_claim(value: Any) -> bool:
    """True for a user id claim as we mint them: an int (not a bool) that fits a 64-bit
    column, or a non-empty str."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_MAX_INT_CLAIM - 1 <= value <= _MAX_INT_CLAIM
    return isinstance(value, str) and value != ""


class _SessionToken(Token):
    """Common behaviour: live settings, and a valid ``sid`` claim on every token."""

    @property
    def token_backend(self) -> TokenBackend:
        return get_token_backend()

    def get_token_backend(self) -> TokenBackend:
        return get_token_backend()

    def verify(self) -> None:
        super().verify()
        sid = self.payload.get(app_settings.SESSION_ID_CLAIM)
        try:
            # A string only: uuid.UUID(str(...)) would also read an int's digits as a UUID.
            uuid.UUID(sid if isinstance(sid, str) else "")
        except ValueError as exc:
            raise TokenError(_("Token has no valid session id")) from exc
        # Only a signed token gets here, but claim types are still checked: a jti that
        # could never be a session's current one must not be mistaken for a replay (which
        # revokes the session), and a user id of another JSON type must not be coerced by
        # the ORM (True and 1.5 both look up the user with pk 1).
        jti = self.payload.get(jwt_settings().JTI_CLAIM)
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise TokenError(_("Token has no valid id"))
        if not is_user_claim(self.payload.get(jwt_settings().USER_ID_CLAIM)):
            raise TokenError(_("Token contained no recognizable user identification"))

    @property
    def session_id(self) -> uuid.UUID:
        """The device session this token belongs to."""
        return uuid.UUID(str(self.payload[app_settings.SESSION_ID_CLAIM]))

    @property
    def jti(self) -> str:
        """The token's unique id."""
        return str(self.payload[jwt_settings().JTI_CLAIM])

    @property
    def user_id(self) -> Any:
        """The user id claim, as it was written (a string for non-integer pks)."""
        return self.payload[jwt_settings().USER_ID_CLAIM]

    @property
    def expires_at(self) -> datetime:
        """The ``exp`` claim as an aware datetime."""
        return datetime_from_epoch(self.payload["exp"])


class SessionAccessToken(_SessionToken):
    """A short-lived access token bound to a device session."""

    token_type = "access"
    #: Set by the authentication class when the session check is still to be done by its
    #: user query (``REVOCATION_CHECK = "db"``).
    _session_check_pending: bool = False

    @property
    def issued_at_ms(self) -> int:
        """Issue time in epoch milliseconds (from ``iat`` if the token predates the claim)."""
        value = self.payload.get(ISSUED_AT_MS_CLAIM)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return int(self.payload.get("iat", 0)) * 1000

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return access_token_lifetime()


class SessionRefreshToken(_SessionToken):
    """A rotating refresh token bound to a device session."""

    token_type = "refresh"

    def verify(self) -> None:
        super().verify()
        value = self.payload.get(SESSION_EXPIRY_CLAIM)
        try:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(value)
            datetime_from_epoch(value)  # within datetime's range
        except BAD_TIME_CLAIM_ERRORS as exc:
            raise TokenError(_("Token has no session expiry")) from exc

    @property
    def session_expires_at(self) -> datetime:
        """The session's absolute expiry, as signed into the token."""
        return datetime_from_epoch(self.payload[SESSION_EXPIRY_CLAIM])

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return refresh_token_lifetime()


@dataclass(frozen=True)
class TokenPair:
    """A freshly minted access and refresh token for one session."""

    access: str
    refresh: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    refresh_jti: str


def new_jti() -> str:
    """A fresh random token id, in simplejwt's format."""
    return uuid.uuid4().hex


def mint_pair(
    *,
    user_id: Any,
    session_id: uuid.UUID,
    jti: str,
    now: datetime,
    absolute_expires_at: datetime,
) -> TokenPair:
    """Sign a refresh token with the given ``jti`` and its access token.

    Neither token outlives the session's absolute expiry, so a session that keeps
    refreshing still ends when it must. The refresh token carries that expiry in the
    signed ``SESSION_EXPIRY_CLAIM`` so a rotation can mint the next pair without
    reading the session row first.
    """
    not_after = absolute_expires_at
    api = jwt_settings()
    uid = user_id if isinstance(user_id, int) else str(user_id)
    claims = {api.USER_ID_CLAIM: uid, app_settings.SESSION_ID_CLAIM: str(session_id)}

    refresh = SessionRefreshToken()
    refresh.current_time = now
    refresh.payload.update(claims)
    refresh.payload[api.JTI_CLAIM] = jti
    refresh.set_iat(at_time=now)
    refresh_exp = min(now + refresh_token_lifetime(), not_after)
    refresh.payload["exp"] = datetime_to_epoch(refresh_exp)
    refresh.payload[SESSION_EXPIRY_CLAIM] = datetime_to_epoch(absolute_expires_at)

    access = SessionAccessToken()
    access.current_time = now
    access.payload.update(claims)
    access.set_iat(at_time=now)
    # Millisecond issue time: a logout-everywhere marker must tell apart tokens minted in
    # the same second just before and just after it ("iat" has whole seconds).
    access.payload[ISSUED_AT_MS_CLAIM] = int(now.timestamp() * 1000)
    access_exp = min(now + access_token_lifetime(), not_after)
    access.payload["exp"] = datetime_to_epoch(access_exp)

    return TokenPair(
        access=str(access),
        refresh=str(refresh),
        access_expires_at=datetime_from_epoch(access.payload["exp"]),
        refresh_expires_at=datetime_from_epoch(refresh.payload["exp"]),
        refresh_jti=jti,
    )


def token_text(raw: Any) -> str:
    """An encoded token as ``str``; anything else (non-ASCII bytes, empty, not text) is
    :class:`TokenInvalid`."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise TokenInvalid() from exc
    if not isinstance(raw, str) or not raw:
        raise TokenInvalid()
    return raw


def _decode(cls: type[_SessionToken], raw: Any) -> _SessionToken:
    raw = token_text(raw)
    try:
        return cls(raw)
    except ExpiredTokenError as exc:
        raise TokenExpired() from exc
    except TokenError as exc:
        raise TokenInvalid(str(exc.args[0]) if exc.args else None) from exc
    except BAD_TIME_CLAIM_ERRORS as exc:  # simplejwt's exp check trusts PyJWT's
        raise TokenInvalid() from exc


def decode_refresh(raw: Any) -> SessionRefreshToken:
    """Validate an encoded refresh token, raising :class:`TokenInvalid`/:class:`TokenExpired`."""
    token = _decode(SessionRefreshToken, raw)
    assert isinstance(token, SessionRefreshToken)
    return token


def decode_access(raw: Any) -> SessionAccessToken:
    """Validate an encoded access token, raising :class:`TokenInvalid`/:class:`TokenExpired`."""
    token = _decode(SessionAccessToken, raw)
    assert isinstance(token, SessionAccessToken)
    return token
