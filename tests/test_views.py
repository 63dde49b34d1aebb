"""Login, logout, logout-everywhere and the device list, through HTTP."""

from __future__ import annotations

import html
import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from django_token_sessions.models import DeviceSession
from django_token_sessions.tokens import decode_access, decode_refresh
from tests.support.clients import PASSWORD, bearer, refresh

pytestmark = pytest.mark.django_db

SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def _login(username, password, **extra):
    return APIClient().post(
        "/api/auth/login/",
        {"username": username, "password": password},
        format="json",
        HTTP_X_TOKEN_TRANSPORT="body",
        **extra,
    )


# -- login ------------------------------------------------------------------------------


def test_login_creates_a_device_session(user):
    response = _login("alice", PASSWORD, HTTP_USER_AGENT=SAFARI_IPHONE, REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "access_expires_at", "session"}
    session = DeviceSession.objects.get()
    assert session.user_id == user.pk
    assert session.device_label == "Safari on iOS"
    assert session.ip_address == "203.0.113.9"
    assert session.user_agent == SAFARI_IPHONE
    assert body["session"]["id"] == str(session.pk)
    assert body["session"]["current"] is True
    assert body["session"]["name"] == "Safari on iOS"
    assert decode_refresh(body["refresh"]).jti == session.refresh_jti
    assert decode_access(body["access"]).session_id == session.pk
    assert decode_refresh(body["refresh"]).session_id == session.pk


@pytest.mark.parametrize(
    ("device", "label"),
    [
        ({"name": "Anna's Pixel 8", "platform": "android"}, "Anna's Pixel 8 (Android)"),
        ({"name": "  Jürgen's\u202e iPhone\n"}, "Jürgen's iPhone"),
        ({"platform": "ios"}, "iOS app"),
        ({}, "Android app"),  # nothing usable: guessed from the user agent (okhttp)
        ({"name": " \t "}, "Android app"),
    ],
    ids=["name and platform", "cleaned name", "platform only", "empty", "blank name"],
)
def test_an_app_names_its_device_at_login(user, admin_client, device, label):
    client = APIClient()
    response = client.post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD, "device": device},
        format="json",
        HTTP_X_TOKEN_TRANSPORT="body",
        HTTP_USER_AGENT="ExampleApp/2.3 okhttp/4.12.0",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["session"]["device_label"] == label
    # The session list shows it, and the admin too.
    listed = bearer(body["access"]).get("/api/auth/sessions/").json()
    assert [session["device_label"] for session in listed] == [label]
    page = admin_client.get("/admin/token_sessions/devicesession/")
    assert page.status_code == 200
    assert html.escape(label) in page.content.decode()


@pytest.mark.parametrize(
    "device",
    [{"name": "x" * 1001}, {"platform": ["android"]}, {"name": {"a": 1}}, "Pixel", [1]],
    ids=["too long", "list platform", "object name", "string", "list"],
)
def test_a_malformed_device_is_refused_and_creates_nothing(user, device):
    response = APIClient().post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD, "device": device},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert not DeviceSession.objects.exists()


def test_a_nested_field_error_is_named_by_its_path(user):
    # The schema's errors object maps a field to a list of messages, one level deep.
    response = APIClient().post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD, "device": {"platform": "a\x00b"}},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["device.platform"]
    assert all(isinstance(message, str) for message in errors["device.platform"])


def test_default_lifetimes_are_15_minutes_and_7_days(user):
    body = _login("alice", PASSWORD).json()
    access, refresh_token = decode_access(body["access"]), decode_refresh(body["refresh"])
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh_token["exp"] - refresh_token["iat"] == 7 * 24 * 3600


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong"), ("nobody", PASSWORD), ("alice", "")]
)
def test_login_refused(user, username, password):
    response = _login(username, password)
    assert response.status_code in (400, 401)
    assert response.json()["code"] in {"invalid_credentials", "invalid_request"}
    assert not DeviceSession.objects.exists()


def test_login_inactive_user(make_user):
    make_user("bob", is_active=False)
    response = _login("bob", PASSWORD)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


@pytest.mark.parametrize("payload", [{}, {"username": "alice"}, [], "x", {"password": 1}])
def test_login_malformed_body(user, payload):
    response = APIClient().post("/api/auth/login/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_login_form_post_is_refused(user):
    # JSON only: an HTML form (the tool of login CSRF) cannot reach the endpoint.
    response = APIClient().post("/api/auth/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@override_settings(TOKEN_SESSIONS={"LOGIN_THROTTLE_RATE": "3/min"})
def test_login_is_throttled(user):
    codes = [_login("alice", "wrong").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    response = _login("alice", PASSWORD)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"


@override_settings(TOKEN_SESSIONS={"LOGIN_THROTTLE_RATE": None})
def test_login_throttle_can_be_turned_off(user):
    assert {_login("alice", "wrong").status_code for _ in range(15)} == {401}


@override_settings(TOKEN_SESSIONS={"MAX_SESSIONS_PER_USER": 2})
def test_session_cap_evicts_the_oldest(user):
    first = _login("alice", PASSWORD).json()
    _login("alice", PASSWORD)
    third = _login("alice", PASSWORD).json()

    assert third["session"]["id"]
    assert DeviceSession.objects.active().count() == 2
    oldest = DeviceSession.objects.get(pk=first["session"]["id"])
    assert oldest.revoke_reason == "session_limit"
    assert refresh(first["refresh"]).json()["code"] == "session_revoked"


@pytest.mark.parametrize(
    ("mode", "remote", "stored"),
    [
        ("full", "198.51.100.77", "198.51.100.77"),
        ("truncated", "198.51.100.77", "198.51.100.0"),
        ("truncated", "2001:db8:abcd:12::1", "2001:db8:abcd::"),
        ("none", "198.51.100.77", None),
    ],
)
def test_ip_address_storage(user, mode, remote, stored):
    with override_settings(TOKEN_SESSIONS={"IP_ADDRESS_STORAGE": mode}):
        _login("alice", PASSWORD, REMOTE_ADDR=remote)
    assert DeviceSession.objects.get().ip_address == stored


@override_settings(TOKEN_SESSIONS={"NUM_PROXIES": 1})
def test_ip_from_trusted_proxy(user):
    _login("alice", PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")
    assert DeviceSession.objects.get().ip_address == "203.0.113.5"


# -- logout -----------------------------------------------------------------------------


def test_logout_with_refresh_token(user, login):
    body = login(user)
    response = APIClient().post("/api/auth/logout/", {"refresh": body["refresh"]}, format="json")
    assert response.status_code == 204
    session = DeviceSession.objects.get()
    assert session.revoke_reason == "logout"
    assert bearer(body["access"]).get("/api/me/").json()["code"] == "session_revoked"
    assert refresh(body["refresh"]).json()["code"] == "session_revoked"


def test_logout_with_bearer(user, login):
    body = login(user)
    other = login(user)
    assert bearer(body["access"]).post("/api/auth/logout/").status_code == 204
    assert bearer(body["access"]).get("/api/me/").status_code == 401
    assert bearer(other["access"]).get("/api/me/").status_code == 200


def test_logout_twice_is_fine(user, login):
    body = login(user)
    for _ in range(2):
        response = APIClient().post(
            "/api/auth/logout/", {"refresh": body["refresh"]}, format="json"
        )
        assert response.status_code == 204


def test_logout_without_credentials(db):
    response = APIClient().post("/api/auth/logout/", {}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_logout_with_garbage_body_token(db):
    response = APIClient().post("/api/auth/logout/", {"refresh": "garbage"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_logout_with_an_old_rotated_token_is_reuse(user, login):
    body = login(user)
    refresh(body["refresh"])
    DeviceSession.objects.update(rotated_at=timezone.now() - timedelta(minutes=1))
    response = APIClient().post("/api/auth/logout/", {"refresh": body["refresh"]}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_reused"
    assert DeviceSession.objects.get().revoke_reason == "reuse_detected"


@pytest.mark.parametrize(("scope", "survivors"), [("all", 0), ("others", 1)])
def test_logout_all(user, login, make_user, scope, survivors):
    mine = [login(user) for _ in range(3)]
    bob = login(make_user("bob"))

    response = bearer(mine[0]["access"]).post(
        "/api/auth/logout-all/", {"scope": scope}, format="json"
    )

    assert response.status_code == 204
    alive = DeviceSession.objects.for_user(user).active()
    assert alive.count() == survivors
    reason = "logout_all" if scope == "all" else "logout_others"
    assert set(
        DeviceSession.objects.for_user(user)
        .exclude(revoked_at=None)
        .values_list("revoke_reason", flat=True)
    ) == {reason}
    if survivors:
        assert str(alive.get().pk) == mine[0]["session"]["id"]
    assert bearer(mine[1]["access"]).get("/api/me/").status_code == 401
    assert bearer(bob["access"]).get("/api/me/").status_code == 200


def test_logout_all_defaults_to_all(user, login):
    body = login(user)
    assert bearer(body["access"]).post("/api/auth/logout-all/").status_code == 204
    assert not DeviceSession.objects.active().exists()


def test_logout_all_bad_scope(user, login):
    body = login(user)
    response = bearer(body["access"]).post(
        "/api/auth/logout-all/", {"scope": "everyone"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert DeviceSession.objects.active().count() == 1


def test_logout_all_needs_a_bearer(db):
    response = APIClient().post("/api/auth/logout-all/", {"scope": "all"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# -- the device list --------------------------------------------------------------------


def test_session_list(user, login, make_user):
    phone = login(user, user_agent=SAFARI_IPHONE)
    laptop = login(user)
    login(make_user("bob"))
    gone = login(user)
    bearer(gone["access"]).post("/api/auth/logout/")

    response = bearer(laptop["access"]).get("/api/auth/sessions/")

    assert response.status_code == 200
    rows = response.json()
    assert {row["id"] for row in rows} == {phone["session"]["id"], laptop["session"]["id"]}
    current = {row["id"]: row["current"] for row in rows}
    assert current == {phone["session"]["id"]: False, laptop["session"]["id"]: True}
    assert set(rows[0]) == {
        "id", "name", "custom_name", "device_label", "ip_address",
        "created_at", "last_seen_at", "expires_at", "current",
    }  # fmt: skip


def test_session_list_is_one_query_whatever_the_count(user, login, django_assert_num_queries):
    bodies = [login(user) for _ in range(5)]
    client = bearer(bodies[0]["access"])
    client.get("/api/me/")  # warm the revocation cache
    with django_assert_num_queries(2):  # the user + the list
        assert len(client.get("/api/auth/sessions/").json()) == 5


def test_rename_a_device(user, login):
    body = login(user)
    sid = body["session"]["id"]
    response = bearer(body["access"]).patch(
        f"/api/auth/sessions/{sid}/", {"name": "  Work laptop "}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Work laptop"
    assert response.json()["device_label"] == "Firefox on Linux"
    # An empty name restores the parsed label.
    response = bearer(body["access"]).patch(
        f"/api/auth/sessions/{sid}/", {"name": ""}, format="json"
    )
    assert response.json()["name"] == "Firefox on Linux"


@pytest.mark.parametrize("payload", [{}, {"name": "x" * 101}, {"name": None}, []])
def test_rename_bad_input(user, login, payload):
    body = login(user)
    response = bearer(body["access"]).patch(
        f"/api/auth/sessions/{body['session']['id']}/", payload, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert DeviceSession.objects.get().name == ""


def test_revoke_a_device(user, login):
    laptop = login(user)
    phone = login(user)
    response = bearer(laptop["access"]).delete(f"/api/auth/sessions/{phone['session']['id']}/")
    assert response.status_code == 204
    assert DeviceSession.objects.get(pk=phone["session"]["id"]).revoke_reason == (
        "user_revoked_device"
    )
    assert bearer(phone["access"]).get("/api/me/").json()["code"] == "session_revoked"
    assert refresh(phone["refresh"]).json()["code"] == "session_revoked"
    assert bearer(laptop["access"]).get("/api/me/").status_code == 200


def test_other_users_devices_are_404(user, login, make_user):
    mine = login(user)
    bobs = login(make_user("bob"))
    client = bearer(mine["access"])
    url = f"/api/auth/sessions/{bobs['session']['id']}/"
    assert client.delete(url).json()["code"] == "not_found"
    assert client.patch(url, {"name": "x"}, format="json").status_code == 404
    assert DeviceSession.objects.get(pk=bobs["session"]["id"]).is_active()
    assert client.delete(f"/api/auth/sessions/{uuid.uuid4()}/").status_code == 404
    assert client.delete("/api/auth/sessions/not-a-uuid/").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/auth/sessions/"), ("delete", f"/api/auth/sessions/{uuid.uuid4()}/")],
)
@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer a b", "Bearer garbage", "Basic abc", "Bearer \u00e9"]
)
def test_bad_authorization_headers(db, method, path, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.json()["code"] in {
        "not_authenticated", "token_invalid", "bad_authorization_header",
    }  # fmt: skip


def test_wrong_method_is_json(db):
    response = APIClient().get("/api/auth/login/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@override_settings(TOKEN_SESSIONS={"ROTATION_GRACE_PERIOD": 0})
def test_logout_with_the_just_replaced_token_is_reuse_without_grace(user, login):
    body = login(user)
    refresh(body["refresh"])
    response = APIClient().post("/api/auth/logout/", {"refresh": body["refresh"]}, format="json")
    assert response.json()["code"] == "token_reused"
    assert DeviceSession.objects.get().revoke_reason == "reuse_detected"
