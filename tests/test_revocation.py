"""Instant revocation: cache markers, their budgets, and what happens when the cache fails."""

from __future__ import annotations

import logging
import socket
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache, caches
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from django_token_sessions import revocation, services
from django_token_sessions.authentication import SessionJWTAuthentication
from django_token_sessions.models import DeviceSession, RevocationRecord
from django_token_sessions.revocation import cache as markers
from django_token_sessions.revocation import get_revocation_backend
from django_token_sessions.revocation.cache import CacheBackend
from tests.conftest import require_service
from tests.support.backends import BACKENDS, rebuild_may_run_now
from tests.support.clients import bearer

pytestmark = pytest.mark.django_db


def me(access):
    response = bearer(access).get("/api/me/")
    return response.status_code, response.json().get("code")


def test_revoking_one_device_writes_one_marker_after_commit(user, login, cache_calls):
    laptop, phone = login(user), login(user)
    assert me(laptop["access"]) == (200, None)
    cache_calls.clear()

    services.revoke_session(phone["session"]["id"], reason="admin")

    assert cache_calls == ["set_many"]
    assert cache.get(markers.session_key(phone["session"]["id"])) == 1
    assert me(phone["access"]) == (401, "session_revoked")
    assert me(laptop["access"]) == (200, None)


@pytest.mark.parametrize("sessions", [3, 60])
def test_logout_everywhere_is_one_update_and_one_cache_write(
    user, login, make_user, sessions, django_assert_num_queries, cache_calls
):
    bodies = [services.create_session(user) for _ in range(sessions)]
    bob = login(make_user("bob"))
    cache_calls.clear()

    with django_assert_num_queries(1):
        assert services.logout_everywhere(user) == sessions

    assert cache_calls == ["set"]
    assert cache.get(markers.user_key(user.pk))["keep"] is None
    for issued in (bodies[0], bodies[-1]):
        assert me(issued.tokens.access) == (401, "session_revoked")
    assert me(bob["access"]) == (200, None)


def test_logout_others_keeps_this_device_and_new_logins_work(user, login):
    this, other = login(user), login(user)
    response = bearer(this["access"]).post(
        "/api/auth/logout-all/", {"scope": "others"}, format="json"
    )
    assert response.status_code == 204
    assert cache.get(markers.user_key(user.pk))["keep"] == this["session"]["id"]
    assert me(this["access"]) == (200, None)
    assert me(other["access"]) == (401, "session_revoked")
    # A login right after the marker (same second, even) is not caught by it.
    assert me(login(user)["access"]) == (200, None)


def test_rolled_back_revocation_writes_no_marker(user, login, cache_calls):
    from django.db import transaction

    body = login(user)

    def revoke_then_fail():
        with transaction.atomic():
            services.logout_everywhere(user)
            services.revoke_session(body["session"]["id"], reason="admin")
            raise RuntimeError("boom")

    cache_calls.clear()
    with pytest.raises(RuntimeError):
        revoke_then_fail()
    assert "set" not in cache_calls
    assert "set_many" not in cache_calls
    assert me(body["access"]) == (200, None)


@pytest.fixture
def periodic_resync(monkeypatch):
    """The periodic rebuild every 5 s, as in production (conftest keeps it from running
    during the other tests)."""
    monkeypatch.setattr(CacheBackend, "resync_interval", 5.0)


def test_lost_cache_is_rebuilt_from_the_database(user, login, django_assert_num_queries):
    body, other = login(user), login(user)
    services.revoke_session(body["session"]["id"], reason="admin")
    cache.clear()  # what a Redis restart does: no markers, no readiness key

    # Not trusted while cold: the database answers, and the markers are rebuilt...
    assert me(body["access"]) == (401, "session_revoked")
    assert cache.get(markers.session_key(body["session"]["id"])) == 1
    # ...after which checks are cache-only again.
    with django_assert_num_queries(1):  # the user query only
        assert me(other["access"]) == (200, None)
    assert me(body["access"]) == (401, "session_revoked")


@override_settings(TOKEN_SESSIONS={"REVOCATION_BACKEND": BACKENDS["off"]})
def test_off_is_the_stateless_baseline(user, login, django_assert_num_queries):
    body = login(user)
    services.logout_everywhere(user)
    with django_assert_num_queries(1):
        # Documented as insecure: the revoked session's access token still works.
        assert me(body["access"]) == (200, None)


@override_settings(TOKEN_SESSIONS={"REVOCATION_BACKEND": BACKENDS["db"]})
def test_db_mode_refuses_on_the_next_request(user, login):
    body = login(user)
    DeviceSession.objects.update(revoked_at="2026-01-01T00:00:00Z", revoke_reason="admin")
    assert me(body["access"]) == (401, "session_revoked")


class _OwnUserLookup(SessionJWTAuthentication):
    """A project's subclass that loads the user its own way (no combined query)."""

    def get_user(self, validated_token):
        return get_user_model().objects.get(pk=validated_token["user_id"])


@override_settings(TOKEN_SESSIONS={"REVOCATION_BACKEND": BACKENDS["db"]})
def test_db_mode_checks_the_session_even_when_get_user_is_overridden(user, login, rf):
    body = login(user)
    request = Request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {body['access']}"))
    assert _OwnUserLookup().authenticate(request)[0] == user
    DeviceSession.objects.update(revoked_at=timezone.now(), revoke_reason="admin")
    with pytest.raises(AuthenticationFailed) as caught:
        _OwnUserLookup().authenticate(request)
    assert caught.value.detail["code"] == "session_revoked"


def test_cache_mode_checks_the_session_even_when_get_user_is_overridden(user, login, rf):
    # authenticate() sends the check and get_user() reads it: an overriding get_user()
    # that never reads it still gets the answer applied before authenticate() returns.
    body = login(user)
    request = Request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {body['access']}"))
    assert _OwnUserLookup().authenticate(request)[0] == user
    services.revoke_session(body["session"]["id"], reason="admin")
    with pytest.raises(AuthenticationFailed) as caught:
        _OwnUserLookup().authenticate(request)
    assert caught.value.detail["code"] == "session_revoked"


def test_get_validated_token_alone_checks_the_session(user, login):
    # Outside authenticate() (a websocket middleware, say) nothing reads a check later:
    # get_validated_token() answers it at once.
    body = login(user)
    services.revoke_session(body["session"]["id"], reason="admin")
    with pytest.raises(AuthenticationFailed) as caught:
        SessionJWTAuthentication().get_validated_token(body["access"].encode())
    assert caught.value.detail["code"] == "session_revoked"


@override_settings(TOKEN_SESSIONS={"REVOCATION_BACKEND": BACKENDS["db"]})
def test_db_mode_refuses_a_session_of_another_user(user, make_user, login):
    body = login(user)
    other = make_user("mallory")
    DeviceSession.objects.update(user=other)
    assert me(body["access"]) == (401, "session_revoked")


@pytest.mark.parametrize("leeway", [0, 30])
def test_marker_lifetime_covers_the_access_token_and_leeway(user, login, leeway):
    # A frozen clock moves timezone.now(), PyJWT's expiry check and the LocMem cache's
    # expiry alike, so the edges are exact whatever the speed of the machine; and the
    # periodic rebuild does not run (conftest), so no rebuild rewrites the marker with a
    # fresh lifetime behind the test's back.
    start = datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt_timezone.utc)
    ttl = 15 * 60 + leeway + 1
    with (
        override_settings(SIMPLE_JWT={"LEEWAY": leeway}),
        time_machine.travel(start, tick=False) as clock,
    ):
        assert revocation.marker_lifetime() == ttl
        revoked, control = login(user), login(user)
        services.revoke_session(revoked["session"]["id"], reason="admin")
        key = markers.session_key(revoked["session"]["id"])

        # The last instant a token minted with the revoked one passes its own checks
        # (exp + leeway, less 1 ms): the marker is still there, and is what refuses it.
        clock.move_to(start + timedelta(seconds=15 * 60 + leeway, milliseconds=-1))
        assert me(control["access"]) == (200, None)
        assert cache.get(key) == 1
        assert me(revoked["access"]) == (401, "session_revoked")
        # A marker lifetime after the revocation it is gone, with every token it refused.
        clock.move_to(start + timedelta(seconds=ttl))
        assert cache.get(key) is None
        assert me(control["access"]) == (401, "token_expired")
        assert me(revoked["access"]) == (401, "token_expired")


# -- user id claims that are not integers ----------------------------------------------------

#: A username with a space, and an e-mail address longer than a memcached key: valid user
#: ids whose raw text the cache refuses in a key (CacheKeyWarning on LocMem, an error on
#: memcached).
UNKEYABLE_CLAIMS = [
    pytest.param("username", "a b", id="username-with-a-space"),
    pytest.param("email", "x" * 242 + "@example.com", id="email-of-254-characters"),
]


@pytest.mark.parametrize(("id_field", "claim"), UNKEYABLE_CLAIMS)
def test_a_user_claim_the_cache_cannot_key_as_is_is_checked_by_the_cache_alone(
    make_user, login, id_field, claim, caplog, monkeypatch, django_assert_num_queries, cache_calls
):
    # The failure this guards against: a key the cache refuses makes the check's read
    # raise, the cache is taken for unusable, and every request of that user goes to the
    # database and queues a rebuild.
    get_revocation_backend().reset()  # its warnings are rate-limited
    user = make_user("a b" if id_field == "username" else "carol")
    if id_field == "email":
        user.email = claim
        user.save()
    with override_settings(SIMPLE_JWT={"USER_ID_FIELD": id_field, "USER_ID_CLAIM": "user_id"}):
        this, other = login(user), login(user)
        assert me(other["access"]) == (200, None)
        cache_calls.clear()
        with (
            caplog.at_level(logging.WARNING, logger="django_token_sessions.revocation"),
            django_assert_num_queries(1),  # the user query: no database fallback, no rebuild
        ):
            assert me(this["access"]) == (200, None)
        assert cache_calls == ["get_many"]  # the check's one round trip
        assert not [r for r in caplog.records if "unusable" in r.getMessage()]

        response = bearer(this["access"]).post("/api/auth/logout-all/", {}, format="json")
        assert response.status_code == 204
        # The "not before" marker, under the hashed key the check reads...
        key = markers.user_key(claim)
        assert key.startswith("token_sessions:revoked_user:s:")
        assert cache.get(key)["keep"] is None
        # ...is what refuses the tokens: the cache answers, the database is not asked.
        with django_assert_num_queries(1):
            assert me(other["access"]) == (401, "session_revoked")
        assert not [r for r in caplog.records if "unusable" in r.getMessage()]
        assert me(login(user)["access"]) == (200, None)


def test_user_keys_depend_on_the_claims_text_and_fit_memcached():
    from django.core.cache.backends.base import memcache_key_warnings

    # An integer claim keeps its readable key; a record holds it as text: the same key.
    readable = "token_sessions:revoked_user:42"
    assert markers.user_key(42) == markers.user_key("42") == readable
    uid = uuid.uuid4()
    assert markers.user_key(uid) == markers.user_key(str(uid))
    claims = ["a b", "carol", "Carol", "zürich", "山田" * 75, "x" * 255, str(uid), "42 "]
    keys = [markers.user_key(claim) for claim in claims]
    assert len(set(keys)) == len(claims)
    for key in keys:
        assert key.startswith("token_sessions:revoked_user:s:")
        assert list(memcache_key_warnings(f":1:{key}")) == []
        assert len(key.encode()) < 250


# -- cache faults ---------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block exits


def _require_django_redis() -> None:
    try:
        import django_redis  # noqa: F401
    except ImportError:
        require_service(False, "needs django-redis (pip install .[redis])")


def broken_redis(ignore_exceptions: bool = False) -> dict:
    _require_django_redis()
    return {
        "default": {"BACKEND": "tests.support.counting_cache.CountingLocMemCache"},
        "revocation": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
                "IGNORE_EXCEPTIONS": ignore_exceptions,
            },
        },
    }


#: Both backends that read markers from a cache: the same answers on a dead Redis.
CACHE_BACKENDS = pytest.mark.parametrize("backend", ["cache", "redis"])


@CACHE_BACKENDS
@pytest.mark.parametrize("ignore_exceptions", [False, True])
def test_dead_cache_falls_back_to_the_database(user, login, caplog, ignore_exceptions, backend):
    body, other = login(user), login(user)
    with override_settings(
        CACHES=broken_redis(ignore_exceptions),
        TOKEN_SESSIONS={"REVOCATION_CACHE": "revocation", "REVOCATION_BACKEND": BACKENDS[backend]},
    ):
        caches["revocation"].close()
        with caplog.at_level(logging.WARNING, logger="django_token_sessions.revocation"):
            # Revoking still works (the marker write fails and is logged)...
            services.revoke_session(body["session"]["id"], reason="admin")
            # ...and every check is answered by the database: no 500, no stale answer.
            for _ in range(3):
                assert me(body["access"]) == (401, "session_revoked")
                assert me(other["access"]) == (200, None)
        warnings = [r for r in caplog.records if "unusable" in r.getMessage()]
        assert len(warnings) <= 1  # rate-limited: once a minute per process


@CACHE_BACKENDS
def test_dead_cache_can_fail_closed(user, login, backend):
    body = login(user)
    with override_settings(
        CACHES=broken_redis(),
        TOKEN_SESSIONS={
            "REVOCATION_CACHE": "revocation",
            "REVOCATION_CACHE_FAILURE": "deny",
            "REVOCATION_BACKEND": BACKENDS[backend],
        },
    ):
        assert me(body["access"]) == (401, "revocation_unavailable")


# -- real Redis -----------------------------------------------------------------------------

REAL_REDIS = {
    "default": {"BACKEND": "tests.support.counting_cache.CountingLocMemCache"},
    "revocation": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/15",
        "KEY_PREFIX": "tokensessions-tests",
    },
}


@pytest.fixture
def real_redis():
    _require_django_redis()
    with socket.socket() as sock:
        sock.settimeout(1)
        up = sock.connect_ex(("127.0.0.1", 6379)) == 0
    require_service(up, "needs Redis on 127.0.0.1:6379")
    with override_settings(
        CACHES=REAL_REDIS,
        TOKEN_SESSIONS={"REVOCATION_CACHE": "revocation", "REVOCATION_BACKEND": BACKENDS["redis"]},
    ):
        redis_cache = caches["revocation"]
        redis_cache.clear()
        yield redis_cache
        redis_cache.clear()
        redis_cache.close()


@pytest.mark.redis
def test_real_redis_round_trip(user, login, real_redis, django_assert_num_queries):
    body, other = login(user), login(user)
    assert me(other["access"]) == (200, None)  # warms
    services.revoke_session(body["session"]["id"], reason="admin")
    with django_assert_num_queries(1):  # the user query, run while the MGET is in flight
        assert me(body["access"]) == (401, "session_revoked")
    services.logout_everywhere(user)
    with django_assert_num_queries(1):
        assert me(other["access"]) == (401, "session_revoked")
    assert real_redis.ttl(markers.session_key(body["session"]["id"])) <= 15 * 60 + 1


def _record_redis(monkeypatch, cache_backend, events):
    """Append "MGET sent" / "reply read" to ``events`` for the check's own commands."""
    connection_class = cache_backend.client.get_client(write=False).connection_pool
    connection_class = connection_class.connection_class
    send, read = connection_class.send_command, connection_class.read_response

    def sending(self, *args, **kwargs):
        events.append(f"{args[0]} sent")
        return send(self, *args, **kwargs)

    def reading(self, *args, **kwargs):
        events.append("reply read")
        return read(self, *args, **kwargs)

    monkeypatch.setattr(connection_class, "send_command", sending)
    monkeypatch.setattr(connection_class, "read_response", reading)


@pytest.mark.redis
def test_the_cache_read_overlaps_the_user_query(user, login, real_redis, monkeypatch):
    from django.db import connection

    body = login(user)
    assert me(body["access"]) == (200, None)  # warms
    events: list[str] = []
    _record_redis(monkeypatch, real_redis, events)

    def query(execute, sql, params, many, context):
        events.append("SQL")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(query):
        assert me(body["access"]) == (200, None)
    # One round trip, its wait spent on the user query instead of added to it.
    assert events == ["MGET sent", "SQL", "reply read"]


@pytest.mark.redis
def test_an_error_before_the_answer_is_read_leaves_no_reply_on_a_pooled_connection(
    user, login, real_redis, settings
):
    # The project maps database errors to a JSON 503 with the package's handler.
    settings.REST_FRAMEWORK = {"EXCEPTION_HANDLER": "django_token_sessions.views.exception_handler"}
    from django.db import OperationalError, connection
    from rest_framework.test import APIClient

    revoked, live = login(user), login(user)
    assert me(live["access"]) == (200, None)  # warms
    services.revoke_session(revoked["session"]["id"], reason="admin")

    def database_down(execute, sql, params, many, context):
        raise OperationalError("server closed the connection unexpectedly")

    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {revoked['access']}")
    with connection.execute_wrapper(database_down):
        response = client.get("/api/me/")
    assert (response.status_code, response.json()["code"]) == (503, "service_unavailable")
    # The revoked token's answer ("revoked") was never read: had its connection gone back
    # to the pool, the next check on it would read that answer as its own.
    for _ in range(3):
        assert me(live["access"]) == (200, None)
        assert me(revoked["access"]) == (401, "session_revoked")


@pytest.mark.redis
def test_real_redis_flushed_mid_run_is_rebuilt(user, login, real_redis):
    body, other = login(user), login(user)
    services.revoke_session(body["session"]["id"], reason="admin")
    real_redis.clear()
    assert me(body["access"]) == (401, "session_revoked")
    assert me(other["access"]) == (200, None)
    assert real_redis.get(markers.session_key(body["session"]["id"])) == 1


@CACHE_BACKENDS
def test_an_outage_costs_one_query_per_request_not_a_rebuild_each_time(
    user, login, django_assert_num_queries, backend
):
    body = login(user)
    with override_settings(
        CACHES=broken_redis(),
        TOKEN_SESSIONS={"REVOCATION_CACHE": "revocation", "REVOCATION_BACKEND": BACKENDS[backend]},
    ):
        assert me(body["access"]) == (200, None)  # this one may try to rebuild
        for _ in range(3):
            with django_assert_num_queries(2):  # the session row + the user, no rebuild
                assert me(body["access"]) == (200, None)


@pytest.mark.cold_revocation_cache
def test_the_rebuild_writes_the_markers_of_the_revocation_records(user, login):
    # What a deleted session row or a deleted user leaves: records, rewritten as markers
    # for a marker lifetime, the latest record of a user claim winning.
    now = timezone.now()
    lifetime = timedelta(seconds=revocation.marker_lifetime())
    recent, old = uuid.uuid4(), uuid.uuid4()
    RevocationRecord.objects.create(session_id=recent, created_at=now - timedelta(seconds=1))
    RevocationRecord.objects.create(
        session_id=old, created_at=now - lifetime - timedelta(seconds=1)
    )
    RevocationRecord.objects.create(
        user_claim="carol", not_before_ms=1_000, created_at=now - timedelta(seconds=2)
    )
    RevocationRecord.objects.create(
        user_claim="carol", not_before_ms=2_000, created_at=now - timedelta(seconds=1)
    )

    assert CacheBackend().rebuild() is True

    assert cache.get(markers.session_key(recent)) == 1
    assert cache.get(markers.session_key(old)) is None
    assert cache.get(markers.user_key("carol")) == {"before": 2_000, "keep": None}


def test_the_periodic_rebuild_rewrites_recent_records(user, login, periodic_resync):
    live = login(user)
    assert me(live["access"]) == (200, None)
    deleted = uuid.uuid4()
    RevocationRecord.objects.create(session_id=deleted)  # its marker write was lost
    last_rebuild = cache.get(markers.READY_KEY)
    cache.set(markers.READY_KEY, last_rebuild - CacheBackend.resync_interval, timeout=None)
    assert me(live["access"]) == (200, None)  # this request runs the periodic rebuild
    assert cache.get(markers.session_key(deleted)) == 1


@pytest.mark.cold_revocation_cache
def test_one_rebuild_at_a_time(user, login):
    store = CacheBackend()
    cache.add(markers.REBUILDING_KEY, 1, timeout=30)  # another process is rebuilding
    assert store.rebuild() is False
    assert markers.READY_KEY not in cache.get_many([markers.READY_KEY])
    cache.delete(markers.REBUILDING_KEY)
    assert store.rebuild() is True


# -- a marker lost while the cache looked healthy ------------------------------------------


def _lose_the_next_writes(monkeypatch):
    """The cache keeps its data but this process's writes fail (a network cut)."""
    store_cache = caches["default"]

    def fail(*args, **kwargs):
        raise ConnectionError("network cut")

    for name in ("set_many", "set", "delete"):
        monkeypatch.setattr(store_cache, name, fail)
    return lambda: [monkeypatch.undo()]


def test_a_process_whose_marker_write_failed_rebuilds_before_trusting_the_cache(
    user, login, monkeypatch
):
    body, other = login(user), login(user)
    assert me(body["access"]) == (200, None)  # warm: the cache is ready
    heal = _lose_the_next_writes(monkeypatch)
    services.revoke_session(body["session"]["id"], reason="admin")  # marker write fails
    heal()
    assert markers.READY_KEY in cache.get_many([markers.READY_KEY])  # still "ready"
    # Refused at once: from the database while this process may not rebuild yet (at most
    # once a second), then by the rebuilt markers, which every process reads.
    assert me(body["access"]) == (401, "session_revoked")
    rebuild_may_run_now()
    assert me(body["access"]) == (401, "session_revoked")
    assert cache.get(markers.session_key(body["session"]["id"])) == 1
    assert get_revocation_backend().failed_since is None
    assert me(other["access"]) == (200, None)


def test_other_processes_see_a_lost_marker_within_the_resync_interval(
    user, login, monkeypatch, periodic_resync
):
    body = login(user)
    assert me(body["access"]) == (200, None)
    heal = _lose_the_next_writes(monkeypatch)
    services.revoke_session(body["session"]["id"], reason="admin")
    heal()
    get_revocation_backend().reset()  # a process that did not see the failure
    rebuild_may_run_now()
    # Until the last rebuild is resync_interval old, that process trusts the cache...
    assert me(body["access"]) == (200, None)
    # ...then the request that finds it older rebuilds the markers first.
    last_rebuild = cache.get(markers.READY_KEY)
    cache.set(markers.READY_KEY, last_rebuild - CacheBackend.resync_interval, timeout=None)
    rebuild_may_run_now()
    assert me(body["access"]) == (401, "session_revoked")
    assert cache.get(markers.READY_KEY) >= last_rebuild


def test_a_fresh_cache_costs_one_round_trip_and_no_rebuild(user, login, cache_calls):
    body = login(user)
    assert me(body["access"]) == (200, None)
    cache_calls.clear()
    for _ in range(3):
        assert me(body["access"]) == (200, None)
    assert cache_calls == ["get_many"] * 3


def test_a_rebuild_by_another_process_after_the_failure_is_trusted(
    user, login, monkeypatch, cache_calls, django_assert_num_queries
):
    body = login(user)
    assert me(body["access"]) == (200, None)
    heal = _lose_the_next_writes(monkeypatch)
    services.revoke_session(body["session"]["id"], reason="admin")
    heal()
    assert get_revocation_backend().failed_since is not None
    # Another worker rebuilds the markers after our failed write...
    cache.set(markers.session_key(body["session"]["id"]), 1)
    cache.set(markers.READY_KEY, get_revocation_backend().failed_since + 0.001, timeout=None)
    cache_calls.clear()
    # ...so this worker trusts the cache again at once: no database, no rebuild of its own.
    with django_assert_num_queries(1):  # the user query only: no fallback, no rebuild
        assert me(body["access"]) == (401, "session_revoked")
    assert cache_calls == ["get_many"]
    assert get_revocation_backend().failed_since is None


def test_the_periodic_rebuild_rewrites_only_recent_revocations(user, login, periodic_resync):
    old, recent, live = login(user), login(user), login(user)
    assert me(live["access"]) == (200, None)  # warm
    now = timezone.now()
    DeviceSession.objects.filter(pk=old["session"]["id"]).update(
        revoked_at=now - timedelta(minutes=10), revoke_reason="admin"
    )
    DeviceSession.objects.filter(pk=recent["session"]["id"]).update(
        revoked_at=now - timedelta(seconds=CacheBackend.resync_margin / 2), revoke_reason="admin"
    )  # both revoked without their markers, as if the writes were lost
    last_rebuild = cache.get(markers.READY_KEY)
    cache.set(markers.READY_KEY, last_rebuild - CacheBackend.resync_interval, timeout=None)
    rebuild_may_run_now()  # a second later
    assert me(live["access"]) == (200, None)  # this request runs the periodic rebuild
    assert cache.get(markers.session_key(recent["session"]["id"])) == 1
    # Older than the previous rebuild minus the margin: a full rebuild's business, not this one.
    assert cache.get(markers.session_key(old["session"]["id"])) is None
    assert cache.get(markers.READY_KEY) >= last_rebuild


def test_a_rebuild_that_fails_half_way_releases_its_lock(user, login, monkeypatch):
    store = CacheBackend()

    def fail(*args, **kwargs):
        raise ConnectionError("network cut")

    monkeypatch.setattr(caches["default"], "set", fail)
    assert store.rebuild() is False
    assert cache.get(markers.REBUILDING_KEY) is None
    monkeypatch.undo()
    cache.add(markers.REBUILDING_KEY, 1, timeout=30)  # another process's lock...
    assert store.rebuild() is False
    assert cache.get(markers.REBUILDING_KEY) == 1  # ...is left alone


def test_a_rolled_back_revocation_leaves_the_session_alive(user, login):
    body = login(user)

    def revoke_then_fail():
        with transaction.atomic():
            services.logout_everywhere(user)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        revoke_then_fail()
    assert bearer(body["access"]).get("/api/me/").status_code == 200
    assert DeviceSession.objects.get().revoked_at is None
