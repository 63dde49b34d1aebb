"""Fault injection on real services: a database connection killed mid-rotation, Redis
stopped and started (or cut off) under load, and 50 refreshes of one token across 4
gunicorn workers.

Each scenario is checked through HTTP first (what the client saw) and then in the
database (what the session became). The promises:

* a fault never forks a session's refresh chain (two valid JTIs) and never revokes a
  session by mistake; the client gets a JSON 503 ``service_unavailable``, and its retry
  inside the grace window converges on the session's current token;
* a Redis outage never turns into a 500: with ``REVOCATION_CACHE_FAILURE = "db"``
  revocation keeps being enforced from the database, with ``"deny"`` every request is
  refused as ``revocation_unavailable`` until Redis is back and rebuilt.

The connection is killed in-process (``connection.execute_wrapper`` around the rotation's
UPDATE, on pytest-django's TEST_DB=postgres database) and, from outside, in a gunicorn
worker whose UPDATE waits on a row lock the test holds. The gunicorn tests serve the
example project (tests/support/gunicorn_example.py) on a database of their own, each with a
redis-server of its own on a free port, so the shared Redis is never stopped.

Needs PostgreSQL, gunicorn, psycopg, django-redis and redis-server: skipped with the
reason on a laptop without them, failed when ``CI`` is set. Run by the tox env ``redis``.
Every wait has a timeout; processes and databases are cleaned up in ``finally``.
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, connection
from django.test import override_settings
from rest_framework.test import APIClient

from django_token_sessions import services
from django_token_sessions.models import DeviceSession, RevokeReason
from django_token_sessions.revocation.cache import CacheBackend
from tests.conftest import require_service
from tests.support.clients import PASSWORD
from tests.support.example_server import DEMO
from tests.support.faults import Partition, RedisServer
from tests.support.gunicorn_example import example_database, require_stack, serve, wait_for

#: Safety net for one HTTP request, in seconds. Never asserted on.
HTTP_TIMEOUT = 15
#: How long each phase of the Redis outage lasts (before, during, after), in seconds.
PHASE = 1.5
#: After Redis restarts, "deny" may refuse until the cache is rebuilt: a rebuild is tried
#: at most once a second per process (CacheBackend.retry_interval), and since 72e429d every
#: worker that saw the outage rebuilds once more itself, one at a time (measured: up to
#: 3.5 s with 4 workers on 2 CPUs). The bound the test holds the library to.
WARM_UP = 6.0
BURST = 50
#: The served workers' CacheBackend.resync_interval, the default: read when the module is
#: imported, before tests/conftest.py stretches it to ~30 years for each test in this process.
SERVED_RESYNC_INTERVAL = CacheBackend.resync_interval
#: Grace window of the burst test: wide enough for 50 requests through 4 workers on a
#: slow CI machine, short enough to wait out before the replay.
BURST_GRACE = 8.0


# -- helpers ---------------------------------------------------------------------------


def http(
    base: str, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, Any] | str]:
    """One request: (status, JSON body, or the raw text when it is not JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, raw.decode(errors="replace")


def code_of(body: dict[str, Any] | str) -> str | None:
    return body.get("code") if isinstance(body, dict) else None


def claims(token: str) -> dict[str, Any]:
    """A JWT's payload, not verified: only to read which JTI a client was handed."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def login(base: str) -> dict[str, Any]:
    status, body = http(base, "POST", "/api/auth/login/", DEMO, X_Token_Transport="body")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def pg(database_url: str, **options: Any) -> Any:
    """A psycopg connection of the test's own to the served example's database."""
    import psycopg

    url = urlsplit(database_url)
    return psycopg.connect(
        host=url.hostname, port=url.port, user=url.username, dbname=url.path.lstrip("/"),
        connect_timeout=5, **options,
    )  # fmt: skip


def session_row(database_url: str, session_id: str) -> dict[str, Any]:
    """The session's row, read from outside the server (the truth after a fault)."""
    from psycopg.rows import dict_row

    with pg(database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT refresh_jti, previous_jti, rotated_at, revoked_at, revoke_reason,"
            " now() AS db_now FROM token_sessions_devicesession WHERE id = %s",
            [session_id],
        ).fetchone()
    assert row is not None
    return dict(row)


@pytest.fixture(scope="module")
def example_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DATABASE_URL of one migrated PostgreSQL database with the demo user, per module."""
    require_stack(shared_redis=False)
    require_service(
        shutil.which("redis-server") is not None or Path("/usr/bin/redis-server").exists(),
        "needs redis-server (apt-get install redis-server) to stop and start a Redis",
    )
    with example_database(tmp_path_factory.mktemp("faults")) as url:
        yield url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.kill()


# -- 1. the database connection drops in the middle of a rotation ----------------------


def _is_rotation(sql: str) -> bool:
    # The compare-and-swap: UPDATE ... SET refresh_jti = ... (a revocation sets revoked_at).
    head = sql.split("WHERE")[0]
    return sql.lstrip().startswith("UPDATE") and '"refresh_jti"' in head


class KillBackend:
    """``connection.execute_wrapper``: terminates this connection's PostgreSQL backend,
    from a second connection, once, around the rotation's UPDATE.

    ``before``: the backend dies before the UPDATE reaches it, so it never runs.
    ``after``: the UPDATE runs and commits (autocommit), then the backend dies and the
    driver raises as it does when a reply is lost: the client never sees the new token.
    """

    def __init__(self, when: str) -> None:
        self.when = when
        self.fired = False

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if self.fired or not _is_rotation(sql):
            return execute(sql, params, many, context)
        self.fired = True
        pid = context["connection"].connection.info.backend_pid
        if self.when == "before":
            _terminate(pid)
            return execute(sql, params, many, context)  # raises OperationalError
        result = execute(sql, params, many, context)
        _terminate(pid)
        # What a lost reply raises: any statement on the dead connection fails the same way.
        execute("SELECT 1", None, False, context)
        return result


def _terminate(pid: int) -> None:
    import psycopg

    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or None, port=s["PORT"] or None, user=s["USER"],
        password=s["PASSWORD"] or None, dbname=s["NAME"], autocommit=True, connect_timeout=5,
    ) as admin:  # fmt: skip
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)

        def gone() -> bool:
            found = admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            return found.fetchone() is None

        wait_for(gone, f"backend {pid} to exit", timeout=10)


def _refresh(raw: str) -> tuple[int, Any]:
    # raise_request_exception=False: an unhandled error comes back as the 500 response a
    # client would get instead of being re-raised into the test.
    response = APIClient(raise_request_exception=False).post(
        "/api/auth/refresh/", {"refresh": raw}, format="json"
    )
    content_type = response.get("Content-Type", "")
    body = response.json() if content_type.startswith("application/json") else response.content
    return response.status_code, body


@pytest.fixture
def pg_session() -> tuple[str, str]:
    """(refresh token, session id) of a fresh login on PostgreSQL, committed."""
    require_service(
        connection.vendor == "postgresql",
        "kills a PostgreSQL backend: run with TEST_DB=postgres (tox -e redis)",
    )
    get_user_model().objects.create_user(username="alice", password=PASSWORD)
    response = APIClient().post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        format="json",
        HTTP_X_TOKEN_TRANSPORT="body",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    return body["refresh"], body["session"]["id"]


def _drop_during_rotation(raw: str, when: str) -> tuple[int, Any]:
    fault = KillBackend(when)
    try:
        with connection.execute_wrapper(fault):
            status, body = _refresh(raw)
    finally:
        # The test client keeps the dead connection (a server closes it after the
        # request); close it so the test's next query reconnects.
        connection.close()
    assert fault.fired, "the rotation's UPDATE was not seen"
    return status, body


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_db_drop_before_the_rotation_update_leaves_the_session_unrotated(pg_session):
    raw, sid = pg_session
    original = claims(raw)["jti"]

    status, body = _drop_during_rotation(raw, "before")

    assert (status, body) == (
        503,
        {"detail": "Service temporarily unavailable.", "code": "service_unavailable"},
    )
    session = DeviceSession.objects.get(pk=sid)
    assert (session.refresh_jti, session.previous_jti, session.rotated_at) == (original, "", None)
    assert session.revoked_at is None
    # The retry is a plain rotation: the old token is still the current one.
    status, body = _refresh(raw)
    assert status == 200, body
    session.refresh_from_db()
    assert (session.previous_jti, session.refresh_jti) == (original, claims(body["refresh"])["jti"])
    assert session.revoked_at is None


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_db_drop_after_the_rotation_update_converges_on_retry(pg_session):
    raw, sid = pg_session
    original = claims(raw)["jti"]

    status, body = _drop_during_rotation(raw, "after")

    assert (status, body) == (
        503,
        {"detail": "Service temporarily unavailable.", "code": "service_unavailable"},
    )
    session = DeviceSession.objects.get(pk=sid)
    lost = session.refresh_jti  # rotated, but its token never reached the client
    assert lost != original
    assert session.previous_jti == original
    assert session.revoked_at is None

    # The client retries with the token it has, inside the grace window: it is handed a
    # token for the session's current JTI, and nothing rotates again (no fork).
    status, body = _refresh(raw)
    assert status == 200, body
    assert claims(body["refresh"])["jti"] == lost
    session.refresh_from_db()
    assert (session.previous_jti, session.refresh_jti, session.revoked_at) == (original, lost, None)

    # Only one JTI is valid: once the window is over the old token is a replay.
    with override_settings(TOKEN_SESSIONS={"ROTATION_GRACE_PERIOD": timedelta(0)}):
        status, refused = _refresh(raw)
    assert (status, refused["code"]) == (401, "token_reused")
    session.refresh_from_db()
    assert session.revoke_reason == RevokeReason.REUSE_DETECTED


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("when", ["before", "after"])
def test_db_drop_under_atomic_requests_rolls_the_rotation_back(pg_session, monkeypatch, when):
    # With ATOMIC_REQUESTS the UPDATE commits with the request: a connection lost after it
    # loses the uncommitted rotation too, and the 503 (set_rollback) must not turn into a
    # 500 when the atomic block cannot commit or roll back on the dead connection.
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    raw, sid = pg_session
    original = claims(raw)["jti"]

    status, body = _drop_during_rotation(raw, when)

    assert (status, body["code"]) == (503, "service_unavailable")
    session = DeviceSession.objects.get(pk=sid)
    assert (session.refresh_jti, session.previous_jti, session.revoked_at) == (original, "", None)
    status, body = _refresh(raw)
    assert status == 200, body
    session.refresh_from_db()
    assert (session.previous_jti, session.refresh_jti) == (original, claims(body["refresh"])["jti"])


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_database_error_is_a_json_503_on_any_database(db, monkeypatch, error):
    # The mapping the drop tests above rely on, in every tox env (SQLite included).
    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise error("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "rotate_refresh_token", unavailable)
    status, body = _refresh("any.token.text")
    assert (status, body["code"]) == (503, "service_unavailable")


@pytest.mark.redis
def test_db_drop_in_a_gunicorn_worker_mid_rotation_is_a_503_and_the_worker_recovers(
    example_db, own_redis, tmp_path
):
    # The same fault from outside, in a deployment: the test holds the session's row lock
    # so the worker's rotation UPDATE waits on it, then kills that worker's backend.
    with serve(tmp_path, example_db, own_redis.url) as app:
        body = login(app.base)
        raw, sid = body["refresh"], body["session"]["id"]
        original = claims(raw)["jti"]
        reply: list[tuple[int, Any]] = []
        with pg(example_db) as lock, pg(example_db, autocommit=True) as admin:
            lock.execute(
                "SELECT 1 FROM token_sessions_devicesession WHERE id = %s FOR UPDATE", [sid]
            )
            client = threading.Thread(
                target=lambda: reply.append(
                    http(app.base, "POST", "/api/auth/refresh/", {"refresh": raw})
                ),
                daemon=True,
            )
            client.start()
            waiting: list[int] = []

            def blocked() -> bool:
                waiting[:] = [
                    pid
                    for (pid,) in admin.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE %refresh_jti%'"
                    )
                ]
                return bool(waiting)

            wait_for(blocked, "the worker's UPDATE to wait on the row lock", timeout=20)
            assert len(waiting) == 1
            admin.execute("SELECT pg_terminate_backend(%s)", waiting)
            client.join(timeout=HTTP_TIMEOUT + 5)
            lock.rollback()
        assert not client.is_alive(), "the refresh hung"

        assert reply == [
            (503, {"detail": "Service temporarily unavailable.", "code": "service_unavailable"})
        ], app.errors()
        row = session_row(example_db, sid)
        assert (row["refresh_jti"], row["previous_jti"], row["revoked_at"]) == (original, "", None)
        (killed,) = app.workers_seen(0, "/api/auth/refresh/", status=503)
        # The worker dropped its dead connection: the retry works, and the worker whose
        # backend was killed serves requests again, as do the others.
        status, rotated = http(app.base, "POST", "/api/auth/refresh/", {"refresh": raw})
        assert status == 200, rotated
        assert session_row(example_db, sid)["refresh_jti"] == claims(rotated["refresh"])["jti"]
        auth = f"Bearer {rotated['access']}"
        mark = app.log_mark()
        statuses = app.spread(
            lambda: http(app.base, "GET", "/api/me/", Authorization=auth)[0],
            "/api/me/",
            reached=lambda pids: killed in pids and len(pids) >= 2,
        )
        assert set(statuses) == {200}, app.errors()
        served = app.workers_seen(mark, "/api/me/", status=200)
        assert killed in served, served
        assert len(served) >= 2, served


# -- 2. Redis stopped and started during a run of authenticated requests --------------


@dataclass(frozen=True)
class Hit:
    who: str
    start: float
    end: float
    status: int
    code: str | None


class Load:
    """Threads sending GET /api/me/ with each token in turn until stopped."""

    def __init__(self, base: str, tokens: dict[str, str], threads: int = 4) -> None:
        self.base = base
        self.tokens = tokens
        self.hits: list[Hit] = []
        self.failures: list[BaseException] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                for who, access in self.tokens.items():
                    start = time.monotonic()
                    status, body = http(
                        self.base, "GET", "/api/me/", Authorization=f"Bearer {access}"
                    )
                    self.hits.append(Hit(who, start, time.monotonic(), status, code_of(body)))
        except BaseException as exc:  # a timeout is a failure to report, not a silent stop
            self.failures.append(exc)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=HTTP_TIMEOUT + 5)
        assert not any(thread.is_alive() for thread in self.threads), "a request hung"
        assert not self.failures, self.failures


def _outage(base: str, redis: RedisServer) -> tuple[list[Hit], dict[str, float], str]:
    """Drive the load while Redis runs, is stopped and is started again (empty)."""
    valid, revoked = login(base), login(base)
    tokens = {"valid": valid["access"], "revoked": revoked["access"]}

    # A new Redis has no readiness key: let a first check rebuild it, as in production
    # (with "deny", requests are refused until then).
    def warmed() -> bool:
        return http(base, "GET", "/api/me/", Authorization=f"Bearer {tokens['valid']}")[0] == 200

    wait_for(warmed, "the revocation cache to warm up", timeout=10)
    status, _ = http(
        base, "DELETE", f"/api/auth/sessions/{revoked['session']['id']}/",
        Authorization=f"Bearer {valid['access']}",
    )  # fmt: skip
    assert status == 204
    times = {}
    with Load(base, tokens) as load:
        time.sleep(PHASE)
        times["stopping"] = time.monotonic()
        redis.stop()
        times["down"] = time.monotonic()
        time.sleep(PHASE)
        times["starting"] = time.monotonic()
        redis.start()
        times["up"] = time.monotonic()
        time.sleep(PHASE + WARM_UP)
    return load.hits, times, revoked["session"]["id"]


def _phase(hits: list[Hit], who: str, after: float = 0.0, before: float = 1e18) -> list[Hit]:
    return [h for h in hits if h.who == who and h.start >= after and h.end <= before]


def _outcomes(hits: list[Hit]) -> set[tuple[int, str | None]]:
    return {(h.status, h.code) for h in hits}


@pytest.mark.redis
def test_redis_outage_with_db_fallback_never_500_and_keeps_revocation(
    example_db, own_redis, tmp_path
):
    with serve(tmp_path, example_db, own_redis.url, DEMO_REVOCATION_CACHE_FAILURE="db") as app:
        hits, times, revoked_sid = _outage(app.base, own_redis)
        assert not [h for h in hits if h.status >= 500], app.errors()
        down = _phase(hits, "valid", times["down"], times["starting"])
        assert len(down) >= 10, "too few requests during the outage to prove anything"
        assert _outcomes(_phase(hits, "valid")) == {(200, None)}
        assert _outcomes(_phase(hits, "revoked")) == {(401, "session_revoked")}
        assert _phase(hits, "revoked", times["down"], times["starting"])
        assert _phase(hits, "revoked", times["up"])
        # The restarted, empty Redis was rebuilt from the database: ready, with the marker.
        keys = own_redis.stored_keys()
        assert any(key.endswith(":token_sessions:ready") for key in keys), keys
        assert any(key.endswith(f":token_sessions:revoked:{revoked_sid}") for key in keys), keys


@pytest.mark.redis
def test_redis_outage_with_deny_refuses_then_recovers_never_500(example_db, own_redis, tmp_path):
    with serve(tmp_path, example_db, own_redis.url, DEMO_REVOCATION_CACHE_FAILURE="deny") as app:
        hits, times, _ = _outage(app.base, own_redis)
        assert not [h for h in hits if h.status >= 500], app.errors()
        unavailable = (401, "revocation_unavailable")
        assert _outcomes(_phase(hits, "valid", before=times["stopping"])) == {(200, None)}
        down = _phase(hits, "valid", times["down"], times["starting"])
        assert len(down) >= 10, "too few requests during the outage to prove anything"
        assert _outcomes(down) == {unavailable}
        # Between the restart and the rebuild a request may still be refused, never more.
        assert _outcomes(_phase(hits, "valid", times["stopping"])) <= {(200, None), unavailable}
        recovered = _phase(hits, "valid", times["up"] + WARM_UP)
        assert recovered
        assert _outcomes(recovered) == {(200, None)}
        assert _outcomes(_phase(hits, "revoked")) <= {(401, "session_revoked"), unavailable}
        assert _outcomes(_phase(hits, "revoked", times["up"] + WARM_UP)) == {
            (401, "session_revoked")
        }


@pytest.mark.redis
def test_a_revocation_during_a_redis_network_cut_is_enforced_after_it_heals(
    example_db, own_redis, tmp_path
):
    # Redis keeps running, and its data (readiness key included), while the network to it
    # is cut: the revocation's marker write is lost, and nothing looks wrong once the cut
    # heals. The worker that saw the failure answers from the database; the others miss
    # the marker until the markers are rebuilt, which happens once the last rebuild is
    # CacheBackend.resync_interval old. Before that fix, the token passed until it expired.
    partition = Partition(own_redis.port)
    try:
        redis_url = f"redis://127.0.0.1:{partition.port}/0"
        with serve(tmp_path, example_db, redis_url) as app:
            valid, victim = login(app.base), login(app.base)
            valid_auth, victim_auth = f"Bearer {valid['access']}", f"Bearer {victim['access']}"
            wait_for(
                lambda: http(app.base, "GET", "/api/me/", Authorization=valid_auth)[0] == 200,
                "the revocation cache to warm up",
                timeout=10,
            )
            assert http(app.base, "GET", "/api/me/", Authorization=victim_auth)[0] == 200

            partition.sever()
            path = f"/api/auth/sessions/{victim['session']['id']}/"
            # Revoked in the database; the marker write fails.
            assert http(app.base, "DELETE", path, Authorization=valid_auth)[0] == 204
            partition.heal()
            healed = time.monotonic()

            assert any(key.endswith(":token_sessions:ready") for key in own_redis.stored_keys())
            enforced_by = healed + SERVED_RESYNC_INTERVAL + WARM_UP
            seen: list[tuple[float, int, str | None]] = []
            while time.monotonic() < enforced_by + PHASE:
                start = time.monotonic()
                status, body = http(app.base, "GET", "/api/me/", Authorization=victim_auth)
                seen.append((start, status, code_of(body)))
            assert {(status, code) for _, status, code in seen} <= {
                (200, None),
                (401, "session_revoked"),
            }
            late = {(status, code) for start, status, code in seen if start >= enforced_by}
            assert late == {(401, "session_revoked")}, seen
    finally:
        partition.close()


# -- 3. 50 concurrent refreshes of one token across 4 gunicorn workers ----------------


@pytest.mark.redis
def test_fifty_concurrent_refreshes_rotate_once_then_replay_revokes(
    example_db, own_redis, tmp_path
):
    with serve(
        tmp_path, example_db, own_redis.url, DEMO_ROTATION_GRACE_SECONDS=str(BURST_GRACE)
    ) as app:
        body = login(app.base)
        raw, sid = body["refresh"], body["session"]["id"]
        original = claims(raw)["jti"]

        gate = threading.Barrier(BURST, timeout=30)
        results: list[tuple[int, Any] | None] = [None] * BURST

        def refresh(i: int) -> None:
            gate.wait()
            results[i] = http(app.base, "POST", "/api/auth/refresh/", {"refresh": raw})

        mark = app.log_mark()
        threads = [threading.Thread(target=refresh, args=(i,), daemon=True) for i in range(BURST)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=HTTP_TIMEOUT + 30)
        assert not any(thread.is_alive() for thread in threads), "a refresh hung"

        assert [r[0] if r else None for r in results] == [200] * BURST, results
        jtis = {claims(r[1]["refresh"])["jti"] for r in results if r}
        assert len(jtis) == 1, "the burst forked the session's refresh chain"
        (converged,) = jtis
        row = session_row(example_db, sid)
        # Exactly one rotation: it replaced the original, and nothing replaced it since.
        assert (row["previous_jti"], row["refresh_jti"]) == (original, converged)
        assert row["revoked_at"] is None
        assert len(app.workers_seen(mark, "/api/auth/refresh/")) >= 2, app.access_log.read_text()

        # After the window, the original token is a replay: the session is revoked.
        left = BURST_GRACE - (row["db_now"] - row["rotated_at"]).total_seconds()
        time.sleep(max(left, 0) + 0.5)
        status, refused = http(app.base, "POST", "/api/auth/refresh/", {"refresh": raw})
        assert (status, code_of(refused)) == (401, "token_reused")
        row = session_row(example_db, sid)
        assert row["revoked_at"] is not None
        assert row["revoke_reason"] == RevokeReason.REUSE_DETECTED
        # And with it every token the burst handed out.
        token = results[0][1]["refresh"] if results[0] else ""
        status, refused = http(app.base, "POST", "/api/auth/refresh/", {"refresh": token})
        assert (status, code_of(refused)) == (401, "session_revoked")
        access = results[0][1]["access"] if results[0] else ""
        status, refused = http(app.base, "GET", "/api/me/", Authorization=f"Bearer {access}")
        assert (status, code_of(refused)) == (401, "session_revoked")
