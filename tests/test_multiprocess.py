"""Revocation reaches every worker: the example project under gunicorn (4 workers) on
PostgreSQL and Redis, exercised over HTTP from outside.

Needs PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379), gunicorn, psycopg and
django-redis: skipped with the reason on a laptop without them, failed in CI.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.example_server import MANAGE, REPO, _server_env
from tests.test_example_project import DEMO, Http

pytestmark = pytest.mark.redis

WORKERS = 4
REQUESTS = 50
REDIS_DB = 14


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def gunicorn_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The example project under gunicorn; yields (base URL, access log path)."""
    require_service(_listening(5432), "needs PostgreSQL on 127.0.0.1:5432")
    require_service(_listening(6379), "needs Redis on 127.0.0.1:6379")
    for module in ("gunicorn", "psycopg", "django_redis", "redis"):
        require_service(_importable(module), f"needs {module} (pip install '.[redis]' gunicorn)")
    import psycopg
    import redis

    database = f"tokensessions_mp_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)
    admin.execute(f'CREATE DATABASE "{database}"')
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()

    workdir = tmp_path_factory.mktemp("gunicorn")
    env = _server_env(workdir / "unused.sqlite3")
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
        REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
    )
    for command in (["migrate", "--noinput", "-v", "0"], ["create_demo_user"]):
        subprocess.run(
            [sys.executable, str(MANAGE), *command], env=env, cwd=REPO, check=True, timeout=120
        )
    port = _free_port()
    access_log = workdir / "access.log"
    err_log = (workdir / "err.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn",
            "--chdir", str(REPO / "example_project"),
            "--workers", str(WORKERS),
            "--bind", f"127.0.0.1:{port}",
            # One line per request naming the worker's pid: proof the load was spread.
            "--access-logfile", str(access_log),
            "--access-logformat", "%(p)s %(s)s %(U)s",
            "example.wsgi",
        ],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err_log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "err.log").read_text()[-4000:])
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", access_log
    finally:
        server.terminate()
        server.wait(timeout=20)
        err_log.close()
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
        redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()


def device(base: str) -> tuple[Http, dict[str, str]]:
    client = Http(base)
    status, body = client.call("POST", "/api/auth/login/", DEMO, X_Token_Transport="body")
    assert status == 200, body
    return client, {"Authorization": f"Bearer {body['access']}", "sid": body["session"]["id"]}


def hammer(client: Http, auth: dict[str, str]) -> list[tuple[int, str | None]]:
    headers = {"Authorization": auth["Authorization"]}
    results = []
    for _ in range(REQUESTS):
        status, body = client.call("GET", "/api/me/", **headers)
        results.append((status, body.get("code")))
    return results


def workers_seen(access_log: Path, since: int) -> set[str]:
    lines = access_log.read_text().splitlines()[since:]
    return {m.group(1) for line in lines if (m := re.match(r"<?(\d+)>? \d+ /api/me/", line))}


def test_revoking_a_device_is_enforced_by_every_worker(gunicorn_example):
    base, log = gunicorn_example
    laptop, laptop_auth = device(base)
    phone, phone_auth = device(base)
    assert set(hammer(phone, phone_auth)) == {(200, None)}

    status, _ = laptop.call(
        "DELETE", f"/api/auth/sessions/{phone_auth['sid']}/", Authorization=laptop_auth[
            "Authorization"]
    )  # fmt: skip
    assert status == 204

    mark = len(log.read_text().splitlines())
    assert hammer(phone, phone_auth) == [(401, "session_revoked")] * REQUESTS
    assert hammer(laptop, laptop_auth) == [(200, None)] * REQUESTS
    assert len(workers_seen(log, mark)) >= 2, "the requests should reach several workers"


def test_logout_everywhere_is_enforced_by_every_worker(gunicorn_example):
    base, log = gunicorn_example
    devices = [device(base) for _ in range(3)]
    first_client, first_auth = devices[0]
    status, _ = first_client.call(
        "POST", "/api/auth/logout-all/", {"scope": "all"},
        Authorization=first_auth["Authorization"],
    )  # fmt: skip
    assert status == 204

    mark = len(log.read_text().splitlines())
    for client, auth in devices:
        assert hammer(client, auth) == [(401, "session_revoked")] * REQUESTS
    assert len(workers_seen(log, mark)) >= 2
    # A login after the fact is not caught by the user's marker.
    client, auth = device(base)
    assert set(hammer(client, auth)) == {(200, None)}
