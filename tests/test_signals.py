"""The signals of ``django_token_sessions.signals``: who sends each, with which arguments,
and only after the change commits.

Every signal is sent by the services; these tests trigger them through HTTP as clients
do (the services called directly: tests/test_services.py). The receivers that log a user
out on a password change, a deactivation or a change of the user id claim are in
tests/test_receivers.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from django_token_sessions import services, signals
from django_token_sessions.models import DeviceSession
from django_token_sessions.revocation import cache as markers
from tests.support.clients import bearer, refresh
from tests.support.signals import catch_signal

pytestmark = pytest.mark.django_db


def me(access):
    return bearer(access).get("/api/me/").status_code


def me_code(access):
    response = bearer(access).get("/api/me/")
    return response.status_code, response.json().get("code")


def test_session_created(user, login):
    with catch_signal(signals.session_created) as sent:
        body = login(user)
    assert len(sent) == 1
    assert sent[0]["sender"] is DeviceSession
    assert str(sent[0]["session"].pk) == body["session"]["id"]
    assert sent[0]["user"] == user


def test_session_rotated_but_not_for_a_grace_answer(user, login):
    body = login(user)
    with catch_signal(signals.session_rotated) as sent:
        refresh(body["refresh"])
        refresh(body["refresh"])  # second tab inside the grace window: nothing rotates
    assert len(sent) == 1
    assert str(sent[0]["session_id"]) == body["session"]["id"]
    assert str(sent[0]["user_id"]) == str(user.pk)


def test_session_revoked_on_logout_and_device_revoke(user, login):
    one, two = login(user), login(user)
    with catch_signal(signals.session_revoked) as sent:
        bearer(one["access"]).delete(f"/api/auth/sessions/{two['session']['id']}/")
        bearer(one["access"]).post("/api/auth/logout/")
    assert [(s["reason"], [str(i) for i in s["session_ids"]]) for s in sent] == [
        ("user_revoked_device", [two["session"]["id"]]),
        ("logout", [one["session"]["id"]]),
    ]


def test_bulk_revocation_sends_one_signal_carrying_the_sessions(user):
    ids = {services.create_session(user).session_id for _ in range(5)}
    with catch_signal(signals.session_revoked) as sent:
        assert services.revoke_sessions(DeviceSession.objects.all(), "admin") == 5
    assert len(sent) == 1
    assert set(sent[0]["session_ids"]) == ids
    assert sent[0]["reason"] == "admin"


def test_refresh_token_reused(user, login):
    body = login(user)
    refresh(body["refresh"])
    DeviceSession.objects.update(rotated_at=timezone.now() - timedelta(minutes=1))
    with (
        catch_signal(signals.refresh_token_reused) as reused,
        catch_signal(signals.session_revoked) as revoked,
    ):
        assert refresh(body["refresh"]).json()["code"] == "token_reused"
        assert refresh(body["refresh"]).json()["code"] == "session_revoked"  # no 2nd alert
    assert len(reused) == 1
    assert str(reused[0]["session_id"]) == body["session"]["id"]
    assert reused[0]["jti"]
    assert [s["reason"] for s in revoked] == ["reuse_detected"]


@pytest.mark.parametrize(
    ("scope", "reason", "count"), [("all", "logout_all", 3), ("others", "logout_others", 2)]
)
def test_user_logged_out_everywhere(user, login, scope, reason, count):
    bodies = [login(user) for _ in range(3)]
    with catch_signal(signals.user_logged_out_everywhere) as sent:
        bearer(bodies[0]["access"]).post("/api/auth/logout-all/", {"scope": scope}, format="json")
    assert len(sent) == 1
    assert (sent[0]["user"], sent[0]["reason"], sent[0]["count"]) == (user, reason, count)
    kept = sent[0]["kept_session_id"]
    assert (str(kept) if kept else None) == (
        bodies[0]["session"]["id"] if scope == "others" else None
    )


def test_signals_wait_for_commit(user):
    def revoke_then_fail():
        with transaction.atomic():
            services.create_session(user)
            services.logout_everywhere(user)
            raise RuntimeError("rolled back")

    with (
        catch_signal(signals.session_created) as created,
        catch_signal(signals.user_logged_out_everywhere) as everywhere,
        pytest.raises(RuntimeError),
    ):
        revoke_then_fail()
    assert created == []
    assert everywhere == []


def test_a_failing_receiver_does_not_break_logout(user, login, caplog):
    body = login(user)

    def broken(**kwargs):
        raise RuntimeError("mail server down")

    signals.session_revoked.connect(broken)
    try:
        with caplog.at_level(logging.ERROR, logger="django_token_sessions"):
            response = bearer(body["access"]).post("/api/auth/logout/")
    finally:
        signals.session_revoked.disconnect(broken)
    assert response.status_code == 204
    assert DeviceSession.objects.get().revoke_reason == "logout"
    assert any("receiver" in r.getMessage() for r in caplog.records)


@override_settings(TOKEN_SESSIONS={"MAX_SESSIONS_PER_USER": 2})
def test_session_cap_eviction_signals_and_ends_the_evicted_access_token(user, login):
    first, second = login(user), login(user)
    with catch_signal(signals.session_revoked) as sent:
        third = login(user)
    assert [(s["reason"], [str(i) for i in s["session_ids"]]) for s in sent] == [
        ("session_limit", [first["session"]["id"]])
    ]
    assert cache.get(markers.session_key(first["session"]["id"])) == 1
    assert me_code(first["access"]) == (401, "session_revoked")
    assert me(second["access"]) == me(third["access"]) == 200
