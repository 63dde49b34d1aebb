"""The browser transport under ASGI: RefreshTokenCookieMiddleware's async path.

Django's ``AsyncClient`` builds the middleware chain in async mode, so the middleware
runs as a coroutine (``__acall__``) around the real URLconf (tests/urls.py). Everything
is asserted through HTTP (status, ``Set-Cookie`` and its attributes, the JSON body), as
tests/test_transport.py does for WSGI, so these tests hold whatever the
middleware's internals become. Each test is one coroutine run with ``async_to_sync``:
the sync views then run in this thread, inside the test's database transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http.cookies import Morsel

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from tests.support.clients import PASSWORD

pytestmark = pytest.mark.django_db

COOKIE = "tokensessions_refresh"


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


def browser() -> AsyncClient:
    # CSRF enforced as for a real page: cookie-borne requests need X-CSRFToken.
    return AsyncClient(enforce_csrf_checks=True)


def csrf(client: AsyncClient) -> dict[str, str]:
    # The csrftoken cookie login set, echoed in the header, as the page's script does.
    return {"X-CSRFToken": client.cookies["csrftoken"].value}


async def sign_in(client: AsyncClient) -> Morsel[str]:
    response = await client.post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert "refresh" not in response.json()
    return response.cookies[COOKIE]


def assert_refresh_cookie(morsel: Morsel[str]) -> None:
    assert morsel.value
    assert morsel["httponly"] is True
    assert morsel["secure"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/api/auth/"
    assert int(morsel["max-age"]) > 0


def assert_deleted(morsel: Morsel[str]) -> None:
    assert morsel.value == ""
    assert morsel["max-age"] == 0
    # Deleted with the attributes it was set with, or browsers keep it.
    assert (morsel["path"], morsel["samesite"]) == ("/api/auth/", "Lax")


def test_login_sets_the_httponly_cookie_and_keeps_the_token_out_of_the_body(user):
    async def scenario() -> None:
        client = browser()
        response = await client.post(
            "/api/auth/login/",
            {"username": "alice", "password": PASSWORD},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        assert set(response.json()) == {"access", "access_expires_at", "session"}
        assert_refresh_cookie(response.cookies[COOKIE])
        assert "csrftoken" in response.cookies  # the page's refresh and logout need it

    run(scenario)


def test_cookie_refresh_with_csrf_rotates_the_cookie(user):
    async def scenario() -> None:
        client = browser()
        first = await sign_in(client)

        refused = await client.post("/api/auth/refresh/")
        assert refused.status_code == 403
        assert refused.json()["code"] == "csrf_failed"
        assert COOKIE not in refused.cookies  # neither rotated nor deleted

        response = await client.post("/api/auth/refresh/", headers=csrf(client))
        assert response.status_code == 200, response.content
        body = response.json()
        assert "refresh" not in body
        rotated = response.cookies[COOKIE]
        assert_refresh_cookie(rotated)
        assert rotated.value != first.value
        me = await client.get("/api/me/", headers={"Authorization": f"Bearer {body['access']}"})
        assert (me.status_code, me.json()["username"]) == (200, "alice")

        # The client now holds the rotated cookie, and it refreshes again.
        again = await client.post("/api/auth/refresh/", headers=csrf(client))
        assert again.status_code == 200, again.content
        assert again.cookies[COOKIE].value not in ("", rotated.value)

    run(scenario)


def test_logout_deletes_the_cookie_and_a_refused_cookie_is_deleted(user):
    async def scenario() -> None:
        client = browser()
        token = (await sign_in(client)).value

        response = await client.post("/api/auth/logout/", headers=csrf(client))
        assert response.status_code == 204, response.content
        assert_deleted(response.cookies[COOKIE])

        # The old cookie, replayed, is refused (its session is over) and deleted again.
        client.cookies[COOKIE] = token
        response = await client.post("/api/auth/refresh/", headers=csrf(client))
        assert response.status_code == 401
        assert response.json()["code"] == "session_revoked"
        assert_deleted(response.cookies[COOKIE])

    run(scenario)
