"""Whether an access token's session is still alive, answered on every request.

``TOKEN_SESSIONS["REVOCATION_BACKEND"]`` names the backend by dotted path, as ``CACHES``
names cache backends:

- ``django_token_sessions.revocation.cache.CacheBackend`` (default): markers in a shared
  Django cache (``REVOCATION_CACHE``); one round trip per request, no query.
- ``django_token_sessions.revocation.redis.RedisBackend``: the same on django-redis, the
  round trip overlapped with the user query. The one to use with Redis.
- ``django_token_sessions.revocation.db.DatabaseBackend``: the session row, read inside
  the user query; for deployments without a shared cache.
- ``django_token_sessions.revocation.base.NoRevocationBackend``: no check; access tokens
  live until they expire.

A project's own backend subclasses :class:`RevocationBackend`.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ..conf import app_settings
from .base import NoRevocationBackend, PendingCheck, RevocationBackend, marker_lifetime

__all__ = [
    "NoRevocationBackend",
    "PendingCheck",
    "RevocationBackend",
    "get_revocation_backend",
    "marker_lifetime",
]

_backend: RevocationBackend | None = None
_lock = threading.Lock()


def get_revocation_backend() -> RevocationBackend:
    """The process's instance of the backend ``REVOCATION_BACKEND`` names."""
    backend = _backend
    if backend is None:
        backend = _create()
    return backend


def _create() -> RevocationBackend:
    global _backend
    with _lock:
        if _backend is None:
            backend_class = import_string(app_settings.REVOCATION_BACKEND)
            _backend = backend_class()
        return _backend


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # The backend reads its settings once, when created: a new one follows the change.
    global _backend
    if setting in ("TOKEN_SESSIONS", "CACHES"):
        with _lock:
            _backend = None


setting_changed.connect(_settings_changed)
