"""Browser transport over HTTP: the refresh cookie, its flags, CSRF, and native clients."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from django_token_sessions.models import DeviceSession
from django_token_sessions.tokens import decode_refresh
from tests.support.clients import PASSWORD, bearer

pytestmark = pytest.mark.django_db

COOKIE = "tokensessions_refresh"


def browser() -> Client:
    # A browser-like client: CSRF is enforced as for a real page, nothing exempted.
    return Client(enforce_csrf_checks=True)


def sign_in(client: Client):
    response = client.post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response


def csrf_headers(client: Client) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def test_login_sets_an_httponly_cookie_and_keeps_the_token_out_of_json(user):
    client = browser()
    response = sign_in(client)

    body = response.json()
    assert "refresh" not in body
    assert set(body) == {"access", "access_expires_at", "session"}
    morsel = response.cookies[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["secure"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/api/auth/"
    assert morsel["domain"] == ""
    token = decode_refresh(morsel.value)
    assert token.session_id == DeviceSession.objects.get().pk
    max_age = int(morsel["max-age"])
    assert abs(max_age - (token.expires_at - timezone.now()).total_seconds()) < 5
    # Login hands the page the CSRF cookie its refresh and logout calls need.
    assert "csrftoken" in response.cookies


@override_settings(
    TOKEN_SESSIONS={
        "REFRESH_COOKIE_NAME": "rt",
        "REFRESH_COOKIE_PATH": "/auth/",
        "REFRESH_COOKIE_DOMAIN": "example.com",
        "REFRESH_COOKIE_SAMESITE": "Strict",
    }
)
def test_cookie_attributes_follow_settings(user):
    response = sign_in(browser())
    morsel = response.cookies["rt"]
    assert (morsel["path"], morsel["domain"], morsel["samesite"]) == (
        "/auth/",
        "example.com",
        "Strict",
    )


def test_refresh_from_cookie_with_csrf_rotates_the_cookie(user):
    client = browser()
    first = sign_in(client).cookies[COOKIE].value

    response = client.post("/api/auth/refresh/", **csrf_headers(client))

    assert response.status_code == 200
    assert "refresh" not in response.json()
    second = response.cookies[COOKIE].value
    assert decode_refresh(second).jti != decode_refresh(first).jti
    assert DeviceSession.objects.get().refresh_jti == decode_refresh(second).jti
    assert bearer(response.json()["access"]).get("/api/me/").status_code == 200


def test_cookie_refresh_without_csrf_token_is_403_and_changes_nothing(user):
    client = browser()
    sign_in(client)
    before = DeviceSession.objects.get().refresh_jti

    response = client.post("/api/auth/refresh/")

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert COOKIE not in response.cookies  # neither rotated nor deleted
    assert DeviceSession.objects.get().refresh_jti == before


@pytest.mark.parametrize("path", ["/api/auth/refresh/", "/api/auth/logout/"])
def test_cross_site_form_post_with_the_victims_cookie_is_refused(user, path):
    victim = browser()
    sign_in(victim)
    before = DeviceSession.objects.get()

    # What an attacker's page makes the victim's browser send: the ambient cookies (the
    # cookie jar holds csrftoken too, but a cross-site page cannot read it to echo it) and
    # a form body, from a foreign Origin.
    response = victim.post(
        path,
        "refresh=&csrfmiddlewaretoken=guess",
        content_type="application/x-www-form-urlencoded",
        HTTP_ORIGIN="https://evil.example",
        HTTP_REFERER="https://evil.example/page",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    after = DeviceSession.objects.get()
    assert (after.refresh_jti, after.revoked_at) == (before.refresh_jti, None)


@override_settings(ALLOWED_HOSTS=["app.example"], CSRF_TRUSTED_ORIGINS=[])
def test_https_cookie_request_from_a_foreign_origin_fails_even_with_the_token(user):
    client = browser()
    response = client.post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
        secure=True,
        HTTP_HOST="app.example",
    )
    assert response.status_code == 200
    response = client.post(
        "/api/auth/refresh/",
        secure=True,
        HTTP_HOST="app.example",
        HTTP_ORIGIN="https://evil.example",
        **csrf_headers(client),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    response = client.post(
        "/api/auth/refresh/",
        secure=True,
        HTTP_HOST="app.example",
        HTTP_ORIGIN="https://app.example",
        **csrf_headers(client),
    )
    assert response.status_code == 200


def test_cookie_request_never_answers_in_the_body(user):
    # An XSS script can make the browser send the cookie; it must not be able to get the
    # refresh token back by asking for the body transport.
    client = browser()
    sign_in(client)
    response = client.post(
        "/api/auth/refresh/", HTTP_X_TOKEN_TRANSPORT="body", **csrf_headers(client)
    )
    assert response.status_code == 200
    assert "refresh" not in response.json()
    assert COOKIE in response.cookies


def test_logout_from_cookie_revokes_and_deletes_the_cookie(user):
    client = browser()
    access = sign_in(client).json()["access"]

    response = client.post("/api/auth/logout/", **csrf_headers(client))

    assert response.status_code == 204
    morsel = response.cookies[COOKIE]
    assert morsel.value == ""
    assert morsel["max-age"] == 0
    # Deleted with the attributes it was set with, or browsers keep it.
    assert (morsel["path"], morsel["samesite"]) == ("/api/auth/", "Lax")
    assert DeviceSession.objects.get().revoke_reason == "logout"
    assert bearer(access).get("/api/me/").json()["code"] == "session_revoked"


@pytest.mark.parametrize("state", ["garbage", "revoked", "expired-session", "reused"])
def test_a_stale_cookie_never_blocks_logout(user, state):
    client = browser()
    sign_in(client)
    if state == "garbage":
        client.cookies[COOKIE] = "\x00not-a-token"
    elif state == "revoked":
        DeviceSession.objects.update(revoked_at=timezone.now(), revoke_reason="admin")
    elif state == "expired-session":
        DeviceSession.objects.update(idle_expires_at=timezone.now() - timedelta(seconds=1))
    else:
        DeviceSession.objects.update(refresh_jti="rotated-elsewhere", previous_jti="older")

    response = client.post("/api/auth/logout/", **csrf_headers(client))

    assert response.status_code == 204
    assert response.cookies[COOKIE].value == ""


@pytest.mark.parametrize("state", ["garbage", "revoked"])
def test_a_stale_cookie_never_blocks_login(user, state):
    client = browser()
    sign_in(client)
    if state == "garbage":
        client.cookies[COOKIE] = "junk"
    else:
        DeviceSession.objects.update(revoked_at=timezone.now(), revoke_reason="admin")

    response = sign_in(client)

    new_session = response.json()["session"]["id"]
    assert str(decode_refresh(response.cookies[COOKIE].value).session_id) == new_session
    assert DeviceSession.objects.get(pk=new_session).is_active()


def test_refused_cookie_is_deleted(user):
    client = browser()
    sign_in(client)
    DeviceSession.objects.update(revoked_at=timezone.now(), revoke_reason="admin")

    response = client.post("/api/auth/refresh/", **csrf_headers(client))

    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    assert response.cookies[COOKIE].value == ""


def test_reuse_through_the_cookie_ends_the_session_and_the_cookie(user):
    client = browser()
    stolen = sign_in(client).cookies[COOKIE].value
    assert client.post("/api/auth/refresh/", **csrf_headers(client)).status_code == 200
    DeviceSession.objects.update(rotated_at=timezone.now() - timedelta(seconds=11))

    # The thief replays the stolen cookie from its own browser, CSRF token and all.
    thief = browser()
    thief.cookies[COOKIE] = stolen
    thief.cookies["csrftoken"] = client.cookies["csrftoken"].value
    response = thief.post("/api/auth/refresh/", **csrf_headers(thief))

    assert response.json()["code"] == "token_reused"
    assert response.cookies[COOKIE].value == ""
    # The owner is signed out on its next refresh.
    assert client.post("/api/auth/refresh/", **csrf_headers(client)).json()["code"] == (
        "session_revoked"
    )


def test_logout_all_deletes_the_cookie_but_others_keeps_it(user):
    client = browser()
    access = sign_in(client).json()["access"]
    others = bearer(access).post("/api/auth/logout-all/", {"scope": "others"}, format="json")
    assert COOKIE not in others.cookies
    everything = bearer(access).post("/api/auth/logout-all/", {"scope": "all"}, format="json")
    assert everything.cookies[COOKIE].value == ""


def test_revoking_this_device_from_the_list_deletes_the_cookie(user):
    client = browser()
    body = sign_in(client).json()
    response = bearer(body["access"]).delete(f"/api/auth/sessions/{body['session']['id']}/")
    assert response.status_code == 204
    assert response.cookies[COOKIE].value == ""


# -- native clients -----------------------------------------------------------------------


def test_native_client_asks_for_the_body_and_gets_no_cookie(user):
    client = Client()
    response = client.post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
        HTTP_X_TOKEN_TRANSPORT="body",
    )
    assert "refresh" in response.json()
    assert COOKIE not in response.cookies

    # Refreshing with the token in the body answers in the body, with no CSRF needed.
    response = Client(enforce_csrf_checks=True).post(
        "/api/auth/refresh/",
        {"refresh": response.json()["refresh"]},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert "refresh" in response.json()
    assert COOKIE not in response.cookies


@override_settings(TOKEN_SESSIONS={"REFRESH_TOKEN_TRANSPORT": "body"})
def test_body_transport_for_the_whole_deployment(user):
    response = Client().post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    assert "refresh" in response.json()
    assert COOKIE not in response.cookies


@override_settings(TOKEN_SESSIONS={"ALLOW_BODY_TRANSPORT": False})
def test_body_transport_header_can_be_disallowed(user):
    response = Client().post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
        HTTP_X_TOKEN_TRANSPORT="body",
    )
    assert "refresh" not in response.json()
    assert COOKIE in response.cookies


def test_refresh_with_neither_body_nor_cookie(db):
    response = browser().post("/api/auth/refresh/", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
