"""The revocation backends the package ships, by a short name, and a nudge to their state."""

from __future__ import annotations

#: ``TOKEN_SESSIONS["REVOCATION_BACKEND"]`` of each backend the package ships, by a short name.
BACKENDS = {
    "cache": "django_token_sessions.revocation.cache.CacheBackend",
    "redis": "django_token_sessions.revocation.redis.RedisBackend",
    "db": "django_token_sessions.revocation.db.DatabaseBackend",
    "off": "django_token_sessions.revocation.base.NoRevocationBackend",
}


def rebuild_may_run_now() -> None:
    """As if ``CacheBackend.retry_interval`` had passed since this process's last attempt
    to rebuild the revocation markers (it tries at most once a second)."""
    from django_token_sessions.revocation import get_revocation_backend

    get_revocation_backend()._last_rebuild_attempt = None  # type: ignore[attr-defined]
