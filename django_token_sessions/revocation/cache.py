"""The ``cache`` backend: revocation markers in a shared Django cache.

Revoking a session writes ``token_sessions:revoked:<sid>``; logging a user out everywhere
writes one ``token_sessions:revoked_user:<user id>`` "not before" marker
(``…:revoked_user:s:<sha256>`` for a claim that is not an integer: :func:`user_key`),
whatever the number of sessions. A check reads both, plus a readiness key, in one round
trip and makes no database query.

Markers expire when the last access token they could refuse has expired, so the cache
holds at most "sessions revoked in the last access-token lifetime".

Everything a marker says is also in the database, so that a rebuild can say it again: a
revoked session is its revoked row; a session whose row was deleted (by the user's
deletion, or by a ``delete()`` of the row) is a :class:`~..models.RevocationRecord`,
written in the deleting transaction. A missing marker means "alive", so a session that
ended without leaving either would be alive again after a flush.

A cache that fails (down, timing out, or hiding errors as misses with
``DJANGO_REDIS_IGNORE_EXCEPTIONS``) or that lost its data (a Redis restart or flush) is
recognised by the missing readiness key. Then the request is answered from the database
(or refused, with ``REVOCATION_CACHE_FAILURE = "deny"``), and the markers of recently
revoked sessions are rebuilt from the database before the cache is trusted again.

A cache can also miss a marker and still look healthy: a write lost in a network cut
while Redis kept its data. So the readiness key carries the time of the last rebuild, and
a rebuild runs again once it is :attr:`CacheBackend.resync_interval` old (by one process,
in the request that notices), and at once in a process that has seen the cache fail. A
lost marker is therefore missing for seconds, not for an access-token lifetime.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core.cache import caches
from django.utils import timezone

from ..conf import app_settings
from ..exceptions import RevocationUnavailable
from ..storage import recent_revocation_records, recently_revoked_session_ids
from ..tokens import SessionAccessToken
from .base import PendingCheck, RevocationBackend, marker_lifetime
from .db import DatabaseBackend

logger = logging.getLogger("django_token_sessions.revocation")

#: Present (holding the time of the last rebuild) while the markers are complete.
READY_KEY = "token_sessions:ready"
#: Held by the one process rebuilding the markers.
REBUILDING_KEY = "token_sessions:rebuilding"


def session_key(session_id: Any) -> str:
    """Cache key of the marker of one revoked session."""
    return f"token_sessions:revoked:{session_id}"


#: A user id claim written as is in its marker's key: a decimal integer of at most 19
#: digits (every claim of an integer primary key, see ``tokens.is_user_claim``).
_READABLE_CLAIM = re.compile(r"-?[0-9]{1,19}")


def user_key(user_claim: Any) -> str:
    """Cache key of a user's "not before" marker (by the token's user id claim).

    The one definition for the writer, the check and the rebuild. It depends only on the
    claim's text, which is all a :class:`~..models.RevocationRecord` keeps: ``42`` and
    ``"42"`` share a key. An integer stays readable (``…:revoked_user:42``); any other
    claim (a username, an e-mail address, a UUID) is hashed (``…:revoked_user:s:<sha256>``)
    because a valid username may hold a space or be too long for a memcached key, and a
    key the cache refuses would send every request of that user to the database.
    """
    text = str(user_claim)
    if _READABLE_CLAIM.fullmatch(text):
        return f"token_sessions:revoked_user:{text}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"token_sessions:revoked_user:s:{digest}"


def user_marker(before_ms: int, keep_session_id: Any) -> dict[str, Any]:
    """The value of a user's "not before" marker."""
    return {
        "before": before_ms,
        "keep": None if keep_session_id is None else str(keep_session_id),
    }


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _RateLimitedLog:
    """At most one warning per ``interval`` seconds: a dead cache must not turn every
    request into a log line."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last = -interval
        self._lock = threading.Lock()

    def warning(self, message: str, *args: Any) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
        logger.warning(message, *args)

    def reset(self) -> None:
        with self._lock:
            self._last = -self.interval


#: What a check reads: the cached values of its keys (missing keys left out).
Reader = Callable[[], dict[str, Any]]


class CacheBackend(RevocationBackend):
    """Markers in the cache alias ``TOKEN_SESSIONS["REVOCATION_CACHE"]``, any Django cache
    shared by every process (Redis, Memcached, the database cache).

    One round trip per check (``get_many``). With django-redis,
    :class:`~.redis.RedisBackend` overlaps that round trip with the user query.
    """

    #: Seconds between two rebuild attempts of one process while the cache is unusable.
    retry_interval = 1.0
    #: Age (seconds) of the last rebuild after which the markers are rebuilt again,
    #: healthy or not: it bounds how long a lost marker write goes unnoticed.
    resync_interval = 5.0
    #: A periodic rebuild rewrites the markers of sessions revoked since the previous one,
    #: and this many seconds more: a revocation stamped before the previous rebuild read
    #: the table but committed after it (a long transaction) is still covered.
    resync_margin = 60.0
    #: A rebuild that died half-way blocks the next one this long at most.
    rebuild_lock_seconds = 10

    def __init__(self) -> None:
        self.alias = app_settings.REVOCATION_CACHE
        self._lock = threading.Lock()
        self._last_rebuild_attempt: float | None = None
        # Set when a read or write of ours failed: a marker may be missing from a cache
        # that otherwise looks ready, until a rebuild that started after the failure (by
        # any process) has completed.
        self._failed_since: float | None = None
        self._failure_log = _RateLimitedLog()

    @property
    def cache(self) -> Any:
        """The cache the markers live in."""
        return caches[self.alias]

    def reset(self) -> None:
        """Forget failures, rebuild attempts and the log's rate limit."""
        with self._lock:
            self._last_rebuild_attempt = None
            self._failed_since = None
        self._failure_log.reset()

    @property
    def failed_since(self) -> float | None:
        """Epoch time of this process's first failed cache access since the last
        rebuild it knows of, or None."""
        return self._failed_since

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """One round trip: readiness, the session's and the user's markers."""
        return self.begin(token).result()

    def check_keys(self, token: SessionAccessToken) -> list[str]:
        """The keys one check reads, in one round trip."""
        return [READY_KEY, session_key(token.session_id), user_key(token.user_id)]

    def begin(self, token: SessionAccessToken) -> PendingCheck:
        """A check that reads its keys when asked for the result."""
        keys = self.check_keys(token)
        return PendingCheck(lambda: self.answer(token, keys, lambda: self.cache.get_many(keys)))

    def answer(self, token: SessionAccessToken, keys: list[str], read: Reader) -> bool:
        """The check's answer from what ``read`` returns for ``keys`` (:meth:`check_keys`),
        falling back to the database (or refusing) when the cache cannot answer."""
        _ready, skey, ukey = keys  # check_keys(token), built once per check
        try:
            found = read()
        except Exception as exc:
            self._failed()
            return self._fallback(token, f"error: {exc!r}")
        if READY_KEY not in found:
            # Down with errors swallowed, flushed, restarted or evicted: markers may be
            # missing, so a miss proves nothing.
            return self._fallback(token, "readiness key missing")
        ready = found[READY_KEY]
        if self._resync_due(ready):
            since = ready - self.resync_margin if _is_time(ready) else None
            if self._may_rebuild() and self.rebuild(since=since):
                try:
                    found = self.cache.get_many([skey, ukey])
                except Exception as exc:
                    self._failed()
                    return self._fallback(token, f"error: {exc!r}")
            elif self._failed_since is not None:
                # A write of ours failed and no rebuild has run since: a marker may be
                # missing, so the cache cannot answer yet.
                return self._fallback(token, "rebuild pending after a failed write")
        if skey in found:
            return True
        marker = found.get(ukey)
        if isinstance(marker, dict):
            before = int(marker.get("before", 0))
            keep = marker.get("keep")
            return token.issued_at_ms < before and str(token.session_id) != keep
        return False

    def _failed(self) -> None:
        with self._lock:
            if self._failed_since is None:
                self._failed_since = time.time()

    def _resync_due(self, ready: Any) -> bool:
        if not _is_time(ready):
            return True  # not a time: not a readiness key this backend wrote
        failed_at = self._failed_since
        if failed_at is not None:
            if ready <= failed_at:
                return True
            # Another process rebuilt the markers after our failure: they are complete.
            with self._lock:
                self._failed_since = None
        return bool(time.time() - ready >= self.resync_interval)

    def _may_rebuild(self) -> bool:
        """True at most once per ``retry_interval`` in this process."""
        with self._lock:
            now = time.monotonic()
            last = self._last_rebuild_attempt
            if last is not None and now - last < self.retry_interval:
                return False
            self._last_rebuild_attempt = now
            return True

    def _fallback(self, token: SessionAccessToken, why: str) -> bool:
        deny = app_settings.REVOCATION_CACHE_FAILURE == "deny"
        self._failure_log.warning(
            "token_sessions: revocation cache %r unusable (%s); %s",
            self.alias,
            why,
            "refusing the request" if deny else "checking the database",
        )
        if deny:
            self._maybe_rebuild()
            raise RevocationUnavailable()
        revoked = DatabaseBackend().is_revoked(token)
        self._maybe_rebuild()
        return revoked

    def _maybe_rebuild(self) -> None:
        # During an outage every request lands here: try a rebuild at most once per
        # retry_interval per process, so a dead Redis costs one query per request, not a
        # rebuild query and two connection attempts.
        if self._may_rebuild():
            self.rebuild()

    def rebuild(self, since: float | None = None) -> bool:
        """Rewrite the markers of sessions revoked, and of the revocation records written,
        within a marker lifetime (or since the epoch time ``since``, if later), then mark
        the cache ready with the time. Idempotent; returns False if the cache is still
        failing, or another process is rebuilding it."""
        ttl = marker_lifetime()
        start = time.time() - ttl
        if since is not None:
            start = max(start, since)
        locked = False
        try:
            # One rebuild at a time across all processes after a restart; the others keep
            # answering from the database until the readiness key is back.
            if not self.cache.add(REBUILDING_KEY, 1, timeout=self.rebuild_lock_seconds):
                return False
            locked = True
            revoked_since = timezone.now() - timedelta(seconds=time.time() - start)
            markers: dict[str, Any] = {
                session_key(pk): 1 for pk in recently_revoked_session_ids(revoked_since)
            }
            # The latest record of a user claim wins, as the latest write does.
            for session_id, user_claim, before_ms in recent_revocation_records(revoked_since):
                if session_id is not None:
                    markers[session_key(session_id)] = 1
                else:
                    markers[user_key(user_claim)] = user_marker(before_ms, None)
            # Markers first, readiness last: the cache is trusted only once complete.
            if markers:
                self.cache.set_many(markers, timeout=ttl)
            self.cache.set(READY_KEY, time.time(), timeout=None)
            self.cache.delete(REBUILDING_KEY)
            ready = READY_KEY in self.cache.get_many([READY_KEY])
        except Exception as exc:
            self._failed()
            self._failure_log.warning("token_sessions: cannot rebuild revocation cache: %r", exc)
            if locked:  # ours would block every rebuild until it expires
                with contextlib.suppress(Exception):
                    self.cache.delete(REBUILDING_KEY)
            return False
        if ready:
            with self._lock:
                self._failed_since = None
        return ready

    def sessions_revoked(self, session_ids: Iterable[UUID]) -> None:
        """Write one marker per session (one ``set_many`` round trip)."""
        ids = list(session_ids)
        try:
            self.cache.set_many({session_key(pk): 1 for pk in ids}, timeout=marker_lifetime())
        except Exception as exc:
            self._write_failed(exc)

    def user_revoked(self, user_claim: Any, before_ms: int, keep_session_id: Any) -> None:
        """Write the user's "not before" marker: one write for any number of sessions."""
        try:
            marker = user_marker(before_ms, keep_session_id)
            self.cache.set(user_key(user_claim), marker, timeout=marker_lifetime())
        except Exception as exc:
            self._write_failed(exc)

    def _write_failed(self, exc: Exception) -> None:
        # The database already holds the revocation. Drop the readiness key so the next
        # check goes to the database and rebuilds the markers; if even that fails the
        # cache is down, and a cache that comes back after a restart has no readiness key.
        logger.error("token_sessions: could not write a revocation marker: %r", exc)
        self._failed()
        try:
            self.cache.delete(READY_KEY)
        except Exception:
            logger.exception("token_sessions: could not invalidate the revocation cache")
