"""simplejwt token classes that carry the device-session id (``sid``) claim.

We extend simplejwt's :class:`~rest_framework_simplejwt.tokens.Token` rather than its
``RefreshToken``: that class registers every token in the ``token_blacklist`` tables
when the app is installed, which is the per-token bookkeeping the session row replaces.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeGuard

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import datetime_from_epoch, datetime_to_epoch

from .conf import access_token_lifetime, app_settings, jwt_settings, refresh_token_lifetime
from .exceptions import TokenExpired, TokenInvalid

#: Claim of refresh tokens holding the session's absolute expiry (epoch seconds).
SESSION_EXPIRY_CLAIM = "session_exp"
#: Claim of access tokens holding their issue time in epoch milliseconds.
ISSUED_AT_MS_CLAIM = "iat_ms"
#: simplejwt's time claims, whose names are not settings.
_TIME_CLAIMS = ("exp", "iat")
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


# -- The claims we read, checked in one place -------------------------------------------
#
# Only a token signed with our key gets past the signature check, but its claims are still
# checked before any of them reaches SQL or a cache key: a key leaked to a log, a token
# minted by another service sharing it, or a bug of ours must not turn into a 500 (a NUL
# is refused by PostgreSQL, a lone surrogate by every database driver, a control character
# by memcached's key rules), nor into a write (a jti that could never be a session's
# current one must not be taken for a replay, which revokes the session).

#: Longest JTI of a plain simplejwt token that ``django_token_sessions.contrib.legacy``
#: adopts (the length of its ``LegacyTokenExchange.jti`` column and of simplejwt's own
#: ``OutstandingToken.jti``).
MAX_LEGACY_JTI_LENGTH = 255
#: Longest user id claim that is looked up: a username or an e-mail address (Django's
#: columns for them hold 150 and 254 characters).
MAX_USER_CLAIM_LENGTH = 255
#: Longest session id claim: a UUID, possibly written ``urn:uuid:<36 characters>``.
_MAX_SID_LENGTH = 45
#: A user id claim that is an integer must fit a 64-bit signed column: a bigger one is
#: never a primary key, and older Django versions raise on it instead of matching nothing.
_MAX_INT_CLAIM = 2**63 - 1
#: Token ids (``jti``), token types and session ids: printable ASCII, no space. We and
#: simplejwt mint ``uuid4().hex`` and ``str(uuid4())``; anything outside this set was
#: never minted by either.
_TOKEN_ID = re.compile(r"[!-~]+")
#: What a user id claim may not hold: control characters (C0 with NUL, DEL, C1) and
#: surrogates (in a str only a lone one can occur, and it does not encode to UTF-8). Other
#: Unicode is fine: a username may be "zürich" or "山田".
_NOT_USER_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def reserved_claim_names() -> frozenset[str]:
    """The claims our tokens carry besides the session id, under the current ``SIMPLE_JWT``
    settings: ``SESSION_ID_CLAIM`` must be none of them."""
    api = jwt_settings()
    return frozenset(
        {
            api.USER_ID_CLAIM,
            api.JTI_CLAIM,
            api.TOKEN_TYPE_CLAIM,
            *_TIME_CLAIMS,
            SESSION_EXPIRY_CLAIM,
            ISSUED_AT_MS_CLAIM,
        }
    )


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_token_id(value: Any, max_length: int = MAX_JTI_LENGTH) -> bool:
    """True for a ``jti`` (or token type) as we and simplejwt mint them: a str of 1 to
    ``max_length`` printable ASCII characters without spaces."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and _TOKEN_ID.fullmatch(value) is not None
    )


def is_user_claim(value: Any) -> bool:
    """True for a user id claim as we mint them: an int (not a bool) that fits a 64-bit
    column, or a str of 1 to ``MAX_USER_CLAIM_LENGTH`` characters that encodes to UTF-8 and
    holds no control character."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_MAX_INT_CLAIM - 1 <= value <= _MAX_INT_CLAIM
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_USER_CLAIM_LENGTH
        and _NOT_USER_TEXT.search(value) is None
    )


def _is_session_id(value: Any) -> bool:
    if not is_token_id(value, _MAX_SID_LENGTH):
        return False  # also a non-str: uuid.UUID(str(...)) would read an int's digits
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def check_claims(payload: dict[str, Any], *, legacy: bool = False) -> None:
    """Raise :class:`TokenError` unless every claim we read has the type, length and
    characters of one we (or, with ``legacy``, simplejwt) mint.

    The one gate between a token's signed JSON and SQL or a cache key, for session tokens
    (:meth:`_SessionToken.verify`) and the plain simplejwt tokens ``contrib.legacy`` adopts
    (which have no session id, and may have a longer jti). Time claims are PyJWT's and
    simplejwt's to check; ``SESSION_EXPIRY_CLAIM`` is :class:`SessionRefreshToken`'s,
    ``ISSUED_AT_MS_CLAIM`` :class:`SessionAccessToken`'s.
    """
    api = jwt_settings()
    if not legacy and not _is_session_id(payload.get(app_settings.SESSION_ID_CLAIM)):
        raise TokenError(_("Token has no valid session id"))
    max_jti = MAX_LEGACY_JTI_LENGTH if legacy else MAX_JTI_LENGTH
    if not is_token_id(payload.get(api.JTI_CLAIM), max_jti):
        raise TokenError(_("Token has no valid id"))
    # Compared with "access" or "refresh" only, never stored: checked all the same, so
    # that no claim escapes the rules.
    if not is_token_id(payload.get(api.TOKEN_TYPE_CLAIM)):
        raise TokenError(_("Token has wrong type"))
    # A user id of another JSON type must not be coerced by the ORM either (True and 1.5
    # both look up the user with pk 1).
    if not is_user_claim(payload.get(api.USER_ID_CLAIM)):
        raise TokenError(_("Token contained no recognizable user identification"))


class _SessionToken(Token):
    """Common behaviour: live settings, and the claims we read checked on every token."""

    @property
    def token_backend(self) -> TokenBackend:
        return get_token_backend()

    def get_token_backend(self) -> TokenBackend:
        return get_token_backend()

    def verify(self) -> None:
        super().verify()
        check_claims(self.payload)

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

    def verify(self) -> None:
        super().verify()
        if not _is_int(self.payload.get(ISSUED_AT_MS_CLAIM)):
            raise TokenError(_("Token has no issue time"))

    @property
    def issued_at_ms(self) -> int:
        """Issue time in epoch milliseconds."""
        return int(self.payload[ISSUED_AT_MS_CLAIM])

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
            if not _is_int(value):
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
