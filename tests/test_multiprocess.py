"""Revocation reaches every worker: the example project under gunicorn (4 workers) on
PostgreSQL and Redis, exercised over HTTP from outside.

Needs PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379), gunicorn, psycopg and
django-redis: skipped with the reason on a laptop without them, failed in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.gunicorn_example import (
    SPREAD_THREADS,
    Server,
    example_database,
    require_stack,
    serve,
)
from tests.test_example_project import DEMO, Http

pytestmark = pytest.mark.redis

REQUESTS = 50
REDIS_DB = 14


@pytest.fixture(scope="module")
def gunicorn_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The example project under gunicorn (tests/gunicorn_example.py), Redis db 14."""
    require_stack()
    import redis

    workdir = tmp_path_factory.mktemp("gunicorn")
    shared = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    shared.flushdb()
    try:
        with example_database(workdir) as database_url:
            redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
            with serve(workdir, database_url, redis_url) as server:
                yield server
    finally:
        shared.flushdb()
        shared.close()


def device(base: str) -> tuple[Http, dict[str, str]]:
    client = Http(base)
    status, body = client.call("POST", "/api/auth/login/", DEMO, X_Token_Transport="body")
    assert status == 200, body
    return client, {"Authorization": f"Bearer {body['access']}", "sid": body["session"]["id"]}


def hammer(client: Http, auth: dict[str, str]) -> list[tuple[int, str | None]]:
    """``REQUESTS`` GET /api/me/ with the device's token, several in flight at once: one
    after another, a single sync worker may take them all."""
    headers = {"Authorization": auth["Authorization"]}

    def call(_: int) -> tuple[int, str | None]:
        status, body = client.call("GET", "/api/me/", **headers)
        return status, body.get("code")

    with ThreadPoolExecutor(SPREAD_THREADS) as pool:
        return list(pool.map(call, range(REQUESTS)))


def test_revoking_a_device_is_enforced_by_every_worker(gunicorn_example):
    base = gunicorn_example.base
    laptop, laptop_auth = device(base)
    phone, phone_auth = device(base)
    assert set(hammer(phone, phone_auth)) == {(200, None)}

    status, _ = laptop.call(
        "DELETE", f"/api/auth/sessions/{phone_auth['sid']}/", Authorization=laptop_auth[
            "Authorization"]
    )  # fmt: skip
    assert status == 204

    mark = gunicorn_example.log_mark()
    assert hammer(phone, phone_auth) == [(401, "session_revoked")] * REQUESTS
    assert hammer(laptop, laptop_auth) == [(200, None)] * REQUESTS
    assert len(gunicorn_example.workers_seen(mark, "/api/me/")) >= 2, "should reach several workers"


def test_logout_everywhere_is_enforced_by_every_worker(gunicorn_example):
    base = gunicorn_example.base
    devices = [device(base) for _ in range(3)]
    first_client, first_auth = devices[0]
    status, _ = first_client.call(
        "POST", "/api/auth/logout-all/", {"scope": "all"},
        Authorization=first_auth["Authorization"],
    )  # fmt: skip
    assert status == 204

    mark = gunicorn_example.log_mark()
    for client, auth in devices:
        assert hammer(client, auth) == [(401, "session_revoked")] * REQUESTS
    assert len(gunicorn_example.workers_seen(mark, "/api/me/")) >= 2
    # A login after the fact is not caught by the user's marker.
    client, auth = device(base)
    assert set(hammer(client, auth)) == {(200, None)}
