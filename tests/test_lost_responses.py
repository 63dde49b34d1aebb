"""A refresh whose response never reached the client, and a thief replaying a rotated token.

A native app sends a fresh ``Idempotency-Key`` with each refresh and the same key when it
retries that refresh. The retry gets the pair the lost response carried, whenever it
comes, as long as the token that replaced it has not been rotated since. Without the key
(a thief who copied the refresh token), or after the app has moved on, the replayed token
is reuse: the session is revoked. The threat model is in SECURITY.md.

Driven as an app drives the API: httpx, over HTTP into Django's WSGI handler.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
import time_machine
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from rest_framework.test import APIClient

from django_token_sessions import signals
from django_token_sessions.models import DeviceSession
from tests.support.clients import PASSWORD
from tests.support.signals import catch_signal

pytestmark = pytest.mark.django_db

APP_USER_AGENT = "ExampleApp/2.3 okhttp/4.12.0"


@pytest.fixture
def app() -> Iterator[httpx.Client]:
    """A native app's HTTP client: JSON bodies, the body transport, its own user agent."""
    transport = httpx.WSGITransport(app=WSGIHandler())
    # As Django's own test client does: a request must not close the test's database
    # connection (and its transaction) when it ends.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        with httpx.Client(
            transport=transport,
            base_url="http://testserver",
            headers={"X-Token-Transport": "body", "User-Agent": APP_USER_AGENT},
        ) as client:
            yield client
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


def sign_in(app: httpx.Client, user: Any) -> dict[str, Any]:
    response = app.post(
        "/api/auth/login/", json={"username": user.get_username(), "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(app: httpx.Client, token: str, key: str | None = None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return app.post("/api/auth/refresh/", json={"refresh": token}, headers=headers)


def jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def new_key() -> str:
    return str(uuid.uuid4())


def me(app: httpx.Client, access: str) -> int:
    return app.get("/api/me/", headers={"Authorization": f"Bearer {access}"}).status_code


def the_session(body: dict[str, Any]) -> DeviceSession:
    return DeviceSession.objects.get(pk=body["session"]["id"])


@pytest.mark.parametrize(
    "later", [timedelta(seconds=30), timedelta(minutes=10)], ids=["after 30 s", "after 10 min"]
)
def test_a_lost_refresh_response_retried_with_its_key_keeps_the_user_signed_in(app, user, later):
    login = sign_in(app, user)
    key = new_key()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        lost = refresh(app, login["refresh"], key)  # rotated; the app never sees this
        assert lost.status_code == 200
        clock.move_to(start + later)  # past the 10 s grace window
        with catch_signal(signals.refresh_token_reused) as reused:
            retried = refresh(app, login["refresh"], key)

        assert retried.status_code == 200, retried.text
        # The pair the lost response carried: the one refresh token the session accepts.
        assert jti(retried.json()["refresh"]) == jti(lost.json()["refresh"])
        assert reused == []
        assert the_session(login).revoked_at is None
        assert me(app, retried.json()["access"]) == 200
        # The app carries on with it as if nothing had happened.
        assert refresh(app, retried.json()["refresh"], new_key()).status_code == 200


def test_a_retry_without_its_key_past_the_grace_window_is_reuse(app, user):
    login = sign_in(app, user)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert refresh(app, login["refresh"], new_key()).status_code == 200
        clock.move_to(start + timedelta(seconds=30))
        replay = refresh(app, login["refresh"])
    assert (replay.status_code, replay.json()["code"]) == (401, "token_reused")
    assert the_session(login).revoke_reason == "reuse_detected"


def test_a_retry_with_another_key_past_the_grace_window_is_reuse(app, user):
    login = sign_in(app, user)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert refresh(app, login["refresh"], new_key()).status_code == 200
        clock.move_to(start + timedelta(minutes=1))
        replay = refresh(app, login["refresh"], new_key())
    assert (replay.status_code, replay.json()["code"]) == (401, "token_reused")
    assert the_session(login).revoke_reason == "reuse_detected"


@pytest.mark.parametrize("thief_has_the_key", [False, True], ids=["without key", "with key"])
def test_a_replay_after_the_app_moved_on_revokes_the_session(app, user, thief_has_the_key):
    login = sign_in(app, user)
    stolen, key = login["refresh"], new_key()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        second = refresh(app, stolen, key).json()  # the app's rotation, received
        clock.move_to(start + timedelta(minutes=15))
        third = refresh(app, second["refresh"], new_key())  # the app moves on
        assert third.status_code == 200
        clock.move_to(start + timedelta(minutes=16))
        with catch_signal(signals.refresh_token_reused) as reused:
            replay = refresh(app, stolen, key if thief_has_the_key else None)

        # The app's own token dies with the session: the theft signs everyone out.
        follow = refresh(app, third.json()["refresh"], new_key())

    assert (replay.status_code, replay.json()["code"]) == (401, "token_reused")
    assert the_session(login).revoke_reason == "reuse_detected"
    assert len(reused) == 1
    assert (follow.status_code, follow.json()["code"]) == (401, "session_revoked")


@pytest.mark.parametrize(
    "key",
    ["short", "x" * 256, "has a space in it!", "tab\there-0123456789", ""],
    ids=["too short", "too long", "space", "control character", "empty"],
)
def test_a_malformed_key_is_refused_and_changes_nothing(app, user, key):
    login = sign_in(app, user)
    before = the_session(login).refresh_jti
    response = refresh(app, login["refresh"], key)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert the_session(login).refresh_jti == before


def test_a_key_outside_ascii_is_refused(user, login):
    # httpx will not send one; a raw HTTP client can (WSGI hands it over as Latin-1).
    body = login(user)
    client = APIClient()
    response = client.post(
        "/api/auth/refresh/",
        {"refresh": body["refresh"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ünïcödé-key-0123456789",
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


def test_the_row_keeps_a_digest_of_the_key_not_the_key(app, user):
    login = sign_in(app, user)
    key = new_key()
    assert refresh(app, login["refresh"], key).status_code == 200
    stored = the_session(login).rotation_key
    assert len(stored) == 64
    assert key not in stored
    # A refresh without a key records none: its token has only the grace window.
    refreshed = refresh(app, login["refresh"], key).json()  # the retry, within grace
    assert refresh(app, refreshed["refresh"]).status_code == 200
    assert the_session(login).rotation_key == ""
