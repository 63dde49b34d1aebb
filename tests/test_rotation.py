"""Refresh-token rotation, the grace window and reuse detection, through HTTP."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.manager import BaseManager
from django.test import override_settings
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from django_token_sessions.models import DeviceSession
from django_token_sessions.revocation import cache as markers
from django_token_sessions.tokens import decode_access, decode_refresh
from tests.support.backends import BACKENDS
from tests.support.clients import bearer, refresh

pytestmark = pytest.mark.django_db

NO_GRACE = override_settings(TOKEN_SESSIONS={"ROTATION_GRACE_PERIOD": 0})


def test_refresh_rotates_and_swaps_the_session_jti(user, login):
    body = login(user)
    old = decode_refresh(body["refresh"])

    response = refresh(body["refresh"])

    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"access", "refresh", "access_expires_at"}
    new = decode_refresh(data["refresh"])
    assert new.jti != old.jti
    assert new.session_id == old.session_id
    assert decode_access(data["access"]).session_id == old.session_id
    session = DeviceSession.objects.get(pk=old.session_id)
    assert (session.refresh_jti, session.previous_jti) == (new.jti, old.jti)
    assert session.rotated_at is not None
    assert bearer(data["access"]).get("/api/me/").status_code == 200


def test_two_tabs_refreshing_with_one_token_converge_inside_grace(user, login):
    body = login(user)
    first = refresh(body["refresh"]).json()
    second = refresh(body["refresh"])  # the other tab, a moment later

    assert second.status_code == 200
    # Both hold the session's one current refresh token: no fork of the chain.
    current = DeviceSession.objects.get().refresh_jti
    assert decode_refresh(first["refresh"]).jti == current
    assert decode_refresh(second.json()["refresh"]).jti == current
    assert DeviceSession.objects.get().revoked_at is None
    # And the converged token keeps working for the next rotation.
    assert refresh(second.json()["refresh"]).status_code == 200


def test_replayed_token_after_grace_revokes_the_session(user, login):
    body = login(user)
    rotated = refresh(body["refresh"]).json()
    DeviceSession.objects.update(rotated_at=timezone.now() - timedelta(seconds=11))

    replay = refresh(body["refresh"])

    assert replay.status_code == 401
    assert replay.json() == {
        "detail": "Refresh token was already used; the session has been revoked.",
        "code": "token_reused",
    }
    session = DeviceSession.objects.get()
    assert session.revoke_reason == "reuse_detected"
    assert session.revoked_at is not None
    # The thief's chain and the victim's chain are both dead, access tokens included: by
    # the session's revocation marker, which is what every worker reads.
    assert refresh(rotated["refresh"]).json()["code"] == "session_revoked"
    assert cache.get(markers.session_key(session.pk)) == 1
    me = bearer(rotated["access"]).get("/api/me/")
    assert me.status_code == 401
    assert me.json()["code"] == "session_revoked"


@NO_GRACE
def test_without_grace_an_immediate_replay_is_reuse(user, login):
    body = login(user)
    assert refresh(body["refresh"]).status_code == 200
    assert refresh(body["refresh"]).json()["code"] == "token_reused"


def test_an_older_token_in_the_chain_is_reuse_even_inside_grace(user, login):
    body = login(user)
    second = refresh(body["refresh"]).json()
    DeviceSession.objects.update(rotated_at=timezone.now() - timedelta(seconds=30))
    assert refresh(second["refresh"]).status_code == 200  # rotates again, just now

    # The first token is two rotations old: never accepted, whatever the window.
    assert refresh(body["refresh"]).json()["code"] == "token_reused"
    # The session ends, its access tokens with it.
    assert cache.get(markers.session_key(body["session"]["id"])) == 1
    me = bearer(second["access"]).get("/api/me/")
    assert (me.status_code, me.json()["code"]) == (401, "session_revoked")


def test_successful_refresh_is_one_query(user, login, django_assert_num_queries, cache_calls):
    body = login(user)
    cache_calls.clear()
    with django_assert_num_queries(1):
        assert refresh(body["refresh"]).status_code == 200
    assert cache_calls == []


@override_settings(
    SIMPLE_JWT={"USER_AUTHENTICATION_RULE": "tests.test_rotation.staff_or_active_rule"}
)
def test_custom_user_rule_costs_at_most_two_queries(user, login, django_assert_max_num_queries):
    body = login(user)
    with django_assert_max_num_queries(2):
        assert refresh(body["refresh"]).status_code == 200


def staff_or_active_rule(user):
    return user is not None and (user.is_active or user.is_staff)


def test_a_user_id_field_other_than_the_pk_rotates_in_one_query(
    user, make_user, login, settings, django_assert_num_queries
):
    settings.SIMPLE_JWT = {"USER_ID_FIELD": "username"}
    body, other = login(user), login(make_user("bob"))
    with django_assert_num_queries(1):
        assert refresh(body["refresh"]).status_code == 200
    # The claim is matched against the named column: bob's claim on alice's session fails.
    session = DeviceSession.objects.get(user=user)
    forged = decode_refresh(other["refresh"])
    forged["sid"], forged["jti"] = str(session.pk), session.refresh_jti
    assert _refresh_code(str(forged)) == (401, "token_invalid")
    assert DeviceSession.objects.get(user=user).refresh_jti == session.refresh_jti


def test_check_user_is_active_off_lets_an_inactive_user_refresh(user, login, settings):
    settings.SIMPLE_JWT = {"CHECK_USER_IS_ACTIVE": False}
    body = login(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert refresh(body["refresh"]).status_code == 200


def test_a_default_user_manager_that_filters_decides_who_may_refresh(
    user, make_user, login, monkeypatch, django_assert_num_queries
):
    # A project whose default manager hides some users (soft deletion, say): the rotation
    # asks that manager, as simplejwt's rule would, instead of reading the table itself.
    alice, bob = login(user), login(make_user("bob"))
    manager = type(get_user_model()._default_manager)
    monkeypatch.setattr(
        manager, "get_queryset", lambda self: BaseManager.get_queryset(self).exclude(pk=user.pk)
    )
    before = DeviceSession.objects.get(user=user).refresh_jti
    assert _refresh_code(alice["refresh"]) == (401, "user_not_found")
    assert DeviceSession.objects.get(user=user).refresh_jti == before
    with django_assert_num_queries(2):  # the manager's user query, then the UPDATE
        assert refresh(bob["refresh"]).status_code == 200


@override_settings(SIMPLE_JWT={"USER_AUTHENTICATION_RULE": "tests.test_rotation.nobody_rule"})
def test_custom_user_rule_refusal_is_user_inactive(user, login):
    body = login(user)
    assert refresh(body["refresh"]).json()["code"] == "user_inactive"


def nobody_rule(user):
    return False


def test_authenticated_request_is_the_user_query_and_one_cache_round_trip(
    user, login, django_assert_num_queries, cache_calls
):
    client = bearer(login(user)["access"])
    assert client.get("/api/me/").status_code == 200
    cache_calls.clear()
    with django_assert_num_queries(1):  # simplejwt's user query; no revocation query
        assert client.get("/api/me/").status_code == 200
    assert cache_calls == ["get_many"]


@override_settings(TOKEN_SESSIONS={"REVOCATION_BACKEND": BACKENDS["db"]})
def test_db_revocation_check_is_one_query(user, login, django_assert_num_queries, cache_calls):
    client = bearer(login(user)["access"])
    cache_calls.clear()
    with django_assert_num_queries(1):  # the user query, with the session check folded in
        assert client.get("/api/me/").status_code == 200
    assert cache_calls == []


# -- refusals ---------------------------------------------------------------------------


def _refresh_code(raw):
    response = refresh(raw)
    assert response.status_code in (400, 401), response.content
    return response.status_code, response.json()["code"]


def test_revoked_session(user, login):
    body = login(user)
    DeviceSession.objects.update(revoked_at=timezone.now(), revoke_reason="admin")
    assert _refresh_code(body["refresh"]) == (401, "session_revoked")


def test_idle_expired_session(user, login):
    body = login(user)
    DeviceSession.objects.update(idle_expires_at=timezone.now() - timedelta(seconds=1))
    assert _refresh_code(body["refresh"]) == (401, "session_expired")


def test_absolute_expiry_ends_a_session_that_keeps_refreshing(user, login):
    body = login(user)
    DeviceSession.objects.update(absolute_expires_at=timezone.now() - timedelta(seconds=1))
    assert _refresh_code(body["refresh"]) == (401, "session_expired")


@override_settings(TOKEN_SESSIONS={"SESSION_ABSOLUTE_LIFETIME": timedelta(hours=1)})
def test_tokens_never_outlive_the_absolute_expiry(user, login):
    body = login(user)
    session = DeviceSession.objects.get()
    token = decode_refresh(body["refresh"])
    assert token.expires_at <= session.absolute_expires_at
    rotated = decode_refresh(refresh(body["refresh"]).json()["refresh"])
    assert rotated.expires_at <= session.absolute_expires_at


def test_user_deactivated_without_signals_is_refused(user, login):
    # QuerySet.update() bypasses the deactivation trigger: the rotation's own check on
    # is_active still refuses the refresh, and the access token is refused too.
    body = login(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert _refresh_code(body["refresh"]) == (401, "user_inactive")
    assert bearer(body["access"]).get("/api/me/").json()["code"] == "user_inactive"
    assert DeviceSession.objects.get().revoked_at is None  # refused, not changed


def test_deleted_user(user, login):
    body = login(user)
    user.delete()
    assert not DeviceSession.objects.exists()  # cascades
    assert _refresh_code(body["refresh"]) == (401, "user_not_found")


def test_deleted_session(user, login):
    body = login(user)
    DeviceSession.objects.all().delete()
    assert _refresh_code(body["refresh"]) == (401, "session_not_found")


def test_expired_refresh_token(user, login):
    body = login(user)
    payload = jwt.decode(body["refresh"], options={"verify_signature": False})
    payload["exp"] = int(timezone.now().timestamp()) - 10
    from django.conf import settings

    expired = jwt.encode(payload, settings.SECRET_KEY, algorithm="HS256")
    assert _refresh_code(expired) == (401, "token_expired")


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(
            lambda t, k: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), id="sig"
        ),
        pytest.param(lambda t, k: "not-a-jwt", id="garbage"),
        pytest.param(lambda t, k: "a.b.c", id="three-parts"),
        pytest.param(lambda t, k: "é" * 20, id="non-ascii"),
        pytest.param(lambda t, k: "x" * 8000, id="long"),
        pytest.param(
            lambda t, k: jwt.encode(
                jwt.decode(t, options={"verify_signature": False}), "other-key" * 4, "HS256"
            ),
            id="foreign-key",
        ),
        pytest.param(
            lambda t, k: jwt.encode(
                {**jwt.decode(t, options={"verify_signature": False}), "sid": "nope"}, k, "HS256"
            ),
            id="bad-sid",
        ),
        pytest.param(
            lambda t, k: jwt.encode(
                {
                    key: v
                    for key, v in jwt.decode(t, options={"verify_signature": False}).items()
                    if key != "sid"
                },
                k,
                "HS256",
            ),
            id="no-sid",
        ),
        pytest.param(
            lambda t, k: jwt.encode(
                {**jwt.decode(t, options={"verify_signature": False}), "alg": "none"},
                None,
                "none",
            ),
            id="alg-none",
        ),
    ],
)
def test_bad_refresh_tokens_are_token_invalid(
    user, login, mutate, settings, without_legacy_exchange
):
    body = login(user)
    bad = mutate(body["refresh"], settings.SECRET_KEY)
    assert _refresh_code(bad) == (401, "token_invalid")
    assert DeviceSession.objects.get().revoked_at is None


def test_access_token_used_as_refresh_token(user, login):
    body = login(user)
    assert _refresh_code(body["access"]) == (401, "token_invalid")


def test_plain_simplejwt_refresh_token_is_refused(user, without_legacy_exchange):
    assert _refresh_code(str(RefreshToken.for_user(user))) == (401, "token_invalid")


def test_plain_simplejwt_access_token_is_refused(user):
    response = bearer(str(RefreshToken.for_user(user).access_token)).get("/api/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_refresh_token_used_as_access_token(user, login):
    response = bearer(login(user)["refresh"]).get("/api/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


@pytest.mark.parametrize(
    "payload",
    [{}, {"refresh": ""}, {"refresh": 12}, {"refresh": None}, [], "x", {"refresh": ["a"]}],
)
def test_malformed_refresh_bodies_are_4xx_json(db, payload):
    from rest_framework.test import APIClient

    response = APIClient().post("/api/auth/refresh/", payload, format="json")
    assert response.status_code in (400, 401)
    assert response.json()["code"] in {"invalid_request", "token_invalid"}


def test_non_json_refresh_body(db):
    from rest_framework.test import APIClient

    response = APIClient().post("/api/auth/refresh/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_reuse_revocation_survives_atomic_requests(user, login, monkeypatch):
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    body = login(user)
    refresh(body["refresh"])
    DeviceSession.objects.update(rotated_at=timezone.now() - timedelta(seconds=11))

    assert refresh(body["refresh"]).json()["code"] == "token_reused"
    assert DeviceSession.objects.get().revoke_reason == "reuse_detected"
