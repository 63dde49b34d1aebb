"""The ``redis`` backend: the cache backend, its round trip overlapped with the user query.

The check's ``MGET`` is written to a connection of django-redis's pool when the check
begins, and its reply read when the answer is asked for, after the user query: the two
waits overlap instead of adding up. This is the only module of the package that drives a
redis-py connection directly (``get_connection``, ``send_command``, ``read_response``),
and it does so only for django-redis's default client on a plain connection pool;
anything else (a sharded or herd client, a cache that is not django-redis) is read as
:class:`~.cache.CacheBackend` reads it.
"""

from __future__ import annotations

from typing import Any

from ..tokens import SessionAccessToken
from .base import PendingCheck
from .cache import CacheBackend


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


class _InFlightCheck(PendingCheck):
    def __init__(self, backend: RedisBackend, token: SessionAccessToken, reply: _InFlightMget):
        super().__init__(lambda: backend.answer(token, reply.keys, reply.read))
        self._reply: _InFlightMget | None = reply

    def result(self, user: Any = None) -> bool:
        self._reply = None  # read (and freed) by the answer
        return super().result(user)

    def cancel(self) -> None:
        reply, self._reply = self._reply, None
        if reply is not None:
            reply.cancel()


class RedisBackend(CacheBackend):
    """:class:`~.cache.CacheBackend` on a django-redis cache, its one round trip sent
    before the user query and read after it.

    Measured: the authenticated request costs the longer of the two waits instead of
    their sum (``benchmarks/RESULTS.md``). Behaves as the cache backend where the cache
    is not django-redis with its default client.
    """

    def begin(self, token: SessionAccessToken) -> PendingCheck:
        """Send the check's ``MGET`` now; the answer is read when asked for."""
        keys = self.check_keys(token)
        try:
            reply = _InFlightMget.send(self.cache, keys)
        except Exception as exc:
            error = exc

            def unreadable() -> dict[str, Any]:
                raise error

            return PendingCheck(lambda: self.answer(token, keys, unreadable))
        if reply is None:
            return super().begin(token)
        return _InFlightCheck(self, token, reply)
