"""A pytest plugin that breaks revocation on purpose: no marker is ever written.

With ``TOKEN_SESSIONS_TESTS_NO_MARKERS=1`` in the environment, tests/conftest.py registers
it (``pytest -p tests.no_revocation_markers`` does the same): both marker writers of the
cache backend (``sessions_revoked`` and ``user_revoked``) become no-ops. The tests of the
revocation promises must then fail: tests/test_suite_can_fail.py runs them so, and checks
that they do.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_revocation_markers(monkeypatch: pytest.MonkeyPatch) -> None:
    from django_token_sessions.revocation.cache import CacheBackend

    def write_nothing(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(CacheBackend, "sessions_revoked", write_nothing)
    monkeypatch.setattr(CacheBackend, "user_revoked", write_nothing)
