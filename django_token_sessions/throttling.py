"""Login throttling, with its rate read live from ``TOKEN_SESSIONS["LOGIN_THROTTLE_RATE"]``."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import AnonRateThrottle

from .conf import app_settings


class LoginRateThrottle(AnonRateThrottle):
    """Per-client-IP limit on login attempts (DRF's cache-based throttle).

    ``None`` turns it off. The rate uses DRF's syntax: ``"10/min"``, ``"100/hour"``.
    """

    scope = "token_sessions_login"

    def get_rate(self) -> str | None:
        """The configured rate, read on every request so settings overrides apply."""
        return app_settings.LOGIN_THROTTLE_RATE

    def allow_request(self, request: Any, view: Any) -> bool:
        """Let every request through when the rate is ``None``."""
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        """Throttle by client address, whoever is authenticated."""
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
