"""Shared fixtures, and the rule that a test needing a missing service fails in CI.

On a laptop without PostgreSQL or MariaDB, the suite configured for them is skipped with
the reason; with ``CI`` set it fails instead, because a skipped test in CI is a missing
test. Tests that need row-level locking are deselected (not skipped) on SQLite: they run
in the ``pg`` and ``mariadb`` tox environments.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.support.clients import FIREFOX_LINUX, PASSWORD

IN_CI = bool(os.environ.get("CI"))
#: CacheBackend.resync_interval during a test: ~30 years, longer than any test, even one
#: that moves the clock.
NO_RESYNC = 1e9
_SERVICES = {"postgres": ("127.0.0.1", 5432), "mariadb": ("127.0.0.1", 3306)}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_service(available: bool, reason: str) -> None:
    """Skip with ``reason`` when a service is missing, or fail when ``CI`` is set."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI is set: a missing service fails the run instead of skipping)")
    pytest.skip(reason)


def pytest_ignore_collect(collection_path: Any, config: Any) -> bool | None:
    """Leave the schemathesis module out where schemathesis is not installed (it is, in the
    tox env that runs the ``fuzz`` tests) unless ``-m`` asks for ``fuzz``: there a missing
    schemathesis is a skip on a laptop and an error in CI."""
    if collection_path.name != "test_schemathesis.py":
        return None
    markexpr = config.option.markexpr or ""
    asks_for_fuzz = "fuzz" in markexpr and "not fuzz" not in markexpr
    if not asks_for_fuzz and importlib.util.find_spec("schemathesis") is None:
        return True
    return None


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    db = os.environ.get("TEST_DB", "sqlite")
    if db in _SERVICES:
        host, port = _SERVICES[db]
        host = os.environ.get("PGHOST" if db == "postgres" else "MYSQL_HOST", host)
        if not _reachable(host, port):
            reason = f"TEST_DB={db} but nothing listens on {host}:{port}"
            if IN_CI:
                raise pytest.UsageError(f"{reason}; CI is set, so this is an error, not a skip")
            for item in items:
                item.add_marker(pytest.mark.skip(reason=reason))
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("concurrent_db") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: Any) -> str:
    db = os.environ.get("TEST_DB", "sqlite")
    user = os.environ.get("TEST_USER_MODEL", "default")
    note = "" if db != "sqlite" else " (concurrent_db tests deselected: run tox -e pg,mariadb)"
    return f"token-sessions: TEST_DB={db}, TEST_USER_MODEL={user}{note}"


#: Set (to anything) to run the tests with revocation markers never written
#: (tests/no_revocation_markers.py): what tests/test_suite_can_fail.py checks.
NO_MARKERS_ENV = "TOKEN_SESSIONS_TESTS_NO_MARKERS"


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "cold_revocation_cache: the revocation cache starts empty and not ready, as after a "
        "Redis restart (by default it starts ready, as a rebuild leaves it)",
    )
    if os.environ.get(NO_MARKERS_ENV):
        from tests import no_revocation_markers

        config.pluginmanager.register(no_revocation_markers, "no_revocation_markers")


@pytest.fixture
def without_legacy_exchange() -> Iterator[None]:
    """The refresh of a project without ``django_token_sessions.contrib.legacy``, which the
    test settings install: its exchange is unregistered for the test. A process that never
    had the app: tests/test_legacy_absent.py."""
    from django_token_sessions import services
    from django_token_sessions.contrib.legacy.exchange import adopt_legacy_refresh_token

    services.unregister_refresh_token_exchange(adopt_legacy_refresh_token)
    try:
        yield
    finally:
        services.register_refresh_token_exchange(adopt_legacy_refresh_token)


@pytest.fixture(autouse=True)
def _clear_cache(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from an empty default cache (the login throttle, the revocation
    markers) that is *ready*, as a rebuild of an empty database leaves it.

    So a revocation is refused by its marker, as in production, not by the database
    fallback of a cache that is not ready yet: a test of a revocation fails if the marker
    is not written. The periodic rebuild never runs during a test (it would rewrite a
    missing marker from the database behind the test's back); the tests of the rebuild
    ask for it. ``@pytest.mark.cold_revocation_cache`` starts without the readiness key.
    """
    from django_token_sessions.revocation import get_revocation_backend
    from django_token_sessions.revocation.cache import READY_KEY, CacheBackend
    from tests.support.counting_cache import CALLS

    cache.clear()
    # Forget the failures and rebuild attempts of earlier tests: each test may rebuild its
    # revocation cache at once.
    get_revocation_backend().reset()
    monkeypatch.setattr(CacheBackend, "resync_interval", NO_RESYNC)
    if request.node.get_closest_marker("cold_revocation_cache") is None:
        cache.set(READY_KEY, time.time(), timeout=None)
    CALLS.clear()


@pytest.fixture
def db(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-django's ``db``, with ``on_commit`` callbacks run as in production.

    The test's own transaction never commits, so callbacks registered at its depth
    (outside any atomic block of the code under test) run at once, as they would in
    autocommit. Callbacks registered inside a block of the code under test are left to
    Django: they are dropped if that block rolls back, which is what tests check.
    """
    from django.db import connection, transaction

    base = len(connection.savepoint_ids)
    real_on_commit = transaction.on_commit

    def on_commit(func: Any, using: Any = None, robust: bool = False) -> None:
        if len(connection.savepoint_ids) <= base:
            func()
        else:
            real_on_commit(func, using=using, robust=robust)

    monkeypatch.setattr(transaction, "on_commit", on_commit)


@pytest.fixture
def cache_calls() -> list[str]:
    """The cache round trips made so far in this test (clear it to start counting)."""
    from tests.support.counting_cache import CALLS

    return CALLS


@pytest.fixture
def make_user(db: Any) -> Any:
    """Factory: ``make_user("alice", is_active=True)`` with the password ``PASSWORD``."""

    def make(username: str = "alice", **extra: Any) -> Any:
        return get_user_model().objects.create_user(
            username=username, password=PASSWORD, email=f"{username}@example.com", **extra
        )

    return make


@pytest.fixture
def user(make_user: Any) -> Any:
    return make_user("alice")


@pytest.fixture
def superuser(make_user: Any) -> Any:
    """A superuser, ``root``."""
    return get_user_model().objects.create_superuser(
        username="root", password="pw-root-1234", email="root@example.com"
    )


@pytest.fixture
def admin_client(superuser: Any) -> Any:
    """A Django test client logged in to the admin as :func:`superuser`."""
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def login() -> Any:
    """``login(user)`` → the JSON body of a successful login by a native client.

    The client asks for the body transport (``X-Token-Transport: body``), so the body
    holds ``refresh``. Browser (cookie) behaviour is tested in test_transport.py.
    """

    def do(user: Any, user_agent: str = FIREFOX_LINUX, **extra: Any) -> dict[str, Any]:
        response = APIClient().post(
            "/api/auth/login/",
            {"username": user.get_username(), "password": PASSWORD},
            format="json",
            HTTP_USER_AGENT=user_agent,
            HTTP_X_TOKEN_TRANSPORT="body",
            **extra,
        )
        assert response.status_code == 200, response.content
        return response.json()

    return do


@pytest.fixture(scope="session")
def example_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT``) of the example project, served in a subprocess.

    Its own SQLite file and settings (``example.settings``), a 1 s rotation grace window
    and no login throttle; it never touches pytest-django's test database.
    """
    from tests.support.example_server import serve

    yield from serve(tmp_path_factory.mktemp("example_server"))
