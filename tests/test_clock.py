"""Time: token and session expiries, the grace window's edges and clock skew, through HTTP.

The clock is frozen with time-machine and moved by hand. It moves everything that reads
the time: ``timezone.now()`` (the timestamps the database stores), PyJWT's and simplejwt's
expiry checks, and ``time.time()`` (the revocation markers' expiry in the LocMem cache).
Defaults unless a test says otherwise: access tokens 15 minutes, refresh tokens and the
idle expiry 7 days, the absolute expiry 30 days, a 10 s grace window, no leeway.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
import time_machine
from django.test import override_settings
from rest_framework.test import APIClient

from django_token_sessions.models import DeviceSession
from tests.support.clients import bearer, refresh

pytestmark = pytest.mark.django_db

#: A whole second, so ``exp`` (whole seconds) is exactly start + lifetime.
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc)
ACCESS = timedelta(minutes=15)
REFRESH = timedelta(days=7)
ABSOLUTE = timedelta(days=30)
GRACE = timedelta(seconds=10)
EPSILON = timedelta(milliseconds=1)
SECOND = timedelta(seconds=1)


class Clock:
    """Frozen time, moved to ``START + offset`` by :meth:`at`."""

    def __init__(self, traveller: Any) -> None:
        self._traveller = traveller

    def at(self, offset: timedelta) -> None:
        self._traveller.move_to(START + offset)


@pytest.fixture
def clock() -> Iterator[Clock]:
    with time_machine.travel(START, tick=False) as traveller:
        yield Clock(traveller)


def code(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    return response.status_code, body["code"]


def claims(raw: str) -> dict[str, Any]:
    return dict(jwt.decode(raw, options={"verify_signature": False}))


def epoch(offset: timedelta) -> int:
    return int((START + offset).timestamp())


def logout(raw: str) -> Any:
    return APIClient().post("/api/auth/logout/", {"refresh": raw}, format="json")


# -- access tokens ---------------------------------------------------------------------------


def test_access_token_is_valid_until_its_lifetime_and_refused_after(clock, user, login):
    tokens = login(user)
    assert claims(tokens["access"])["exp"] == epoch(ACCESS)

    clock.at(ACCESS - SECOND)
    assert bearer(tokens["access"]).get("/api/me/").status_code == 200
    clock.at(ACCESS)  # exp itself is already past: "exp <= now" is expired
    assert code(bearer(tokens["access"]).get("/api/me/")) == (401, "token_expired")
    clock.at(ACCESS + SECOND)
    assert code(bearer(tokens["access"]).get("/api/me/")) == (401, "token_expired")
    # Only the access token ended: the session refreshes into a working one.
    fresh = refresh(tokens["refresh"]).json()
    assert bearer(fresh["access"]).get("/api/me/").status_code == 200


@override_settings(SIMPLE_JWT={"LEEWAY": 30})
def test_leeway_accepts_an_access_token_a_few_seconds_past_exp(clock, user, login):
    tokens = login(user)
    clock.at(ACCESS + timedelta(seconds=29))
    assert bearer(tokens["access"]).get("/api/me/").status_code == 200
    clock.at(ACCESS + timedelta(seconds=30))
    assert code(bearer(tokens["access"]).get("/api/me/")) == (401, "token_expired")
    clock.at(ACCESS + timedelta(seconds=31))
    assert code(bearer(tokens["access"]).get("/api/me/")) == (401, "token_expired")


@pytest.mark.parametrize(("leeway", "accepted"), [(0, False), (30, True)])
def test_token_from_a_server_whose_clock_runs_ahead(clock, user, login, leeway, accepted):
    # Server A, 20 s ahead, signs the tokens; server B checks them with the right time.
    # Their "iat" is in B's future: refused as not yet valid unless LEEWAY covers the skew.
    with override_settings(SIMPLE_JWT={"LEEWAY": leeway}):
        clock.at(timedelta(seconds=20))
        tokens = login(user)
        clock.at(timedelta(0))
        me = bearer(tokens["access"]).get("/api/me/")
        rotated = refresh(tokens["refresh"])
    if accepted:
        assert (me.status_code, rotated.status_code) == (200, 200)
    else:
        assert code(me) == (401, "token_invalid")
        assert code(rotated) == (401, "token_invalid")
        session = DeviceSession.objects.get()
        assert (session.rotated_at, session.revoked_at) == (None, None)


# -- refresh tokens and the idle expiry ------------------------------------------------------------


def test_refresh_token_expires_with_the_idle_lifetime(clock, user, login):
    tokens = login(user)
    session = DeviceSession.objects.get()
    assert claims(tokens["refresh"])["exp"] == epoch(REFRESH)
    assert session.idle_expires_at == START + REFRESH

    clock.at(REFRESH + SECOND)
    assert code(refresh(tokens["refresh"])) == (401, "token_expired")
    assert DeviceSession.objects.get().refresh_jti == session.refresh_jti  # not rotated

    clock.at(REFRESH - SECOND)  # (back in time) one second earlier it rotates
    assert refresh(tokens["refresh"]).status_code == 200


def test_each_rotation_moves_the_idle_expiry(clock, user, login):
    tokens = login(user)
    for day in (6, 12, 18):
        clock.at(timedelta(days=day))
        tokens = refresh(tokens["refresh"]).json()
        session = DeviceSession.objects.get()
        assert session.idle_expires_at == START + timedelta(days=day) + REFRESH
        assert session.last_seen_at == START + timedelta(days=day)
        assert claims(tokens["refresh"])["exp"] == epoch(timedelta(days=day) + REFRESH)
    # 18 days in, a session of 7-day idle lifetime is still alive: it kept being used.
    assert bearer(tokens["access"]).get("/api/me/").status_code == 200


def test_a_session_not_refreshed_for_the_idle_lifetime_dies(clock, user, login):
    busy = login(user)  # refreshed every day
    idle = login(user)  # never refreshed again
    idle_sid = idle["session"]["id"]
    for day in range(1, 8):
        clock.at(timedelta(days=day))
        busy = refresh(busy["refresh"]).json()
        listed = {row["id"] for row in bearer(busy["access"]).get("/api/auth/sessions/").json()}
        # Day 7 is the idle device's idle expiry: from then on it is not a live device.
        assert (idle_sid in listed) is (day < 7)
    assert code(refresh(idle["refresh"])) == (401, "token_expired")


@override_settings(SIMPLE_JWT={"LEEWAY": 30})
def test_leeway_never_extends_a_session(clock, user, login):
    # Inside the leeway the refresh token's signature checks still pass, but the session
    # row's idle expiry is compared with the server's clock, without leeway.
    tokens = login(user)
    clock.at(REFRESH + timedelta(seconds=10))
    assert code(refresh(tokens["refresh"])) == (401, "session_expired")
    clock.at(REFRESH + timedelta(seconds=31))
    assert code(refresh(tokens["refresh"])) == (401, "token_expired")
    session = DeviceSession.objects.get()
    assert (session.rotated_at, session.revoked_at) == (None, None)


# -- the absolute expiry -------------------------------------------------------------------


def test_absolute_expiry_caps_a_constantly_refreshed_session(clock, user, login):
    tokens = login(user)
    assert claims(tokens["refresh"])["session_exp"] == epoch(ABSOLUTE)
    for day in (6, 12, 18, 24):
        clock.at(timedelta(days=day))
        tokens = refresh(tokens["refresh"]).json()
        refresh_claims = claims(tokens["refresh"])
        assert refresh_claims["session_exp"] == epoch(ABSOLUTE)  # carried unchanged
        assert refresh_claims["exp"] <= refresh_claims["session_exp"]
    # Day 24 + 7 days would be day 31: the token stops at the absolute expiry instead.
    assert claims(tokens["refresh"])["exp"] == epoch(ABSOLUTE)
    assert DeviceSession.objects.get().idle_expires_at == START + ABSOLUTE

    clock.at(ABSOLUTE - SECOND)
    tokens = refresh(tokens["refresh"]).json()
    # The last pair: neither token outlives the session, the access token included.
    assert claims(tokens["access"])["exp"] == epoch(ABSOLUTE)
    assert claims(tokens["refresh"])["exp"] == epoch(ABSOLUTE)
    assert bearer(tokens["access"]).get("/api/me/").status_code == 200

    clock.at(ABSOLUTE + SECOND)
    assert code(refresh(tokens["refresh"])) == (401, "token_expired")
    assert code(bearer(tokens["access"]).get("/api/me/")) == (401, "token_expired")
    assert not DeviceSession.objects.active().exists()


@override_settings(
    SIMPLE_JWT={"LEEWAY": 30},
    TOKEN_SESSIONS={"SESSION_ABSOLUTE_LIFETIME": timedelta(days=2)},
)
def test_absolute_expiry_holds_inside_the_leeway(clock, user, login):
    tokens = login(user)
    clock.at(timedelta(days=1))
    tokens = refresh(tokens["refresh"]).json()
    clock.at(timedelta(days=2, seconds=5))
    assert code(refresh(tokens["refresh"])) == (401, "session_expired")


# -- the grace window --------------------------------------------------------------------------


ROTATED = timedelta(minutes=5)  # when the first rotation happens


@pytest.mark.parametrize("grace", [GRACE, timedelta(seconds=3)], ids=["10s", "3s"])
@pytest.mark.parametrize("endpoint", ["refresh", "logout"])
def test_replay_just_inside_the_grace_window_converges(clock, user, login, grace, endpoint):
    with override_settings(TOKEN_SESSIONS={"ROTATION_GRACE_PERIOD": grace}):
        first = login(user)
        clock.at(ROTATED)
        winner = refresh(first["refresh"]).json()  # the tab that rotated first
        rotated = DeviceSession.objects.get()

        clock.at(ROTATED + grace - EPSILON)
        if endpoint == "logout":
            # The old token may still end its own session (a logout racing a refresh).
            assert logout(first["refresh"]).status_code == 204
            assert DeviceSession.objects.get().revoke_reason == "logout"
            return
        late = refresh(first["refresh"])  # the other tab, with the replaced token

        assert late.status_code == 200
        session = DeviceSession.objects.get()
        # Converged on the current JTI: no second rotation, no fork, nothing revoked.
        assert claims(late.json()["refresh"])["jti"] == session.refresh_jti == rotated.refresh_jti
        assert (session.previous_jti, session.rotated_at) == (
            rotated.previous_jti,
            rotated.rotated_at,
        )
        assert session.revoked_at is None
        # The winner's tokens still work, and so does the converged pair.
        assert bearer(winner["access"]).get("/api/me/").status_code == 200
        assert bearer(late.json()["access"]).get("/api/me/").status_code == 200
        assert refresh(winner["refresh"]).status_code == 200


@pytest.mark.parametrize("grace", [GRACE, timedelta(seconds=3)], ids=["10s", "3s"])
@pytest.mark.parametrize("endpoint", ["refresh", "logout"])
def test_replay_just_after_the_grace_window_is_reuse(clock, user, login, grace, endpoint):
    with override_settings(TOKEN_SESSIONS={"ROTATION_GRACE_PERIOD": grace}):
        first = login(user)
        clock.at(ROTATED)
        winner = refresh(first["refresh"]).json()

        clock.at(ROTATED + grace + EPSILON)
        replay = refresh(first["refresh"]) if endpoint == "refresh" else logout(first["refresh"])

        assert code(replay) == (401, "token_reused")
        session = DeviceSession.objects.get()
        assert session.revoke_reason == "reuse_detected"
        assert session.revoked_at == START + ROTATED + grace + EPSILON
        # The other holder's token, valid a moment ago, is dead too: both chains end.
        assert code(refresh(winner["refresh"])) == (401, "session_revoked")
        assert code(bearer(winner["access"]).get("/api/me/")) == (401, "session_revoked")


def test_grace_window_is_measured_from_the_latest_rotation(clock, user, login):
    first = login(user)
    clock.at(ROTATED)
    second = refresh(first["refresh"]).json()
    clock.at(ROTATED + timedelta(minutes=1))
    refresh(second["refresh"])  # a new rotation restarts the window for `second` only
    clock.at(ROTATED + timedelta(minutes=1) + GRACE - EPSILON)
    # `first` is two rotations old: a replay whatever the window says.
    assert code(refresh(first["refresh"])) == (401, "token_reused")


# -- revocation markers expire after the last access token they refuse ---------------------------


@pytest.mark.parametrize("leeway", [0, 30])
def test_revocation_marker_outlives_the_access_token(clock, user, login, leeway):
    with override_settings(SIMPLE_JWT={"LEEWAY": leeway}):
        tokens = login(user)
        client = bearer(tokens["access"])
        assert client.get("/api/me/").status_code == 200  # the cache is trusted from here
        assert logout(tokens["refresh"]).status_code == 204

        # The last instant the token would pass its own checks (exp + leeway - 1 s): the
        # marker in the cache must still be there to refuse it.
        clock.at(ACCESS + timedelta(seconds=leeway) - SECOND)
        assert code(client.get("/api/me/")) == (401, "session_revoked")
        # From then on the token refuses itself, whether the marker is still there or not.
        clock.at(ACCESS + timedelta(seconds=leeway + 2))
        assert code(client.get("/api/me/")) == (401, "token_expired")


def test_logout_everywhere_refuses_tokens_issued_in_the_same_second_before_it(clock, user, login):
    # The "not before" marker compares millisecond issue times: a token minted 1 ms
    # before the logout is refused, one minted 1 ms after it is not.
    before = login(user)
    client = bearer(before["access"])
    assert client.get("/api/me/").status_code == 200
    clock.at(EPSILON)
    assert client.post("/api/auth/logout-all/").status_code == 204
    clock.at(2 * EPSILON)
    after = login(user)
    assert code(client.get("/api/me/")) == (401, "session_revoked")
    assert bearer(after["access"]).get("/api/me/").status_code == 200
