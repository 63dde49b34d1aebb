"""Interleaved timing, and counting of SQL statements and Redis round trips.

Timing: every round runs one batch of every case, in a new (seeded) random order each
round, so drift and noise of the machine hit every case alike and no case always follows
the same neighbour. A batch runs ``n`` operations
with ``time.perf_counter_ns`` read before and after; ``n`` is fixed per case during the
warm-up rounds so that a batch lasts about ``batch_ms``. The statistic is the median over
rounds of the per-operation time of each batch.

Counting happens in separate, untimed passes (the counters cost time):

- SQL statements: ``django.test.utils.CaptureQueriesContext`` on the default database.
- Redis round trips: every request written to a Redis socket by redis-py
  (``AbstractConnection.send_packed_command``; a pipeline is one write), i.e. round trips on
  the wire. Also counted: calls of the django-redis cache API (get, get_many, set, ...), and
  as a cross-check the server's ``INFO commandstats`` delta (server-wide: any other client
  of the same Redis inflates it).
"""

from __future__ import annotations

import collections
import contextlib
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .cases import Case

CACHE_API = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many", "incr", "touch")


@dataclass
class Counts:
    ops: int
    sql: float
    redis_round_trips: float
    cache_calls: float
    server_commands: float | None = None
    statements: list[str] = field(default_factory=list)


@dataclass
class Result:
    case: Case
    batch: int = 0
    samples_us: list[float] = field(default_factory=list)
    counts: Counts | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples_us)

    def quantile(self, q: float) -> float:
        data = sorted(self.samples_us)
        if len(data) == 1:
            return data[0]
        position = q * (len(data) - 1)
        low = int(position)
        high = min(low + 1, len(data) - 1)
        return data[low] + (data[high] - data[low]) * (position - low)


class FallbackCounter:
    """Counts ``CacheBackend._fallback`` calls: a check answered by the database
    because the cache looked unusable. During the timed rounds it must stay at zero, or the
    cache rows measured the database."""

    def __init__(self) -> None:
        self.count = 0
        self._original: Any = None

    def install(self) -> None:
        from django_token_sessions.revocation.cache import CacheBackend

        original = CacheBackend._fallback
        self._original = original
        counter = self

        def _fallback(store: Any, token: Any, why: str) -> bool:
            counter.count += 1
            return original(store, token, why)

        CacheBackend._fallback = _fallback  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from django_token_sessions.revocation.cache import CacheBackend

        if self._original is not None:
            CacheBackend._fallback = self._original  # type: ignore[method-assign]
            self._original = None


@contextlib.contextmanager
def _redis_counters(redis_cache: Any) -> Iterator[dict[str, int]]:
    import redis.connection

    counts = {"writes": 0, "api": 0}
    # The class every connection's writes go through: AbstractConnection since redis-py
    # 4.5, Connection before it.
    connection_class = getattr(redis.connection, "AbstractConnection", redis.connection.Connection)
    original_send = connection_class.send_packed_command

    def send_packed_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["writes"] += 1
        return original_send(self, *args, **kwargs)

    depth = [0]

    def wrap(name: str) -> Any:
        bound = getattr(redis_cache, name)

        def method(*args: Any, **kwargs: Any) -> Any:
            if depth[0] == 0:
                counts["api"] += 1
            depth[0] += 1
            try:
                return bound(*args, **kwargs)
            finally:
                depth[0] -= 1

        return method

    connection_class.send_packed_command = send_packed_command  # type: ignore[method-assign]
    wrapped = []
    if redis_cache is not None:
        for name in CACHE_API:
            if hasattr(redis_cache, name):
                setattr(redis_cache, name, wrap(name))
                wrapped.append(name)
    try:
        yield counts
    finally:
        connection_class.send_packed_command = original_send  # type: ignore[method-assign]
        for name in wrapped:
            delattr(redis_cache, name)  # back to the class's method


_INFO_CLIENTS: dict[str, Any] = {}
#: Commands of the cross-check itself: its INFO, and what redis-py sends on connecting.
_OWN_COMMANDS = ("cmdstat_info", "cmdstat_hello", "cmdstat_select", "cmdstat_client")


def close_info_clients() -> None:
    while _INFO_CLIENTS:
        _INFO_CLIENTS.popitem()[1].close()


def _server_commands(redis_url: str) -> int | None:
    """Commands the Redis server has executed so far (all clients, all databases)."""
    try:
        import redis

        client = _INFO_CLIENTS.get(redis_url)
        if client is None:
            client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
            _INFO_CLIENTS[redis_url] = client
        stats = client.info("commandstats")
    except Exception:
        return None
    return sum(
        int(value["calls"])
        for name, value in stats.items()
        if isinstance(value, dict) and name not in _OWN_COMMANDS
    )


def count(case: Case, ops: int, redis_cache: Any, redis_url: str | None) -> Counts:
    """SQL statements and Redis round trips per operation, over ``ops`` operations."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ops = min(ops, case.count_ops or ops)
    # The query log keeps 9,000 entries: simplejwt's 10,000-token logout issues 40,000.
    log = connection.queries_log
    connection.queries_log = collections.deque(maxlen=1_000_000)
    try:
        with case.settings():
            batch = case.make_batch(ops)
            before = _server_commands(redis_url) if redis_url else None
            with CaptureQueriesContext(connection) as queries, _redis_counters(redis_cache) as rc:
                batch()
            after = _server_commands(redis_url) if redis_url else None
        captured = queries.captured_queries  # read from the log before it is put back
    finally:
        connection.queries_log = log
    server = None
    if before is not None and after is not None:
        server = (after - before) / ops
    distinct = sorted({q["sql"] for q in captured})
    return Counts(
        ops=ops,
        sql=len(captured) / ops,
        redis_round_trips=rc["writes"] / ops,
        cache_calls=rc["api"] / ops,
        server_commands=server,
        statements=distinct,
    )


def _time_batch(case: Case, n: int) -> float:
    """Microseconds per operation for one batch of ``n``."""
    n = min(n, case.max_batch or n)
    with case.settings():
        batch = case.make_batch(n)
        start = time.perf_counter_ns()
        batch()
        elapsed = time.perf_counter_ns() - start
    return elapsed / n / 1000.0


def interleave(
    cases: list[Case],
    rounds: int,
    batch_ms: float,
    warmup_rounds: int = 2,
    progress: Any = None,
    seed: int = 0,
) -> dict[str, Result]:
    """Round-robin over ``cases`` for ``rounds`` rounds (after ``warmup_rounds``)."""
    results = {case.key: Result(case) for case in cases}
    # Calibration: one operation each, then warm-up rounds of about batch_ms that also size
    # the batches for the measured rounds.
    for case in cases:
        if case.max_batch == 1:  # one operation per batch: nothing to size
            results[case.key].batch = 1
            continue
        per_op = _time_batch(case, 10)
        results[case.key].batch = _batch_size(per_op, batch_ms)
    shuffler = random.Random(seed)
    for r in range(-warmup_rounds, rounds):
        order = list(cases)
        shuffler.shuffle(order)
        for case in order:
            if r % case.every if r >= 0 else case.every > 1:
                continue  # a slow set-up: measured in fewer rounds (warmed by the sanity check)
            result = results[case.key]
            per_op = _time_batch(case, result.batch)
            if r < 0:
                if case.max_batch != 1:
                    result.batch = _batch_size(per_op, batch_ms)
            else:
                result.samples_us.append(per_op)
        if progress is not None:
            progress(r, rounds)
    return results


def _batch_size(per_op_us: float, batch_ms: float) -> int:
    return max(5, min(20_000, round(batch_ms * 1000.0 / max(per_op_us, 0.01))))


def fresh_resync(case: Case) -> None:
    """Rebuild the revocation cache now, so that no periodic rebuild (every
    ``CacheBackend.resync_interval`` seconds, by the request that notices) falls into the
    counting pass that follows: the counts are those of the steady state. The rebuild
    itself is measured apart, by :func:`resync`."""
    from django_token_sessions.revocation import get_revocation_backend
    from django_token_sessions.revocation.cache import CacheBackend

    with case.settings():
        backend = get_revocation_backend()
        if isinstance(backend, CacheBackend):
            backend.rebuild()


def resync(redis_cache: Any, repeat: int = 3) -> dict[str, Any]:
    """What rebuilding the revocation cache costs with the sessions revoked so far in this
    run: the periodic rebuild (every ``resync_interval`` s, the markers of the sessions
    revoked since the previous rebuild and ``resync_margin`` s before it) and the full one
    (after a restart or flush: every session revoked within an access-token lifetime)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_token_sessions.models import DeviceSession
    from django_token_sessions.revocation import marker_lifetime
    from django_token_sessions.revocation.redis import RedisBackend

    store = RedisBackend()
    now = time.time()
    periodic_since = now - store.resync_interval - store.resync_margin

    def measure(since: float | None) -> dict[str, Any]:
        start_at = max(time.time() - marker_lifetime(), since or 0.0)
        cutoff = _aware(start_at)
        markers = DeviceSession.objects.filter(revoked_at__gte=cutoff).count()
        times = []
        for _ in range(repeat):
            start = time.perf_counter_ns()
            store.rebuild(since=since)
            times.append((time.perf_counter_ns() - start) / 1e6)
        with CaptureQueriesContext(connection) as queries, _redis_counters(redis_cache) as rc:
            store.rebuild(since=since)
        return {
            "markers": markers,
            "median_ms": statistics.median(times),
            "sql": len(queries.captured_queries),
            "redis_round_trips": rc["writes"],
        }

    periodic = measure(periodic_since)
    full = measure(None)
    return {
        "interval_s": store.resync_interval,
        "margin_s": store.resync_margin,
        **periodic,
        "full": full,
    }


def _aware(epoch: float) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(seconds=time.time() - epoch)
