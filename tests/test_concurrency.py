"""Concurrent refreshes with one refresh token: the chain of a session never forks.

Promise: losing a race never yields two valid refresh JTIs for one session. k threads
released by one :class:`threading.Barrier` present the same refresh token at once:

* inside ``ROTATION_GRACE_PERIOD`` (the default) all of them succeed and all converge on
  the one JTI the winning compare-and-swap wrote;
* with no grace period exactly one succeeds, the others are refused as a replay
  (``TokenReused``, or ``SessionRevoked`` once the session is gone) and the session ends
  revoked as ``reuse_detected``.

simplejwt's rotate-and-blacklist would hand k concurrent callers k different valid
tokens: that is the failure these tests look for. Each scenario runs several rounds on
fresh sessions so the race is really exercised. They need real row locks and a connection
per thread, so they run on PostgreSQL and MariaDB only (the conftest deselects them on
SQLite) with committed data (``transaction=True``).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.db import connection, transaction
from django.test import override_settings

from django_token_sessions import services, tokens
from django_token_sessions.exceptions import SessionRevoked, TokenReused
from django_token_sessions.models import DeviceSession, RevokeReason

ROUNDS = 10
THREADS = [2, 4, 8]
NO_GRACE = {"ROTATION_GRACE_PERIOD": 0}
#: Safety nets against a hung thread or server, in seconds. Never asserted on.
TIMEOUT = 60


@dataclass
class Outcome:
    """What one thread got: a result or an exception, never both."""

    result: Any = None
    error: BaseException | None = None


class Race:
    """``k`` threads running ``call(i)``, released at one instant by a barrier.

    Each thread opens its database connection before the barrier (so connecting does not
    spread the start), records the server's id for it in :attr:`backend_ids` and closes it
    at the end. Exceptions are caught into the thread's :class:`Outcome`, never left to
    the thread machinery.
    """

    def __init__(self, k: int, call: Callable[[int], Any], *, barrier: bool = True) -> None:
        self.call = call
        self.gate = threading.Barrier(k, timeout=TIMEOUT) if barrier else None
        self.outcomes = [Outcome() for _ in range(k)]
        self.backend_ids: list[int | None] = [None] * k
        self.threads = [
            threading.Thread(target=self._worker, args=(i,), name=f"race-{i}") for i in range(k)
        ]
        for thread in self.threads:
            thread.start()

    def _worker(self, i: int) -> None:
        try:
            self.backend_ids[i] = backend_id()
            if self.gate is not None:
                self.gate.wait()
            self.outcomes[i].result = self.call(i)
        except BaseException as exc:
            self.outcomes[i].error = exc
        finally:
            connection.close()

    def join(self) -> list[Outcome]:
        for thread in self.threads:
            thread.join(TIMEOUT)
        assert not any(t.is_alive() for t in self.threads), "a thread hung"
        return self.outcomes


def race(k: int, call: Callable[[int], Any]) -> list[Outcome]:
    """Run ``call(i)`` in ``k`` threads released at the same instant; every outcome."""
    return Race(k, call).join()


def backend_id() -> int:
    """The database server's id of this thread's connection (opening it if needed)."""
    postgres = connection.vendor == "postgresql"
    sql = "SELECT pg_backend_pid()" if postgres else "SELECT CONNECTION_ID()"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        (pid,) = cursor.fetchone()
    return int(pid)


def make_user(name: str = "alice") -> Any:
    return get_user_model().objects.create_user(
        username=name, password="correct horse battery staple", email=f"{name}@example.com"
    )


def unexpected(outcomes: list[Outcome], allowed: tuple[type[BaseException], ...] = ()) -> list:
    return [
        repr(o.error) for o in outcomes if o.error is not None and not isinstance(o.error, allowed)
    ]


def refresh_jti(issued: services.IssuedSession) -> str:
    """The JTI really signed into the refresh token (not the dataclass field)."""
    jti = tokens.decode_refresh(issued.tokens.refresh).jti
    assert issued.tokens.refresh_jti == jti
    return jti


def assert_single_success_then_revoked(
    outcomes: list[Outcome], session_id: Any, original: str
) -> None:
    """The grace-off verdict: one winner, the rest refused as a replay, session revoked."""
    assert unexpected(outcomes, (TokenReused, SessionRevoked)) == []
    winners = [o.result for o in outcomes if o.error is None]
    assert len(winners) == 1, f"{len(winners)} of {len(outcomes)} callers got a token"
    reused = [o for o in outcomes if isinstance(o.error, TokenReused)]
    # Exactly one loser revoked the session; the others found it revoked already.
    assert len(reused) == 1
    (winner,) = winners
    session = DeviceSession.objects.get(pk=session_id)
    # The winner's compare-and-swap happened: its JTI is the one the row holds...
    assert session.refresh_jti == refresh_jti(winner) != original
    assert session.previous_jti == original
    # ... and then a loser's replay of the old token ended the session.
    assert session.revoked_at is not None
    assert session.revoke_reason == RevokeReason.REUSE_DETECTED
    with pytest.raises(SessionRevoked):
        services.rotate_refresh_token(winner.tokens.refresh)


def assert_converged(outcomes: list[Outcome], session_id: Any, original: str) -> str:
    """The grace-on verdict: everyone succeeded with the one JTI the row holds."""
    assert unexpected(outcomes) == []
    jtis = {refresh_jti(o.result) for o in outcomes}
    assert len(jtis) == 1, f"the chain forked into {len(jtis)} refresh JTIs"
    (jti,) = jtis
    assert {o.result.session_id for o in outcomes} == {session_id}
    session = DeviceSession.objects.get(pk=session_id)
    assert session.refresh_jti == jti != original
    assert session.previous_jti == original
    assert session.revoked_at is None
    assert session.revoke_reason == ""
    return jti


@pytest.mark.concurrent_db
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("k", THREADS)
def test_concurrent_refresh_in_grace_converges_on_one_jti(k: int) -> None:
    user = make_user()
    for _ in range(ROUNDS):
        issued = services.create_session(user)
        raw = issued.tokens.refresh
        original = refresh_jti(issued)

        outcomes = race(k, lambda _i, raw=raw: services.rotate_refresh_token(raw))

        jti = assert_converged(outcomes, issued.session_id, original)
        # The token every caller holds is the live one: it rotates once more.
        again = services.rotate_refresh_token(outcomes[-1].result.tokens.refresh)
        session = DeviceSession.objects.get(pk=issued.session_id)
        assert session.refresh_jti == refresh_jti(again) != jti
        assert session.previous_jti == jti
        assert session.revoked_at is None


@pytest.mark.concurrent_db
@pytest.mark.django_db(transaction=True)
@override_settings(TOKEN_SESSIONS=NO_GRACE)
@pytest.mark.parametrize("k", THREADS)
def test_concurrent_refresh_without_grace_has_one_winner_and_revokes(k: int) -> None:
    user = make_user()
    for _ in range(ROUNDS):
        issued = services.create_session(user)
        raw = issued.tokens.refresh

        outcomes = race(k, lambda _i, raw=raw: services.rotate_refresh_token(raw))

        assert_single_success_then_revoked(outcomes, issued.session_id, refresh_jti(issued))


@pytest.mark.concurrent_db
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("grace", [True, False], ids=["grace", "no-grace"])
@pytest.mark.parametrize("k", THREADS)
def test_losers_blocked_on_the_winners_row_lock(k: int, grace: bool) -> None:
    """Force the interleaving: every loser's UPDATE waits on the winner's uncommitted one.

    The winner rotates inside an open transaction; k threads then present the same token
    and block on its row lock; only when the database shows all of them waiting does the
    winner commit. Each loser's compare-and-swap must then re-check the row, match nothing
    and take the grace (or reuse) path.
    """
    settings = {} if grace else NO_GRACE
    with override_settings(TOKEN_SESSIONS=settings):
        user = make_user()
        for _ in range(3):
            issued = services.create_session(user)
            raw = issued.tokens.refresh
            original = refresh_jti(issued)
            with transaction.atomic():
                winner = services.rotate_refresh_token(raw)
                losers = Race(
                    k, lambda _i, raw=raw: services.rotate_refresh_token(raw), barrier=False
                )
                all_blocked = wait_until_blocked(losers)
            outcomes = losers.join()
            assert all_blocked, "the losers never queued on the winner's row lock"
            everyone = [Outcome(result=winner), *outcomes]
            if grace:
                jti = assert_converged(everyone, issued.session_id, original)
                assert jti == refresh_jti(winner)
            else:
                assert_single_success_then_revoked(everyone, issued.session_id, original)


def wait_until_blocked(losers: Race) -> bool:
    """Poll until every thread of ``losers`` waits for a lock; False on the safety timeout.

    MariaDB serves ``innodb_trx`` from a cache refreshed only when it was not read for
    0.1 s, hence the slower polling there; matching on the threads' own connection ids
    keeps a stale snapshot from being mistaken for them.
    """
    if connection.vendor == "postgresql":
        sql = "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid = ANY(%s)"
        pause = 0.01
        param: Any = list
    else:
        sql = (
            "SELECT count(*) FROM information_schema.innodb_trx"
            " WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id IN %s"
        )
        pause = 0.2
        param = tuple
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ids = losers.backend_ids
        if None not in ids:
            with connection.cursor() as cursor:
                cursor.execute(sql, [param(ids)])
                (waiting,) = cursor.fetchone()
            if waiting == len(ids):
                return True
        time.sleep(pause)
    return False


@pytest.mark.concurrent_db
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("k", THREADS)
def test_replayed_old_token_racing_live_refreshes(k: int) -> None:
    """A thief replays a long-rotated token while the device refreshes concurrently.

    Whatever the order, the session ends revoked as ``reuse_detected``, only the replay is
    told ``TokenReused``, and any device caller that got through before the revocation got
    the one JTI the row holds, which is dead now.
    """
    thieves = k // 2
    user = make_user()
    for _ in range(ROUNDS):
        issued = services.create_session(user)
        stolen = issued.tokens.refresh
        first = services.rotate_refresh_token(stolen)
        current = services.rotate_refresh_token(first.tokens.refresh)
        raws = [stolen] * thieves + [current.tokens.refresh] * (k - thieves)

        outcomes = race(k, lambda i, raws=raws: services.rotate_refresh_token(raws[i]))

        assert unexpected(outcomes, (TokenReused, SessionRevoked)) == []
        assert all(o.error is not None for o in outcomes[:thieves]), "a replay got a token"
        assert len([o for o in outcomes if isinstance(o.error, TokenReused)]) == 1
        assert all(not isinstance(o.error, TokenReused) for o in outcomes[thieves:])
        session = DeviceSession.objects.get(pk=issued.session_id)
        assert session.revoked_at is not None
        assert session.revoke_reason == RevokeReason.REUSE_DETECTED
        got = [o.result for o in outcomes if o.error is None]
        jtis = {refresh_jti(r) for r in got}
        assert len(jtis) <= 1
        if got:
            assert jtis == {session.refresh_jti}
            with pytest.raises(SessionRevoked):
                services.rotate_refresh_token(got[0].tokens.refresh)


@pytest.mark.concurrent_db
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("k", THREADS)
def test_concurrent_refreshes_of_different_sessions_do_not_interfere(k: int) -> None:
    """One user, k devices refreshing at once (one UPDATE each, all reading the user row)."""
    user = make_user()
    for _ in range(3):
        sessions = [services.create_session(user) for _ in range(k)]

        raws = [issued.tokens.refresh for issued in sessions]

        outcomes = race(k, lambda i, raws=raws: services.rotate_refresh_token(raws[i]))

        assert unexpected(outcomes) == []
        for issued, outcome in zip(sessions, outcomes, strict=True):
            row = DeviceSession.objects.get(pk=issued.session_id)
            assert outcome.result.session_id == issued.session_id
            assert row.refresh_jti == refresh_jti(outcome.result)
            assert row.previous_jti == refresh_jti(issued)
            assert row.revoked_at is None


@pytest.fixture
def server_url() -> Iterator[str]:
    """Django behind a threaded WSGI server (a thread and a connection per request).

    Not pytest-django's ``live_server``: its static-files wrapper needs a ``STATIC_URL``,
    which the test settings do not set.
    """
    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with override_settings(ALLOWED_HOSTS=["127.0.0.1"]):
            yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def post_refresh(url: str, raw: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"refresh": raw}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


@pytest.mark.concurrent_db
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("grace", [True, False], ids=["grace", "no-grace"])
@pytest.mark.parametrize("k", THREADS)
def test_concurrent_http_refresh(server_url: str, k: int, grace: bool) -> None:
    """The same races through the real endpoint: one HTTP request per thread."""
    url = server_url + "/api/auth/refresh/"
    user = make_user()
    with override_settings(TOKEN_SESSIONS={} if grace else NO_GRACE):
        for _ in range(5):
            issued = services.create_session(user)
            raw = issued.tokens.refresh
            original = refresh_jti(issued)

            outcomes = race(k, lambda _i, raw=raw: post_refresh(url, raw))

            assert unexpected(outcomes) == []
            responses = [o.result for o in outcomes]
            ok = [body for status, body in responses if status == 200]
            refused = [(status, body["code"]) for status, body in responses if status != 200]
            session = DeviceSession.objects.get(pk=issued.session_id)
            assert session.previous_jti == original
            if grace:
                assert refused == []
                jtis = {tokens.decode_refresh(body["refresh"]).jti for body in ok}
                assert jtis == {session.refresh_jti}
                assert session.revoked_at is None
            else:
                assert len(ok) == 1, responses
                assert tokens.decode_refresh(ok[0]["refresh"]).jti == session.refresh_jti
                assert set(refused) <= {(401, "token_reused"), (401, "session_revoked")}
                assert refused.count((401, "token_reused")) == 1
                assert session.revoke_reason == RevokeReason.REUSE_DETECTED
                status, body = post_refresh(url, ok[0]["refresh"])
                assert (status, body["code"]) == (401, "session_revoked")
