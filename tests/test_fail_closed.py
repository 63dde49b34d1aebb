"""The edges fail closed, through HTTP, with the defaults a typical project has.

tests/settings.py sets no ``REST_FRAMEWORK``: DRF's default renderers (JSON and the
browsable API) are in force, as in most projects. Each test here failed on the code
before the change it guards (issue 11, findings 1, 3, 4, 7 and 8).
"""

from __future__ import annotations

import codecs
import json
import uuid
from typing import Any

import pytest
from django.test import Client, override_settings
from rest_framework import renderers
from rest_framework.views import APIView

from django_token_sessions.models import DeviceSession
from tests.support.clients import PASSWORD, bearer

pytestmark = pytest.mark.django_db

COOKIE = "tokensessions_refresh"


class ReprRenderer(renderers.BaseRenderer):
    """A project's own renderer that shows whatever data it is given."""

    media_type = "text/plain"
    format = "txt"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        return repr(data).encode()


RENDERERS = [
    renderers.JSONRenderer,
    renderers.BrowsableAPIRenderer,
    renderers.TemplateHTMLRenderer,
    renderers.StaticHTMLRenderer,
    renderers.AdminRenderer,
    renderers.HTMLFormRenderer,
    renderers.MultiPartRenderer,
    ReprRenderer,
]
ACCEPTS = [
    None,
    "*/*",
    "text/html",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "application/json",
    "text/plain",
    "multipart/form-data",
]


def browser(**kwargs: Any) -> Client:
    return Client(enforce_csrf_checks=True, raise_request_exception=False, **kwargs)


def sign_in(client: Client, **headers: Any):
    return client.post(
        "/api/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
        **headers,
    )


def signature(token: str) -> bytes:
    return token.rsplit(".", 1)[-1].encode()


def csrf(client: Client) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def assert_json_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str)
    assert body["detail"]


@pytest.fixture
def default_renderers(monkeypatch: pytest.MonkeyPatch):
    """``set(classes)``: what ``REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"]`` would make of
    every view that keeps DRF's default (DRF binds the setting to ``APIView`` at import)."""

    def set_(classes: list[type]) -> None:
        monkeypatch.setattr(APIView, "renderer_classes", classes)

    return set_


# -- Finding 1: the refresh token is never in a body on the cookie path ------------------


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("renderer", RENDERERS, ids=lambda cls: cls.__name__)
def test_no_renderer_shows_a_cookie_clients_refresh_token(
    user, default_renderers, renderer, accept
):
    default_renderers([renderer, renderers.JSONRenderer])
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    client = browser()

    login = sign_in(client, **headers)
    if login.status_code == 406:
        assert_json_error(login, 406, "not_acceptable")
        assert COOKIE not in login.cookies
        login = sign_in(client)  # the page then asks for JSON
    assert login.status_code == 200
    first = login.cookies[COOKIE].value
    assert signature(first) not in login.content
    assert login["Content-Type"] == "application/json"

    refreshed = client.post("/api/auth/refresh/", **csrf(client), **headers)
    assert refreshed.status_code in (200, 406), refreshed.content[:300]
    assert refreshed["Content-Type"] == "application/json"
    assert signature(first) not in refreshed.content
    if refreshed.status_code == 200:
        second = refreshed.cookies[COOKIE].value
        assert second != first
        assert signature(second) not in refreshed.content
        assert "refresh" not in refreshed.json()


@pytest.mark.parametrize("accept", ["text/html", "*/*", None])
def test_no_endpoint_body_contains_the_cookie_token(user, accept):
    """Every endpoint a browser calls, with the browsable API's favourite Accept."""
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    client = browser()
    login = sign_in(client)
    token, access = login.cookies[COOKIE].value, login.json()["access"]
    session = DeviceSession.objects.get()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {access}"}
    responses = [
        client.get("/api/auth/sessions/", **auth, **headers),
        client.patch(
            f"/api/auth/sessions/{session.pk}/",
            {"name": "Laptop"},
            content_type="application/json",
            **auth,
            **headers,
        ),
        client.get("/api/auth/login/", **headers),
        client.post("/api/auth/refresh/", **headers),  # no CSRF token: 403
        client.post("/api/auth/logout-all/", {"scope": "others"}, **auth, **headers),
    ]
    for response in responses:
        assert signature(token) not in response.content, response.request["PATH_INFO"]
        assert response["Content-Type"].startswith("application/json")


def test_a_view_that_puts_the_token_back_into_its_data_is_refused(user):
    client = browser()
    sign_in(client)
    before = client.cookies[COOKIE].value

    response = client.post("/api/auth/token-in-data/", **csrf(client))

    assert_json_error(response, 500, "refresh_token_exposed")
    issued = response.cookies[COOKIE]
    assert issued.value != before
    assert signature(issued.value) not in response.content
    # The token went where it belongs: the session lives on through the cookie.
    assert issued["httponly"] is True
    assert DeviceSession.objects.get().refresh_jti != ""
    again = client.post("/api/auth/refresh/", **csrf(client))
    assert again.status_code == 200


def test_a_body_that_cannot_be_inspected_is_refused(user):
    response = browser().get("/api/auth/streamed-token/")
    assert_json_error(response, 500, "refresh_token_exposed")
    assert response.cookies[COOKIE]["httponly"] is True


def test_a_native_client_still_gets_its_token_in_the_body(user):
    response = sign_in(browser(), HTTP_X_TOKEN_TRANSPORT="body", HTTP_ACCEPT="text/html")
    # Accept without JSON: refused, nothing issued ...
    assert_json_error(response, 406, "not_acceptable")
    assert not DeviceSession.objects.exists()
    # ... and with the default Accept, the body carries the token and no cookie is set.
    response = sign_in(browser(), HTTP_X_TOKEN_TRANSPORT="body")
    assert response.status_code == 200
    assert response.json()["refresh"]
    assert COOKIE not in response.cookies


# -- Findings 3 and 4: every failure on our URLs is {detail, code} JSON ------------------

DEEP = "[" * 5000 + "]" * 5000
BIG_JSON = json.dumps({"username": "x" * 3_000_000, "password": "y"})


def _bearer_calls(client: Client, access: str, session_id: Any) -> dict[str, Any]:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {access}"}
    return {
        "logout-all": lambda body: client.post(
            "/api/auth/logout-all/", body, content_type="application/json", **auth
        ),
        "rename": lambda body: client.patch(
            f"/api/auth/sessions/{session_id}/", body, content_type="application/json", **auth
        ),
        "logout (bearer)": lambda body: client.post(
            "/api/auth/logout/", body, content_type="application/json", **auth
        ),
    }


def _calls(user: Any) -> dict[str, Any]:
    client = browser()
    login = sign_in(client, HTTP_X_TOKEN_TRANSPORT="body").json()
    calls = {
        name: (lambda body, path=path: client.post(path, body, content_type="application/json"))
        for name, path in [
            ("login", "/api/auth/login/"),
            ("refresh", "/api/auth/refresh/"),
            ("logout", "/api/auth/logout/"),
        ]
    }
    calls.update(_bearer_calls(client, login["access"], login["session"]["id"]))
    return calls


ENDPOINTS = ["login", "refresh", "logout", "logout-all", "rename", "logout (bearer)"]


def assert_refused_without_a_change(user, endpoint, body, status, code) -> None:
    call = _calls(user)[endpoint]
    before = list(DeviceSession.objects.values_list("refresh_jti", "revoked_at", "name"))
    assert_json_error(call(body), status, code)
    assert list(DeviceSession.objects.values_list("refresh_jti", "revoked_at", "name")) == before


@pytest.mark.parametrize(
    "body",
    # Past the parser of some Pythons (json raises RecursionError, a 500 if uncaught), and
    # past our limit but within what json parses (the same answer on every Python).
    [DEEP, '{"refresh": ' + "[" * 40 + "]" * 40 + "}"],
    ids=["5000 deep", "40 deep"],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_deeply_nested_json_is_a_parse_error(user, endpoint, body):
    assert_refused_without_a_change(user, endpoint, body, 400, "parse_error")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_over_the_upload_limit_is_413(user, endpoint):
    assert_refused_without_a_change(user, endpoint, BIG_JSON, 413, "request_too_large")


@pytest.mark.parametrize("codec", ["bz2_codec", "zlib_codec", "base64_codec", "no-such-charset"])
def test_a_body_in_a_charset_that_is_not_text_is_a_parse_error(user, codec):
    # A compressing "charset" would expand a body that passed the size check into
    # anything: refused before it is decoded, on every DRF version we support.
    client = Client()
    body = codecs.encode(
        json.dumps({"username": "x" * 3_000_000, "password": "y"}).encode(), "bz2_codec"
    )
    before = DeviceSession.objects.count()
    # generic(): post() would re-encode the bytes into the charset named.
    response = client.generic(
        "POST", "/api/auth/login/", body, content_type=f"application/json; charset={codec}"
    )
    assert_json_error(response, 400, "parse_error")
    assert DeviceSession.objects.count() == before


@pytest.mark.parametrize("path", ["/api/auth/refresh/", "/api/auth/logout/"])
@pytest.mark.parametrize(
    "form",
    ["&".join(f"f{i}=1" for i in range(1100)), "a=" + "x" * 2_700_000],
    ids=["1100 fields", "2.7 MB form"],
)
def test_a_cookie_request_with_an_oversized_form_is_413(user, path, form):
    client = browser()
    sign_in(client)
    before = DeviceSession.objects.values_list("refresh_jti", "revoked_at").get()

    response = client.post(
        path, form, content_type="application/x-www-form-urlencoded", **csrf(client)
    )

    assert_json_error(response, 413, "request_too_large")
    assert DeviceSession.objects.values_list("refresh_jti", "revoked_at").get() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/nothing/",
        "/api/auth/sessions/not-a-uuid/",
        "/api/auth/sessions/1/",
        f"/api/auth/sessions/{uuid.uuid4()}/extra/",
        "/api/auth/sessions/%00/",
    ],
)
def test_an_unknown_path_or_malformed_id_under_our_prefix_is_a_json_404(user, path):
    access = sign_in(browser(), HTTP_X_TOKEN_TRANSPORT="body").json()["access"]
    client = browser(HTTP_AUTHORIZATION=f"Bearer {access}")
    rename = client.patch(path, {"name": "x"}, content_type="application/json")
    for response in (rename, client.delete(path)):
        assert_json_error(response, 404, "not_found")


def test_an_upper_case_session_id_names_the_session(user):
    login = sign_in(browser(), HTTP_X_TOKEN_TRANSPORT="body").json()
    client = browser(HTTP_AUTHORIZATION=f"Bearer {login['access']}")
    path = f"/api/auth/sessions/{login['session']['id'].upper()}/"

    renamed = client.patch(path, {"name": "Desk"}, content_type="application/json")
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Desk"
    assert client.delete(path).status_code == 204
    assert DeviceSession.objects.get().revoked_at is not None


def test_other_apps_under_other_prefixes_keep_their_own_errors(user):
    response = browser().get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_framework_errors_are_json_with_their_headers(user):
    client = browser()
    wrong_method = client.get("/api/auth/login/")
    assert_json_error(wrong_method, 405, "method_not_allowed")
    assert "POST" in wrong_method["Allow"]

    html_only = sign_in(client, HTTP_ACCEPT="text/html")
    assert_json_error(html_only, 406, "not_acceptable")

    form = client.post("/api/auth/login/", {"username": "alice", "password": PASSWORD})
    assert_json_error(form, 415, "unsupported_media_type")


@override_settings(TOKEN_SESSIONS={"LOGIN_THROTTLE_RATE": "2/min"})
def test_a_throttled_login_is_json_429_with_retry_after(user):
    client = browser()
    for _ in range(2):
        client.post(
            "/api/auth/login/",
            {"username": "alice", "password": "wrong"},
            content_type="application/json",
        )
    response = sign_in(client)
    assert_json_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


# -- Finding 7: a 204 logout never leaves the caller's session alive ---------------------


def test_logout_with_a_stale_cookie_and_a_valid_bearer_ends_the_bearers_session(user):
    client = browser()
    sign_in(client)
    stale = client.cookies[COOKIE].value
    assert client.post("/api/auth/logout/", **csrf(client)).status_code == 204
    # A second device, whose access token the page holds; the old cookie comes back.
    access = sign_in(browser(), HTTP_X_TOKEN_TRANSPORT="body").json()["access"]
    client.cookies[COOKIE] = stale
    assert bearer(access).get("/api/me/").status_code == 200

    response = client.post(
        "/api/auth/logout/", HTTP_AUTHORIZATION=f"Bearer {access}", **csrf(client)
    )

    assert response.status_code == 204
    assert bearer(access).get("/api/me/").status_code == 401
    assert not DeviceSession.objects.filter(revoked_at__isnull=True).exists()


def test_logout_with_a_refresh_token_and_a_bearer_of_another_session_ends_both(user, login):
    first, second = login(user), login(user)

    response = bearer(second["access"]).post(
        "/api/auth/logout/", {"refresh": first["refresh"]}, format="json"
    )

    assert response.status_code == 204
    assert not DeviceSession.objects.filter(revoked_at__isnull=True).exists()
    assert bearer(second["access"]).get("/api/me/").status_code == 401


def test_a_refused_refresh_token_leaves_the_bearers_session_alive(user, login):
    tokens = login(user)

    response = bearer(tokens["access"]).post(
        "/api/auth/logout/", {"refresh": "garbage"}, format="json"
    )

    assert_json_error(response, 401, "token_invalid")
    assert DeviceSession.objects.get().revoked_at is None
    assert bearer(tokens["access"]).get("/api/me/").status_code == 200


def test_logout_with_only_a_dead_bearer_token_is_refused(user, login):
    tokens = login(user)
    bearer(tokens["access"]).post("/api/auth/logout/")

    response = bearer(tokens["access"]).post("/api/auth/logout/")

    assert_json_error(response, 401, "session_revoked")


# -- Finding 8: token responses and the session list are never cached --------------------


def test_token_responses_and_the_session_list_are_no_store(user):
    client = browser()
    login = sign_in(client)
    refreshed = client.post("/api/auth/refresh/", **csrf(client))
    sessions = client.get(
        "/api/auth/sessions/", HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}"
    )
    wrong_password = client.post(
        "/api/auth/login/",
        {"username": "alice", "password": "wrong"},
        content_type="application/json",
    )
    for response in (login, refreshed, sessions, wrong_password):
        assert "no-store" in response["Cache-Control"], response.request["PATH_INFO"]
