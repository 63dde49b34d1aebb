"""Whether an access token's session is still alive, answered on every request.

``TOKEN_SESSIONS["REVOCATION_CHECK"]`` picks the store:

- ``"cache"`` (default): markers in a shared cache (Redis through django-redis in
  production). Revoking a session writes ``token_sessions:revoked:<sid>``; logging a user
  out everywhere writes one ``token_sessions:revoked_user:<user id>`` "not before" marker
  (``…:revoked_user:s:<sha256>`` for a claim that is not an integer: :func:`user_key`),
  whatever the number of sessions. A check reads both, plus a readiness key, in one
  round trip and makes no database query; :class:`~.authentication.SessionJWTAuthentication`
  sends that read before its user query and reads the reply after it.
- ``"db"``: an indexed primary-key lookup per request, for deployments without a shared
  cache. :class:`~.authentication.SessionJWTAuthentication` folds it into its user query
  as an ``EXISTS``, so it costs no query of its own.
- ``"off"``: no check; access tokens live until they expire (plain stateless JWT).

Markers expire when the last access token they could refuse has expired, so the cache
holds at most "sessions revoked in the last access-token lifetime".

Everything a marker says is also in the database, so that a rebuild can say it again: a
revoked session is its revoked row; a session whose row was deleted (by the user's
deletion, or by a ``delete()`` of the row) is a :class:`~.models.RevocationRecord`,
written in the deleting transaction. In cache mode a missing marker means "alive", so a
session that ended without leaving either would be alive again after a flush.

A cache that fails (down, timing out, or hiding errors as misses with
``DJANGO_REDIS_IGNORE_EXCEPTIONS``) or that lost its data (a Redis restart or flush) is
recognised by the missing readiness key. Then the request is answered from the database
(or refused, with ``REVOCATION_CACHE_FAILURE = "deny"``), and the markers of recently
revoked sessions are rebuilt from the database before the cache is trusted again.

A cache can also miss a marker and still look healthy: a write lost in a network cut
while Redis kept its data. So the readiness key carries the time of the last rebuild, and
a rebuild runs again once it is ``RESYNC_INTERVAL`` old (by one process, in the request
that notices), and at once in a process that has seen the cache fail. A lost marker is
therefore missing for seconds, not for an access-token lifetime.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from django.core.cache import caches
from django.utils import timezone

from .conf import access_token_lifetime, app_settings, jwt_settings
from .exceptions import RevocationUnavailable
from .models import DeviceSession, RevocationRecord
from .tokens import SessionAccessToken

logger = logging.getLogger("django_token_sessions.revocation")

READY_KEY = "token_sessions:ready"
WARMING_KEY = "token_sessions:warming"
#: Seconds between two rebuild attempts of one process while the cache is unusable.
WARM_INTERVAL = 1.0
#: Age (seconds) of the last rebuild after which the markers are rebuilt again, healthy or
#: not: it bounds how long a lost marker write goes unnoticed.
RESYNC_INTERVAL = 5.0
#: A periodic rebuild rewrites the markers of sessions revoked since the previous one, and
#: this many seconds more: a revocation stamped before the previous rebuild read the table
#: but committed after it (a long transaction) is still covered.
RESYNC_MARGIN = 60.0
#: A rebuild that died half-way blocks the next one this long at most.
WARMING_LOCK_SECONDS = 10


def marker_lifetime() -> int:
    """Seconds a revocation must be remembered: the longest an access token issued before
    it can still be presented (its lifetime plus simplejwt's leeway), and one more."""
    leeway = jwt_settings().LEEWAY or 0
    if isinstance(leeway, timedelta):
        leeway = leeway.total_seconds()
    return int(access_token_lifetime().total_seconds() + float(leeway)) + 1


def session_key(session_id: Any) -> str:
    """Cache key of the marker of one revoked session."""
    return f"token_sessions:revoked:{session_id}"


#: A user id claim written as is in its marker's key: a decimal integer of at most 19
#: digits (every claim of an integer primary key, see ``tokens.is_user_claim``).
_READABLE_CLAIM = re.compile(r"-?[0-9]{1,19}")


def user_key(user_claim: Any) -> str:
    """Cache key of a user's "not before" marker (by the token's user id claim).

    The one definition for the writer, the check and the rebuild. It depends only on the
    claim's text, which is all a :class:`~.models.RevocationRecord` keeps: ``42`` and
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


class RevocationStore(Protocol):
    """What the authentication class and the services need from a revocation store."""

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """True if the token's session has ended and the token must be refused."""

    def sessions_revoked(self, session_ids: Iterable[UUID]) -> None:
        """Called after a transaction that revoked these sessions committed."""

    def user_revoked(self, user_claim: Any, before_ms: int, keep_session_id: Any) -> None:
        """Called after a transaction revoked every session of a user (but one) committed."""


class NoRevocationCheck:
    """``"off"``: the seed's insecure baseline, tokens live until ``exp``."""

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """Never revoked."""
        return False

    def sessions_revoked(self, session_ids: Iterable[UUID]) -> None:
        """Nothing to record."""

    def user_revoked(self, user_claim: Any, before_ms: int, keep_session_id: Any) -> None:
        """Nothing to record."""


class DatabaseRevocationStore(NoRevocationCheck):
    """``"db"``: one primary-key query per check; the session row is the truth."""

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """True unless the session row exists and is not revoked."""
        return not DeviceSession.objects.filter(
            pk=token.session_id, revoked_at__isnull=True
        ).exists()


class _RateLimitedLog:
    """At most one warning per ``interval`` seconds per process: a dead cache must not
    turn every request into a log line."""

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


_failure_log = _RateLimitedLog()


class _WarmGate:
    """Per process and cache alias: has WARM_INTERVAL passed since the last attempt?"""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, alias: str) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last.get(alias, -WARM_INTERVAL) < WARM_INTERVAL:
                return False
            self._last[alias] = now
            return True

    def reset(self) -> None:
        with self._lock:
            self._last.clear()


_warm_gate = _WarmGate()


class _Suspects:
    """Per process: cache aliases that failed here, and since when. A write that failed may
    have left a marker missing in a cache that otherwise looks ready, until a rebuild that
    started after the failure (by any process) has completed."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, alias: str) -> None:
        with self._lock:
            self._since.setdefault(alias, time.time())

    def discard(self, alias: str) -> None:
        with self._lock:
            self._since.pop(alias, None)

    def since(self, alias: str) -> float | None:
        return self._since.get(alias)

    def __contains__(self, alias: object) -> bool:
        return alias in self._since

    def clear(self) -> None:
        with self._lock:
            self._since.clear()


_suspects = _Suspects()


class PendingCheck:
    """A revocation check under way: :meth:`result` gives its answer (once), :meth:`cancel`
    drops it when the caller fails for another reason first."""

    def __init__(
        self, answer: Callable[[], bool], cancel: Callable[[], None] | None = None
    ) -> None:
        self._answer = answer
        self._cancel = cancel

    def result(self) -> bool:
        """True if the token's session is revoked (may raise ``RevocationUnavailable``)."""
        self._cancel = None
        return self._answer()

    def cancel(self) -> None:
        """Give up the answer and free what the check holds (a pooled connection)."""
        cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()


class _InFlightMget:
    """An ``MGET`` written to a connection of django-redis's pool, its reply not yet read.

    The connection stays checked out until the reply is read, or is closed if it never
    is: a connection with an unread reply must never go back to the pool, or the next
    command on it would read this one's answer.
    """

    def __init__(self, client: Any, connection: Any, pool: Any, keys: list[str]) -> None:
        self.client, self.connection, self.pool, self.keys = client, connection, pool, keys

    @classmethod
    def send(cls, cache: Any, keys: list[str]) -> _InFlightMget | None:
        """Send ``MGET keys`` and return without waiting; None if ``cache`` is not
        django-redis with its default client (then the caller uses ``get_many``)."""
        try:
            from django_redis.client import DefaultClient
            from redis import ConnectionPool
        except ImportError:
            return None
        client: Any = getattr(cache, "client", None)
        if type(client) is not DefaultClient:  # sharded, herd or custom clients
            return None
        pool = client.get_client(write=False).connection_pool
        if not isinstance(pool, ConnectionPool):
            return None
        connection: Any
        try:
            connection = pool.get_connection()
        except TypeError:  # redis-py < 5.3 needs a command name
            connection = pool.get_connection("MGET")
        reply = cls(client, connection, pool, keys)
        try:
            connection.send_command("MGET", *(client.make_key(key) for key in keys))
        except BaseException:
            reply.cancel()
            raise
        return reply

    def read(self) -> dict[str, Any]:
        """The reply, decoded as django-redis's ``get_many`` does; frees the connection."""
        try:
            values = self.connection.read_response()
        except BaseException:
            self.cancel()
            raise
        self.pool.release(self.connection)
        return {
            key: self.client.decode(value)
            for key, value in zip(self.keys, values, strict=True)
            if value is not None
        }

    def cancel(self) -> None:
        """Close the connection (its reply unread) and hand it back to the pool."""
        try:
            self.connection.disconnect()
        finally:
            self.pool.release(self.connection)


class CacheRevocationStore:
    """``"cache"``: markers in the cache alias ``REVOCATION_CACHE``."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    @property
    def cache(self) -> Any:
        return caches[self.alias]

    def ttl(self) -> int:
        """Seconds a marker must live: :func:`marker_lifetime`."""
        return marker_lifetime()

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """One round trip: readiness, the session's and the user's markers."""
        return self.begin(token).result()

    def begin(self, token: SessionAccessToken) -> PendingCheck:
        """Send the check's one read now; :meth:`PendingCheck.result` reads the answer.

        With django-redis's default client the ``MGET`` goes on the wire at once, so its
        round trip runs while the caller does other work (the user query); other caches
        are read when the result is asked for.
        """
        keys = [READY_KEY, session_key(token.session_id), user_key(token.user_id)]
        try:
            reply = _InFlightMget.send(self.cache, keys)
        except Exception as exc:
            error = exc

            def unreadable() -> dict[str, Any]:
                raise error

            return PendingCheck(lambda: self._check(token, unreadable))
        if reply is None:
            return PendingCheck(lambda: self._check(token, lambda: self.cache.get_many(keys)))
        return PendingCheck(lambda: self._check(token, reply.read), cancel=reply.cancel)

    def _check(self, token: SessionAccessToken, read: Callable[[], dict[str, Any]]) -> bool:
        skey = session_key(token.session_id)
        ukey = user_key(token.user_id)
        try:
            found = read()
        except Exception as exc:
            _suspects.add(self.alias)
            return self._fallback(token, f"error: {exc!r}")
        if READY_KEY not in found:
            # Down with errors swallowed, flushed, restarted or evicted: markers may be
            # missing, so a miss proves nothing.
            return self._fallback(token, "readiness key missing")
        ready = found[READY_KEY]
        if self._resync_due(ready):
            since = ready - RESYNC_MARGIN if _is_time(ready) else None
            if _warm_gate.allow(self.alias) and self.warm(since=since):
                try:
                    found = self.cache.get_many([skey, ukey])
                except Exception as exc:
                    _suspects.add(self.alias)
                    return self._fallback(token, f"error: {exc!r}")
            elif self.alias in _suspects:
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

    def _resync_due(self, ready: Any) -> bool:
        if not _is_time(ready):
            return True  # written by an older version
        failed_at = _suspects.since(self.alias)
        if failed_at is not None:
            if ready <= failed_at:
                return True
            # Another process rebuilt the markers after our failure: they are complete.
            _suspects.discard(self.alias)
        return bool(time.time() - ready >= RESYNC_INTERVAL)

    def _fallback(self, token: SessionAccessToken, why: str) -> bool:
        _failure_log.warning(
            "token_sessions: revocation cache %r unusable (%s); %s",
            self.alias,
            why,
            "refusing the request"
            if app_settings.REVOCATION_CACHE_FAILURE == "deny"
            else "checking the database",
        )
        if app_settings.REVOCATION_CACHE_FAILURE == "deny":
            self._maybe_warm()
            raise RevocationUnavailable()
        revoked = DatabaseRevocationStore().is_revoked(token)
        self._maybe_warm()
        return revoked

    def _maybe_warm(self) -> None:
        # During an outage every request lands here: try a rebuild at most once per
        # WARM_INTERVAL per process, so a dead Redis costs one query per request, not a
        # rebuild query and two connection attempts.
        if _warm_gate.allow(self.alias):
            self.warm()

    def warm(self, since: float | None = None) -> bool:
        """Rebuild the markers of sessions revoked, and of the revocation records written,
        within a marker lifetime (or since the epoch time ``since``, if later), then mark
        the cache ready with the time. Idempotent; returns False if the cache is still
        failing, or another process is rebuilding it."""
        ttl = self.ttl()
        start = time.time() - ttl
        if since is not None:
            start = max(start, since)
        locked = False
        try:
            # One rebuild at a time across all processes after a restart; the others keep
            # answering from the database until the readiness key is back.
            if not self.cache.add(WARMING_KEY, 1, timeout=WARMING_LOCK_SECONDS):
                return False
            locked = True
            revoked_since = timezone.now() - timedelta(seconds=time.time() - start)
            recent = DeviceSession.objects.filter(revoked_at__gte=revoked_since).values_list(
                "pk", flat=True
            )
            markers: dict[str, Any] = {
                session_key(pk): 1 for pk in recent.iterator(chunk_size=2000)
            }
            markers.update(_recorded_markers(revoked_since))
            # Markers first, readiness last: the cache is trusted only once complete.
            if markers:
                self.cache.set_many(markers, timeout=ttl)
            self.cache.set(READY_KEY, time.time(), timeout=None)
            self.cache.delete(WARMING_KEY)
            ready = READY_KEY in self.cache.get_many([READY_KEY])
        except Exception as exc:
            _suspects.add(self.alias)
            _failure_log.warning("token_sessions: cannot warm revocation cache: %r", exc)
            if locked:  # ours would block every rebuild until it expires
                with contextlib.suppress(Exception):
                    self.cache.delete(WARMING_KEY)
            return False
        if ready:
            _suspects.discard(self.alias)
        return ready

    def sessions_revoked(self, session_ids: Iterable[UUID]) -> None:
        """Write one marker per session (one ``set_many`` round trip)."""
        ids = list(session_ids)
        try:
            self.cache.set_many({session_key(pk): 1 for pk in ids}, timeout=self.ttl())
        except Exception as exc:
            self._write_failed(exc)

    def user_revoked(self, user_claim: Any, before_ms: int, keep_session_id: Any) -> None:
        """Write the user's "not before" marker: one write for any number of sessions."""
        try:
            marker = user_marker(before_ms, keep_session_id)
            self.cache.set(user_key(user_claim), marker, timeout=self.ttl())
        except Exception as exc:
            self._write_failed(exc)

    def _write_failed(self, exc: Exception) -> None:
        # The database already holds the revocation. Drop the readiness key so the next
        # check goes to the database and rebuilds the markers; if even that fails the
        # cache is down, and a cache that comes back after a restart has no readiness key.
        logger.error("token_sessions: could not write a revocation marker: %r", exc)
        _suspects.add(self.alias)
        try:
            self.cache.delete(READY_KEY)
        except Exception:
            logger.exception("token_sessions: could not invalidate the revocation cache")


def _recorded_markers(since: datetime) -> dict[str, Any]:
    """The markers of the revocation records written since ``since``: one per deleted
    session, and one "not before" marker per user claim, the latest record winning as the
    latest write does."""
    markers: dict[str, Any] = {}
    records = (
        RevocationRecord.objects.filter(created_at__gte=since)
        .order_by("created_at", "pk")
        .values_list("session_id", "user_claim", "not_before_ms", "created_at")
    )
    for session_id, user_claim, before_ms, created_at in records.iterator(chunk_size=2000):
        if session_id is not None:
            markers[session_key(session_id)] = 1
        else:
            if before_ms is None:  # not written by us: refuse what preceded the record
                before_ms = int(created_at.timestamp() * 1000)
            markers[user_key(user_claim)] = user_marker(before_ms, None)
    return markers


def user_marker(before_ms: int, keep_session_id: Any) -> dict[str, Any]:
    """The value of a user's "not before" marker."""
    return {
        "before": before_ms,
        "keep": None if keep_session_id is None else str(keep_session_id),
    }


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def get_revocation_store() -> RevocationStore:
    """The store ``REVOCATION_CHECK`` selects (read on every call: settings may change)."""
    mode = app_settings.REVOCATION_CHECK
    if mode == "db":
        return DatabaseRevocationStore()
    if mode == "off":
        return NoRevocationCheck()
    return CacheRevocationStore(app_settings.REVOCATION_CACHE)
