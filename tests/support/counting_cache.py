"""A LocMemCache that counts round trips, so tests can assert cache budgets."""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.locmem import LocMemCache

CALLS: list[str] = []

_ROUND_TRIPS = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many", "incr")


class CountingLocMemCache(LocMemCache):
    """Each public call is one round trip (as with Redis); nested calls are not counted."""

    _depth = 0


def _counted(name: str) -> Any:
    original = getattr(LocMemCache, name)

    def method(self: CountingLocMemCache, *args: Any, **kwargs: Any) -> Any:
        if self._depth == 0:
            CALLS.append(name)
        self._depth += 1
        try:
            return original(self, *args, **kwargs)
        finally:
            self._depth -= 1

    return method


for _name in _ROUND_TRIPS:
    setattr(CountingLocMemCache, _name, _counted(_name))
