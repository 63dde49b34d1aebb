"""Settings of django-token-sessions, read live from ``settings.TOKEN_SESSIONS``.

Every attribute is a property that reads ``django.conf.settings`` on access, so
``override_settings`` works in tests and nothing is frozen at import time. Token
lifetimes are not ours: they come from simplejwt's ``SIMPLE_JWT`` setting, read
through :func:`jwt_settings` for the same reason.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, cast

import rest_framework_simplejwt.settings as _simplejwt_settings
from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "ROTATION_GRACE_PERIOD": timedelta(seconds=10),
    "SESSION_ABSOLUTE_LIFETIME": timedelta(days=30),
    "MAX_SESSIONS_PER_USER": None,
    "IP_ADDRESS_STORAGE": "full",
    "NUM_PROXIES": 0,
    "SESSION_ID_CLAIM": "sid",
    "LOGIN_THROTTLE_RATE": "10/min",
    "LOGIN_USERNAME_THROTTLE_RATE": "20/hour",
    "USER_AGENT_MAX_LENGTH": 512,
    "REFRESH_TOKEN_TRANSPORT": "cookie",
    "ALLOW_BODY_TRANSPORT": True,
    "REFRESH_COOKIE_NAME": "tokensessions_refresh",
    "REFRESH_COOKIE_PATH": None,
    "REFRESH_COOKIE_DOMAIN": None,
    "REFRESH_COOKIE_SECURE": True,
    "REFRESH_COOKIE_HTTPONLY": True,
    "REFRESH_COOKIE_SAMESITE": "Lax",
    "REVOCATION_BACKEND": "django_token_sessions.revocation.cache.CacheBackend",
    "REVOCATION_CACHE": "default",
    "REVOCATION_CACHE_FAILURE": "db",
    "LOGOUT_ON_PASSWORD_CHANGE": True,
    "PASSWORD_CHANGE_KEEPS_CURRENT_SESSION": False,
    "LOGOUT_ON_DEACTIVATION": True,
    "PURGE_RETENTION": timedelta(days=30),
}

IP_ADDRESS_STORAGE_CHOICES = ("full", "truncated", "none")
TRANSPORT_CHOICES = ("cookie", "body")
SAMESITE_CHOICES = ("Lax", "Strict", "None")
REVOCATION_CACHE_FAILURE_CHOICES = ("db", "deny")
SameSite = Literal["Lax", "Strict", "None"]


def _as_timedelta(value: Any) -> timedelta:
    # Seconds as a plain number are accepted too, as in simplejwt's settings docs.
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=value)


class Settings:
    """Typed, lazy view of ``settings.TOKEN_SESSIONS`` with documented defaults.

    Each property's docstring is its type, a blank line, then its meaning: the settings
    reference of the docs is generated from them and from ``DEFAULTS`` (docs/_ext).
    """

    def _raw(self, name: str) -> Any:
        user = getattr(settings, "TOKEN_SESSIONS", None) or {}
        if not isinstance(user, dict):
            # Reported by the check token_sessions.E001; fall back to defaults meanwhile.
            user = {}
        return user.get(name, DEFAULTS[name])

    @property
    def ROTATION_GRACE_PERIOD(self) -> timedelta:
        """``timedelta`` or seconds

        How long after a rotation the token just replaced is still exchanged for the
        session's current token; ``0`` turns it off.
        """
        return _as_timedelta(self._raw("ROTATION_GRACE_PERIOD"))

    @property
    def SESSION_ABSOLUTE_LIFETIME(self) -> timedelta:
        """``timedelta`` or seconds

        A session ends this long after login however often it refreshes; no token outlives
        it.
        """
        return _as_timedelta(self._raw("SESSION_ABSOLUTE_LIFETIME"))

    @property
    def MAX_SESSIONS_PER_USER(self) -> int | None:
        """``int`` or ``None``

        Cap on active sessions per user; a login beyond it revokes the oldest (reason
        ``session_limit``) instead of being refused.
        """
        value: int | None = self._raw("MAX_SESSIONS_PER_USER")
        return value

    @property
    def IP_ADDRESS_STORAGE(self) -> str:
        """``"full"``, ``"truncated"`` or ``"none"``

        Store the client IP, its network only (/24 for IPv4, /48 for IPv6), or nothing.
        """
        return str(self._raw("IP_ADDRESS_STORAGE"))

    @property
    def NUM_PROXIES(self) -> int:
        """``int``

        Trusted reverse proxies in front of Django. The one client identity: the stored
        session IP and both login throttles use it, never DRF's ``get_ident()``. ``0``:
        ``REMOTE_ADDR`` only (``X-Forwarded-For``, ``X-Real-IP``, ``Forwarded`` ignored);
        ``n``: the n-th ``X-Forwarded-For`` entry from the right, an unparsable one falling
        back to ``REMOTE_ADDR``. Set this, not DRF's ``NUM_PROXIES`` (check ``W010``).
        """
        return int(self._raw("NUM_PROXIES"))

    @property
    def SESSION_ID_CLAIM(self) -> str:
        """``str``

        The claim holding the session id in every token.
        """
        return str(self._raw("SESSION_ID_CLAIM"))

    @property
    def LOGIN_THROTTLE_RATE(self) -> str | None:
        """DRF rate or ``None``

        Login attempts per client address (an IPv6 client per /64), in the default cache;
        ``None`` turns it off. A refused attempt never reaches the password hasher; a 429
        carries ``Retry-After``.
        """
        value: str | None = self._raw("LOGIN_THROTTLE_RATE")
        return value

    @property
    def LOGIN_USERNAME_THROTTLE_RATE(self) -> str | None:
        """DRF rate or ``None``

        Login attempts per username (NFKC, case-folded, stripped; keyed by an HMAC), from
        any number of addresses: credential stuffing. The trade-off: whoever knows a
        username can keep its owner from password login for up to the window; 20/hour is
        never met by a person mistyping and caps a botnet at ~480 guesses a day per account.
        Raise it or set ``None`` for accounts that log in by script.
        """
        value: str | None = self._raw("LOGIN_USERNAME_THROTTLE_RATE")
        return value

    @property
    def USER_AGENT_MAX_LENGTH(self) -> int:
        """``int``

        User agents are stored cut to this length.
        """
        return int(self._raw("USER_AGENT_MAX_LENGTH"))

    @property
    def REFRESH_TOKEN_TRANSPORT(self) -> str:
        """``"cookie"`` or ``"body"``

        How login hands out the refresh token by default.
        """
        return str(self._raw("REFRESH_TOKEN_TRANSPORT"))

    @property
    def ALLOW_BODY_TRANSPORT(self) -> bool:
        """``bool``

        Whether a client may ask for the body with ``X-Token-Transport: body``.
        """
        return bool(self._raw("ALLOW_BODY_TRANSPORT"))

    @property
    def REFRESH_COOKIE_NAME(self) -> str:
        """``str``

        The refresh cookie's name.
        """
        return str(self._raw("REFRESH_COOKIE_NAME"))

    @property
    def REFRESH_COOKIE_PATH(self) -> str | None:
        """``str`` or ``None``

        ``None``: the path the URLs are included at (e.g. ``/api/auth/``), so the cookie is
        not sent with every API call.
        """
        value: str | None = self._raw("REFRESH_COOKIE_PATH")
        return value

    @property
    def REFRESH_COOKIE_DOMAIN(self) -> str | None:
        """``str`` or ``None``

        The cookie's ``Domain`` (``None``: host-only).
        """
        value: str | None = self._raw("REFRESH_COOKIE_DOMAIN")
        return value

    @property
    def REFRESH_COOKIE_SECURE(self) -> bool:
        """``bool``

        The cookie's ``Secure`` flag.
        """
        return bool(self._raw("REFRESH_COOKIE_SECURE"))

    @property
    def REFRESH_COOKIE_HTTPONLY(self) -> bool:
        """``bool``

        Cannot be turned off (check ``E008``).
        """
        return bool(self._raw("REFRESH_COOKIE_HTTPONLY"))

    @property
    def REFRESH_COOKIE_SAMESITE(self) -> SameSite:
        """``"Lax"``, ``"Strict"`` or ``"None"``

        The cookie's ``SameSite``; ``"None"`` needs ``Secure``.
        """
        # One of SAMESITE_CHOICES: the system checks refuse anything else.
        return cast(SameSite, str(self._raw("REFRESH_COOKIE_SAMESITE")))

    @property
    def REVOCATION_BACKEND(self) -> str:
        """dotted path of a ``RevocationBackend`` subclass

        How each request learns that its session was revoked (see the revocation page).
        """
        return str(self._raw("REVOCATION_BACKEND"))

    @property
    def REVOCATION_CACHE(self) -> str:
        """cache alias

        The cache (in ``CACHES``) holding the revocation markers; use a shared one (django-
        redis).
        """
        return str(self._raw("REVOCATION_CACHE"))

    @property
    def REVOCATION_CACHE_FAILURE(self) -> str:
        """``"db"`` or ``"deny"``

        When the revocation cache fails: answer from the database, or refuse (401
        ``revocation_unavailable``).
        """
        return str(self._raw("REVOCATION_CACHE_FAILURE"))

    @property
    def LOGOUT_ON_PASSWORD_CHANGE(self) -> bool:
        """``bool``

        A password change revokes all the user's sessions (reason ``password_changed``).
        """
        return bool(self._raw("LOGOUT_ON_PASSWORD_CHANGE"))

    @property
    def PASSWORD_CHANGE_KEEPS_CURRENT_SESSION(self) -> bool:
        """``bool``

        …except the session of the request that changed it.
        """
        return bool(self._raw("PASSWORD_CHANGE_KEEPS_CURRENT_SESSION"))

    @property
    def LOGOUT_ON_DEACTIVATION(self) -> bool:
        """``bool``

        Saving a user with ``is_active = False`` revokes their sessions (reason
        ``user_deactivated``).
        """
        return bool(self._raw("LOGOUT_ON_DEACTIVATION"))

    @property
    def PURGE_RETENTION(self) -> timedelta:
        """``timedelta`` or seconds

        How long ``tokensessions_purge`` keeps a session after it ended (revoked or
        expired).
        """
        return _as_timedelta(self._raw("PURGE_RETENTION"))


app_settings = Settings()


#: Lifetimes used when ``SIMPLE_JWT`` does not set them (simplejwt's own are 5 min / 1 day).
DEFAULT_ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
DEFAULT_REFRESH_TOKEN_LIFETIME = timedelta(days=7)


def _jwt_lifetime(name: str, default: timedelta) -> timedelta:
    configured = getattr(settings, "SIMPLE_JWT", None) or {}
    if name in configured:
        return _as_timedelta(getattr(jwt_settings(), name))
    return default


def access_token_lifetime() -> timedelta:
    """``SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]`` if set, else 15 minutes."""
    return _jwt_lifetime("ACCESS_TOKEN_LIFETIME", DEFAULT_ACCESS_TOKEN_LIFETIME)


def refresh_token_lifetime() -> timedelta:
    """``SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]`` if set, else 7 days."""
    return _jwt_lifetime("REFRESH_TOKEN_LIFETIME", DEFAULT_REFRESH_TOKEN_LIFETIME)


def jwt_settings() -> Any:
    """simplejwt's current ``api_settings``.

    simplejwt rebinds its module-level ``api_settings`` when ``SIMPLE_JWT`` changes, so it
    must be looked up through the module on every use, never imported by name.
    """
    return _simplejwt_settings.api_settings
