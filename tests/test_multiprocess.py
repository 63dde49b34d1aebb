"""Revocation reaches every worker: the example project under gunicorn (4 workers) on
PostgreSQL and Redis, exercised over HTTP from outside.

Each response names the worker that sent it (``X-Worker-Pid``, which the example adds
when served with ``DEMO_WORKER_PID_HEADER=1``): a revoked token is sent until each of
the 4 workers has answered it, and each must have refused it every time, not just most
of the traffic.

Needs PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379), gunicorn, psycopg and
django-redis: skipped with the reason on a laptop without them, failed in CI.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from tests.support.example_server import DEMO, Http
from tests.support.gunicorn_example import (
    SPREAD_LIMIT,
    SPREAD_SECONDS,
    WORKERS,
    Server,
    by_worker,
    example_database,
    require_stack,
    serve,
)

pytestmark = pytest.mark.redis

REDIS_DB = 14
ACCEPTED = (200, None)
REVOKED = (401, "session_revoked")


@pytest.fixture(scope="module")
def gunicorn_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The example project under gunicorn (tests/support/gunicorn_example.py), Redis db 14, each
    response naming its worker."""
    require_stack()
    import redis

    workdir = tmp_path_factory.mktemp("gunicorn")
    shared = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    shared.flushdb()
    try:
        with example_database(workdir) as database_url:
            redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
            with serve(workdir, database_url, redis_url, DEMO_WORKER_PID_HEADER="1") as server:
                yield server
    finally:
        shared.flushdb()
        shared.close()


def device(base: str) -> tuple[Http, dict[str, str]]:
    client = Http(base)
    status, body = client.call("POST", "/api/auth/login/", DEMO, X_Token_Transport="body")
    assert status == 200, body
    return client, {"Authorization": f"Bearer {body['access']}", "sid": body["session"]["id"]}


def every_worker(client: Http, auth: dict[str, str]) -> dict[str, set[tuple[int, str | None]]]:
    """GET /api/me/ with the device's token until every worker has answered it: the
    distinct answers (status, error code) of each worker, by pid."""
    headers = {"Authorization": auth["Authorization"]}

    def call() -> tuple[str, tuple[int, str | None]]:
        status, body, response_headers, _ = client.request("GET", "/api/me/", **headers)
        return response_headers["X-Worker-Pid"], (status, body.get("code"))

    answers = by_worker(call)
    assert len(answers) == WORKERS, (
        f"only workers {sorted(answers)} answered within {SPREAD_LIMIT} requests and "
        f"{SPREAD_SECONDS} s (want {WORKERS})"
    )
    return {pid: set(answered) for pid, answered in answers.items()}


def only(answer: tuple[int, str | None], workers: Iterable[str]) -> dict[str, set[Any]]:
    """What :func:`every_worker` returns when each of ``workers`` gave ``answer`` alone."""
    return {pid: {answer} for pid in workers}


def test_revoking_a_device_is_enforced_by_every_worker(gunicorn_example):
    base = gunicorn_example.base
    laptop, laptop_auth = device(base)
    phone, phone_auth = device(base)
    before = every_worker(phone, phone_auth)
    assert before == only(ACCEPTED, before)

    status, _ = laptop.call(
        "DELETE", f"/api/auth/sessions/{phone_auth['sid']}/", Authorization=laptop_auth[
            "Authorization"]
    )  # fmt: skip
    assert status == 204

    # Every worker that accepted the phone's token now refuses it, each time it is asked.
    assert every_worker(phone, phone_auth) == only(REVOKED, before)
    assert every_worker(laptop, laptop_auth) == only(ACCEPTED, before)


def test_logout_everywhere_is_enforced_by_every_worker(gunicorn_example):
    base = gunicorn_example.base
    devices = [device(base) for _ in range(3)]
    first_client, first_auth = devices[0]
    workers = set(every_worker(first_client, first_auth))
    status, _ = first_client.call(
        "POST", "/api/auth/logout-all/", {"scope": "all"},
        Authorization=first_auth["Authorization"],
    )  # fmt: skip
    assert status == 204

    for client, auth in devices:
        assert every_worker(client, auth) == only(REVOKED, workers)
    # A login after the fact is not caught by the user's marker.
    client, auth = device(base)
    assert every_worker(client, auth) == only(ACCEPTED, workers)
