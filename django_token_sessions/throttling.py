"""Login throttling: one budget per client address and one per username.

Both are DRF throttles in the default cache, with their rates read live from
``TOKEN_SESSIONS`` (``LOGIN_THROTTLE_RATE``, ``LOGIN_USERNAME_THROTTLE_RATE``). DRF runs
throttles before the view, so every attempt counts, whatever its outcome, and an attempt
over either limit is answered 429 (with ``Retry-After``) before the password is hashed.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.utils.crypto import salted_hmac
from rest_framework.throttling import SimpleRateThrottle

from .conf import app_settings
from .device import client_ip

#: Longer than any username the login serializer accepts (254), so no real one is cut;
#: it bounds the NFKC work on hostile input (one character can expand 18-fold).
_USERNAME_CHARS = 1024


class _LoginThrottle(SimpleRateThrottle):
    """A DRF rate throttle whose rate is a ``TOKEN_SESSIONS`` key, read on each request."""

    rate_setting: ClassVar[str]

    def get_rate(self) -> str | None:
        """The configured rate, read on every request so settings overrides apply."""
        rate: str | None = getattr(app_settings, self.rate_setting)
        return rate

    def allow_request(self, request: Any, view: Any) -> bool:
        """Let every request through when the rate is ``None``."""
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def wait(self) -> float:
        """Seconds until this scope lets an attempt through again: never ``None``, so a
        429 always carries ``Retry-After``.

        DRF's own answer is ``None`` (no header) when more attempts are recorded than the
        rate allows, which happens after the rate setting is lowered.
        """
        history: list[float] = getattr(self, "history", [])
        limit, window = self.num_requests or 0, self.duration or 1
        if limit < 1 or len(history) < limit:
            return float(window)
        # History is newest first: an attempt is let through once fewer than `limit`
        # remain inside the window, which is when this one leaves it.
        return max(1.0, history[limit - 1] + window - self.now)

    def get_ident(self, request: Any) -> str:
        """The client address as :func:`~.device.client_ip` decides it, never DRF's guess.

        IPv6 clients are counted by their /64: one host usually holds a whole /64
        (SLAAC, privacy addresses) and can send from any address in it, so a budget per
        /128 would be a fresh budget per request. Clients sharing a /64 share a budget,
        as clients behind one IPv4 NAT do. Requests without a usable address share the
        single ``unknown`` budget: they fail closed instead of going unthrottled.
        """
        ip = client_ip(request)
        if ip is None:
            return "unknown"
        address = ipaddress.ip_address(ip)
        if address.version == 6:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return ip


class LoginRateThrottle(_LoginThrottle):
    """Login attempts per client address (``LOGIN_THROTTLE_RATE``, default ``"10/min"``).

    ``None`` turns it off. The rate uses DRF's syntax: ``"10/min"``, ``"100/hour"``. The
    address is :meth:`get_ident`'s: ``client_ip()`` with IPv6 grouped by /64.
    """

    scope = "token_sessions_login"
    rate_setting = "LOGIN_THROTTLE_RATE"

    def get_cache_key(self, request: Any, view: Any) -> str:
        """Throttle by client address, whoever is authenticated."""
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameRateThrottle(_LoginThrottle):
    """Login attempts per username, from anywhere (``LOGIN_USERNAME_THROTTLE_RATE``).

    Against credential stuffing and password spraying from many addresses, which the
    per-address limit cannot see. The username is compared NFKC-normalised, stripped and
    case-folded, so ``Alice``, `` ALICE`` and its fullwidth spelling share one budget (a
    case-insensitive backend or database collation lets all of them log in as ``alice``);
    the cache key holds an HMAC of it: safe for any characters and length, and not a
    readable list of the usernames under attack.

    The trade-off: anyone who knows a username can spend its budget and keep that user
    out of password login until their attempts leave the window (the 429's
    ``Retry-After`` says when). Hence the default, ``"20/hour"``: a person mistyping a
    password never meets it; a botnet gets 20 guesses an hour at an account (480 a day)
    instead of 10 a minute from each of its addresses; and a lockout ends at most an
    hour after the attacker stops. A per-minute rate would shorten lockouts but give
    back the guesses (``"5/min"`` is 7,200 a day). ``None`` turns it off, e.g. where
    accounts are locked elsewhere (django-axes); an account that logs in by script more
    than 20 times an hour needs a larger budget.

    A request with no username, or one that is not a string or number (the serializer
    refuses those before any password check), is not counted here. A body that does not
    parse raises the same 400 or 415 the view would.
    """

    scope = "token_sessions_login_username"
    rate_setting = "LOGIN_USERNAME_THROTTLE_RATE"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        """``None`` (not counted) without a username; else a key from its HMAC."""
        username = _submitted_username(request.data)
        if username is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": _username_digest(username)}


#: The login throttles, for ``LoginView.throttle_classes``. DRF asks each of them even
#: after one refused (so an attempt refused by one scope still counts in the other) and
#: answers with the longest wait. The per-address one comes first: it reads no body, so a
#: body that does not parse (the username one then raises the view's own 400 or 415) has
#: been counted against its address already.
LOGIN_THROTTLES: tuple[type[_LoginThrottle], ...] = (LoginRateThrottle, LoginUsernameRateThrottle)


def _submitted_username(data: Any) -> str | None:
    # The login serializer's reading: "username", else the user model's USERNAME_FIELD;
    # numbers are accepted (DRF's CharField turns them into strings), other types refused.
    if not isinstance(data, dict):
        return None
    field = get_user_model().USERNAME_FIELD
    value = data["username"] if "username" in data else data.get(field)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value)


def _username_digest(username: str) -> str:
    text = unicodedata.normalize("NFKC", username[:_USERNAME_CHARS])
    text = unicodedata.normalize("NFKC", text.casefold()).strip()
    # surrogatepass: a lone surrogate (valid in JSON, not in UTF-8) still hashes.
    raw = text.encode("utf-8", "surrogatepass")
    return salted_hmac("django_token_sessions.login_username", raw, algorithm="sha256").hexdigest()
