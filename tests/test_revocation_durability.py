"""What ends a session survives the loss of the revocation cache (security finding 10).

A Redis flush, or a restart without persistence, empties the cache: the first request
after it is answered from the database, which then rebuilds the markers; the requests
after that are answered by the rebuilt cache alone. So each way a session ends must leave
something in the database the rebuild can read: the revoked row, or, where no row is left
(a deleted session row, a deleted user), a ``RevocationRecord``. Each scenario below is
checked on the 1st request after the loss (the database fallback) and on the 2nd and 3rd
(the rebuilt cache: where the bug was). The probe is an authenticated ``GET sessions/``.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache, caches
from django.db import transaction
from django.test import TestCase, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from django_token_sessions import revocation, services
from django_token_sessions.conf import app_settings
from django_token_sessions.models import DeviceSession, RevocationRecord
from django_token_sessions.revocation import cache as markers
from tests.conftest import require_service
from tests.support.backends import BACKENDS, rebuild_may_run_now
from tests.support.clients import PASSWORD, bearer

pytestmark = pytest.mark.django_db

#: The user id claim is the username: a deleted user's name can be taken by a newcomer.
BY_USERNAME = {"USER_ID_FIELD": "username", "USER_ID_CLAIM": "user_id"}


def login(user: Any) -> dict[str, Any]:
    response = APIClient().post(
        "/api/auth/login/",
        {"username": user.get_username(), "password": PASSWORD},
        format="json",
        HTTP_X_TOKEN_TRANSPORT="body",
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


def probe(access: str) -> tuple[int, str | None]:
    """(status, error code) of an authenticated request."""
    response = bearer(access).get("/api/auth/sessions/")
    body = response.json()
    return response.status_code, body.get("code") if isinstance(body, dict) else None


def store_cache() -> Any:
    return caches[app_settings.REVOCATION_CACHE]


def is_ready() -> bool:
    return markers.READY_KEY in store_cache().get_many([markers.READY_KEY])


def lose_the_cache() -> None:
    """What a Redis flush does: no markers, no readiness key. A second later, as far as
    this process's rebuild rate limit is concerned."""
    store_cache().clear()
    rebuild_may_run_now()


def assert_refused_after_the_loss(access: str, lose: Callable[[], None] = lose_the_cache) -> None:
    assert probe(access) == (401, "session_revoked")  # the cache answers, before the loss
    lose()
    assert not is_ready()
    # 1st: the cache is not trusted, the database answers and the markers are rebuilt...
    assert probe(access) == (401, "session_revoked")
    assert is_ready()
    # ...2nd and 3rd: the rebuilt cache answers.
    assert probe(access) == (401, "session_revoked")
    assert probe(access) == (401, "session_revoked")


@contextlib.contextmanager
def committed() -> Iterator[None]:
    """Run the block's ``on_commit`` callbacks at its end, as the commit of its own
    transaction would (the test's transaction never commits)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield


def warm(access: str) -> None:
    """A request that finds the cache ready (rebuilding it first if needed)."""
    assert probe(access) == (200, None)
    assert is_ready()


# -- the ways a session ends ----------------------------------------------------------------


@pytest.fixture(params=["flush", pytest.param("redis restart", marks=pytest.mark.redis)])
def lose(request: pytest.FixtureRequest) -> Callable[[], None]:
    """How the cache loses its data: ``cache.clear()``, or a real Redis restarted without
    persistence (the ``redis`` tox env)."""
    if request.param == "flush":
        return lose_the_cache
    server = request.getfixturevalue("restartable_redis")

    def restart() -> None:
        server.stop()  # SHUTDOWN NOSAVE: every key is gone
        server.start()
        assert server.stored_keys() == set()
        rebuild_may_run_now()

    return restart


def test_a_revoked_device_stays_refused(make_user, lose):
    alice = make_user("alice")
    this, lost = login(alice), login(alice)
    warm(this["access"])
    response = bearer(this["access"]).delete(f"/api/auth/sessions/{lost['session']['id']}/")
    assert response.status_code == 204
    assert_refused_after_the_loss(lost["access"], lose)
    assert probe(this["access"]) == (200, None)


def test_a_logged_out_everywhere_user_stays_refused(make_user, lose):
    alice = make_user("alice")
    devices = [login(alice) for _ in range(3)]
    warm(devices[0]["access"])
    response = bearer(devices[0]["access"]).post("/api/auth/logout-all/", {}, format="json")
    assert response.status_code == 204
    assert_refused_after_the_loss(devices[1]["access"], lose)
    for device in devices:
        assert probe(device["access"]) == (401, "session_revoked")
    assert probe(login(alice)["access"]) == (200, None)  # a login after it is not refused


def test_a_deactivated_user_stays_refused(make_user, lose):
    alice = make_user("alice")
    device = login(alice)
    warm(device["access"])
    alice.is_active = False
    alice.save()
    assert_refused_after_the_loss(device["access"], lose)


def test_a_session_row_deleted_while_live_stays_refused(make_user):
    alice = make_user("alice")
    this, deleted = login(alice), login(alice)
    warm(this["access"])
    with committed():
        DeviceSession.objects.filter(pk=deleted["session"]["id"]).delete()
    assert_refused_after_the_loss(deleted["access"])
    assert probe(this["access"]) == (200, None)


def test_a_session_row_deleted_in_the_admin_stays_refused(make_user, admin_client):
    alice = make_user("alice")
    this, deleted = login(alice), login(alice)
    warm(this["access"])
    url = f"/admin/token_sessions/devicesession/{deleted['session']['id']}/delete/"
    with committed():
        assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not DeviceSession.objects.filter(pk=deleted["session"]["id"]).exists()
    assert_refused_after_the_loss(deleted["access"])
    assert probe(this["access"]) == (200, None)


def test_rows_deleted_after_a_logout_everywhere_stay_refused(make_user):
    # Revoked, then cleaned up long before the purge would: no revoked row is left to
    # rebuild the markers from.
    alice = make_user("alice")
    devices = [login(alice) for _ in range(2)]
    warm(devices[0]["access"])
    services.logout_everywhere(alice)
    with committed():
        alice.device_sessions.all().delete()
    assert_refused_after_the_loss(devices[1]["access"])
    assert probe(login(alice)["access"]) == (200, None)


@override_settings(SIMPLE_JWT=BY_USERNAME)
@pytest.mark.parametrize("username", ["carol", "carol smith"])
def test_a_deleted_users_token_never_authenticates_a_newcomer_after_a_flush(make_user, username):
    # "carol smith": a claim that is no valid cache key as is; the rebuild writes the
    # record's marker under the key the check reads (markers.user_key).
    old = login(make_user(username))
    warm(old["access"])
    with committed():
        get_user_model().objects.get(username=username).delete()
    newcomer = make_user(username)  # someone else signs up with the freed username
    assert_refused_after_the_loss(old["access"])
    assert probe(login(newcomer)["access"]) == (200, None)
    assert probe(old["access"]) == (401, "session_revoked")


@override_settings(SIMPLE_JWT=BY_USERNAME)
def test_a_renamed_users_token_never_authenticates_the_next_holder_after_a_flush(make_user):
    carol = make_user("carol")
    old = login(carol)
    warm(old["access"])
    with committed():
        carol.username = "carol2"
        carol.save()
    newcomer = make_user("carol")  # someone else signs up with the freed username
    # The failure this guards against: the old token answers 200 as the newcomer.
    assert_refused_after_the_loss(old["access"])
    assert probe(login(newcomer)["access"]) == (200, None)
    assert probe(login(carol)["access"]) == (200, None)
    assert probe(old["access"]) == (401, "session_revoked")
    (record,) = RevocationRecord.objects.all()
    assert (record.session_id, record.user_claim) == (None, "carol")


@override_settings(SIMPLE_JWT=BY_USERNAME)
def test_a_renamed_users_token_stays_refused_when_its_rows_are_gone(make_user):
    # The record alone refuses the old name's tokens after a flush: the revoked rows that
    # would rebuild the sessions' markers were cleaned up.
    carol = make_user("carol")
    old = login(carol)
    warm(old["access"])
    with committed():
        carol.username = "carol2"
        carol.save()
    DeviceSession.objects.filter(user=carol)._raw_delete(DeviceSession.objects.db)
    make_user("carol")
    assert_refused_after_the_loss(old["access"])


# -- what is recorded, and when -------------------------------------------------------------


def test_deleting_sessions_records_those_whose_tokens_may_still_be_presented(
    make_user, cache_calls
):
    alice = make_user("alice")
    ids = [services.create_session(alice).session_id for _ in range(5)]
    live, revoked_lately, expired_lately, revoked_long_ago, expired_long_ago = ids
    now = timezone.now()
    long_ago = now - timedelta(seconds=revocation.marker_lifetime() + 60)
    lately = now - timedelta(seconds=60)
    DeviceSession.objects.filter(pk=revoked_lately).update(revoked_at=lately)
    DeviceSession.objects.filter(pk=expired_lately).update(idle_expires_at=lately)
    DeviceSession.objects.filter(pk=revoked_long_ago).update(revoked_at=long_ago)
    DeviceSession.objects.filter(pk=expired_long_ago).update(idle_expires_at=long_ago)
    cache_calls.clear()

    with committed():
        assert DeviceSession.objects.filter(user=alice).delete() == (
            5,
            {DeviceSession._meta.label: 5},
        )

    recorded = set(RevocationRecord.objects.values_list("session_id", flat=True))
    assert recorded == {live, revoked_lately, expired_lately}
    # The sessions that were not revoked get their marker now; a revoked one has had its
    # own since its revocation (none here: revoked by a bare update).
    assert cache_calls == ["set_many"]
    assert cache.get(markers.session_key(live)) == 1
    assert cache.get(markers.session_key(expired_lately)) == 1
    assert cache.get(markers.session_key(revoked_lately)) is None


def test_a_session_deleted_by_itself_is_recorded_too(make_user):
    session = services.create_session(make_user("alice")).session
    assert session is not None
    session_id = session.pk
    with committed():
        session.delete()
    assert list(RevocationRecord.objects.values_list("session_id", flat=True)) == [session_id]
    assert cache.get(markers.session_key(session_id)) == 1


def test_a_delete_django_refuses_is_still_refused(make_user):
    services.create_session(make_user("alice"))
    with pytest.raises(TypeError, match="limit"):
        DeviceSession.objects.all()[:1].delete()
    with pytest.raises(TypeError, match="values"):
        DeviceSession.objects.values("pk").delete()
    assert DeviceSession.objects.count() == 1
    assert not RevocationRecord.objects.exists()


def test_deleting_a_user_writes_one_record_whatever_their_sessions(make_user):
    alice = make_user("alice")
    user_id = alice.pk
    for _ in range(3):
        services.create_session(alice)
    with committed():
        alice.delete()
    (record,) = RevocationRecord.objects.all()
    assert (record.session_id, record.user_claim) == (None, str(user_id))
    # The live marker and the record carry the same time: a rebuild writes the same marker.
    assert cache.get(markers.user_key(user_id)) == {
        "before": record.not_before_ms,
        "keep": None,
    }


def test_a_rolled_back_deletion_leaves_no_record_and_no_marker(make_user, cache_calls):
    alice = make_user("alice")
    session = services.create_session(alice).session_id
    cache_calls.clear()

    def delete_then_fail() -> None:
        with transaction.atomic():
            DeviceSession.objects.filter(pk=session).delete()
            alice.delete()
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        delete_then_fail()
    assert not RevocationRecord.objects.exists()
    assert cache_calls == []
    assert DeviceSession.objects.filter(pk=session).exists()


def test_logins_refreshes_and_requests_write_no_record(make_user):
    alice = make_user("alice")
    body = login(alice)
    assert probe(body["access"]) == (200, None)
    response = APIClient().post("/api/auth/refresh/", {"refresh": body["refresh"]}, format="json")
    assert response.status_code == 200
    assert not RevocationRecord.objects.exists()


# -- a real Redis restarted without persistence --------------------------------------------


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[Any]:
    """A redis-server of this test's own on a free port (never the shared one), as the
    revocation cache."""
    from tests.support.faults import RedisServer

    for module in ("django_redis", "redis"):
        try:
            __import__(module)
        except ImportError:
            require_service(False, f"needs {module} (pip install '.[redis]')")
    require_service(
        shutil.which("redis-server") is not None or Path("/usr/bin/redis-server").exists(),
        "needs redis-server (apt-get install redis-server) to stop and start a Redis",
    )
    server = RedisServer(tmp_path)
    caches_setting = {
        "default": {"BACKEND": "tests.support.counting_cache.CountingLocMemCache"},
        "revocation": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        },
    }
    try:
        server.start()
        with override_settings(
            CACHES=caches_setting,
            TOKEN_SESSIONS={
                "REVOCATION_CACHE": "revocation",
                "REVOCATION_BACKEND": BACKENDS["redis"],
            },
        ):
            yield server
            caches["revocation"].close()
    finally:
        server.kill()


@pytest.mark.redis
@override_settings(SIMPLE_JWT=BY_USERNAME)
def test_a_deleted_users_token_never_authenticates_a_newcomer_after_a_redis_restart(
    make_user, restartable_redis
):
    old = login(make_user("carol"))
    warm(old["access"])
    with committed():
        get_user_model().objects.get(username="carol").delete()
    newcomer = make_user("carol")

    def restart() -> None:
        restartable_redis.stop()  # SHUTDOWN NOSAVE: every key is gone
        restartable_redis.start()
        assert restartable_redis.stored_keys() == set()
        rebuild_may_run_now()

    assert_refused_after_the_loss(old["access"], restart)
    assert probe(login(newcomer)["access"]) == (200, None)
    assert probe(old["access"]) == (401, "session_revoked")


@pytest.mark.redis
def test_a_session_row_deleted_while_live_stays_refused_after_a_redis_restart(
    make_user, restartable_redis
):
    alice = make_user("alice")
    this, deleted = login(alice), login(alice)
    warm(this["access"])
    with committed():
        DeviceSession.objects.filter(pk=deleted["session"]["id"]).delete()

    def restart() -> None:
        restartable_redis.stop()
        restartable_redis.start()
        rebuild_may_run_now()

    assert_refused_after_the_loss(deleted["access"], restart)
    assert probe(this["access"]) == (200, None)
