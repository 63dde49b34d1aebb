"""Helpers shared by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def bearer(access: str) -> APIClient:
    """A fresh client that sends ``Authorization: Bearer <access>``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def refresh(raw: str) -> Any:
    """POST a refresh token in the body, as a native client does."""
    return APIClient().post("/api/auth/refresh/", {"refresh": raw}, format="json")


@contextmanager
def catch_signal(signal: Signal) -> Iterator[list[dict[str, Any]]]:
    """Record the keyword arguments of every ``signal`` sent inside the block."""
    sent: list[dict[str, Any]] = []

    def handler(sender: Any, **kwargs: Any) -> None:
        kwargs.pop("signal", None)
        sent.append({"sender": sender, **kwargs})

    signal.connect(handler, weak=False)
    try:
        yield sent
    finally:
        signal.disconnect(handler)


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
