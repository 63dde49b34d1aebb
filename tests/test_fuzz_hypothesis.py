"""Property-based hostile input (hypothesis): no input crashes an endpoint or changes state.

Every endpoint gets random JSON bodies, random text and bytes as tokens (the body's
``refresh``, ``Authorization: Bearer``, the ``tokensessions_refresh`` cookie), random
cookies and headers. Each response must be 2xx or 4xx, never 5xx; a 4xx must be JSON
``{"detail", "code"}`` with a code from the docs' error page; and no device session
may change (every row is compared before and after each example). Afterwards the user's
real session still works.

Header and cookie values are drawn as bytes and decoded as latin-1: that is all a WSGI or
ASGI server can hand to Django. The tests run one user's setup per test and many examples
inside it, each of which must leave the database as it found it.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from django_token_sessions.exceptions import TokenSessionError
from django_token_sessions.models import DeviceSession
from tests.support.clients import PASSWORD

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Bounded for CI, reproducible there (derandomize); HYPOTHESIS_PROFILE=token_sessions_deep
# explores more, with a fresh seed each run.
settings.register_profile(
    "token_sessions_ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "token_sessions_deep",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "token_sessions_ci"))

ERRORS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "errors.md"


def documented_codes() -> set[str]:
    """The codes of the docs' error page: those of our exception classes, which its
    generated table lists, and those of its table of DRF's codes
    (``| 401 | `not_authenticated` | ...``)."""
    ours = {error.code for error in _subclasses(TokenSessionError)}
    return ours | set(
        re.findall(r"^\| \d{3} \| `(\w+)` \|", ERRORS_PAGE.read_text(), flags=re.MULTILINE)
    )


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


CODES = documented_codes()
COOKIE = "tokensessions_refresh"
SNAPSHOT_FIELDS = (
    "id",
    "user_id",
    "refresh_jti",
    "previous_jti",
    "created_at",
    "last_seen_at",
    "rotated_at",
    "idle_expires_at",
    "absolute_expires_at",
    "revoked_at",
    "revoke_reason",
    "ip_address",
    "user_agent",
    "device_label",
    "name",
)

# -- strategies ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
#: What a WSGI server can put in a header or cookie value: any byte, as latin-1.
wire_text = st.binary(max_size=300).map(lambda raw: raw.decode("latin-1"))
#: Any text a JSON body can carry, lone surrogates included (``"\\ud800"``).
body_text = st.text(max_size=300) | st.text(st.characters(categories=["Cs"]), min_size=1)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


jwt_shaped = st.builds(
    lambda header, payload, signature: f"{header}.{payload}.{signature}",
    st.one_of(
        st.binary(max_size=60).map(b64url),
        st.sampled_from(
            [
                b64url(b'{"alg":"none","typ":"JWT"}'),
                b64url(b'{"alg":"HS256","typ":"JWT"}'),
                b64url(b'{"alg":"RS256","typ":"JWT"}'),
                b64url(b"{}"),
                "",
            ]
        ),
    ),
    st.one_of(
        st.binary(max_size=120).map(b64url),
        json_values.map(lambda value: b64url(json.dumps(value).encode())),
    ),
    st.binary(max_size=64).map(b64url),
)


def mutated(token: str) -> st.SearchStrategy[str]:
    """``token`` with one character changed, never the last of a segment (whose low
    bits base64 ignores, so changing it may leave the token valid)."""
    positions = [
        i for i, c in enumerate(token) if c != "." and token[i + 1 : i + 2] not in ("", ".")
    ]
    return st.builds(
        lambda i, c: token[:i] + c + token[i + 1 :],
        st.sampled_from(positions),
        st.sampled_from("AQgw_-0+/=. \x00é"),
    ).filter(lambda candidate: candidate != token)


def garbage_tokens(real: dict[str, Any]) -> st.SearchStrategy[str]:
    """Garbage, JWT-shaped garbage, and the real tokens altered."""
    return st.one_of(
        wire_text,
        jwt_shaped,
        mutated(real["access"]),
        mutated(real["refresh"]),
        st.sampled_from(["", " ", "null", "Bearer", real["refresh"] + "x", "x" * 20_000]),
    )


def hostile_tokens(real: dict[str, Any]) -> st.SearchStrategy[str]:
    """What may arrive where a refresh token is expected (body, cookie)."""
    # The genuine access token is hostile only here, in the wrong place.
    return garbage_tokens(real) | st.just(real["access"])


def hostile_bearers(real: dict[str, Any]) -> st.SearchStrategy[str]:
    """What may arrive in ``Authorization``."""
    return st.one_of(
        garbage_tokens(real).map(lambda token: f"Bearer {token}"),
        st.just(f"Bearer {real['refresh']}"),  # a refresh token used as an access token
        st.sampled_from(["Bearer", "Bearer  ", "Basic dXNlcjpwYXNz", f"JWT {real['access']}"]),
        st.builds(lambda a, b: f"Bearer {a} {b}", wire_text, wire_text),
        wire_text,
    )


HEADER_NAMES = [
    "HTTP_X_TOKEN_TRANSPORT",
    "HTTP_USER_AGENT",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_ORIGIN",
    "HTTP_REFERER",
    "HTTP_X_CSRFTOKEN",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_ACCEPT",
    "REMOTE_ADDR",
]


def random_headers() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(HEADER_NAMES), wire_text, max_size=4)


def random_cookie_header(tokens: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A raw ``Cookie:`` header: the refresh cookie, csrftoken, and random others."""
    pairs = st.lists(
        st.tuples(st.sampled_from([COOKIE, "csrftoken", "sessionid", "x"]) | wire_text, tokens),
        max_size=3,
    )
    return pairs.map(lambda items: "; ".join(f"{name}={value}" for name, value in items))


@st.composite
def bodies(draw: Any, tokens: st.SearchStrategy[str]) -> tuple[bytes, str]:
    """A request body and its content type: JSON of any shape, ``refresh``-shaped JSON,
    or bytes that are not JSON at all."""
    kind = draw(st.sampled_from(["json", "refresh", "login", "raw", "deep", "large", "fields"]))
    if kind == "deep":
        # Nesting past what Python's parser recurses through (a RecursionError was a 500).
        depth = draw(st.integers(min_value=900, max_value=20_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        payload = (opener * depth + "1" + closer * depth).encode()
    elif kind == "large":
        # Past DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): built, not drawn, to stay fast.
        size = draw(st.integers(min_value=2_621_441, max_value=3_500_000))
        payload = json.dumps({"refresh": "x" * size, "username": "a", "password": "b"}).encode()
    elif kind == "fields":
        # A form past DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000), as a cookie request sends it.
        count = draw(st.integers(min_value=1001, max_value=3000))
        payload = "&".join(f"f{i}=1" for i in range(count)).encode()
        return payload, "application/x-www-form-urlencoded"
    elif kind == "json":
        payload = json.dumps(draw(json_values)).encode()
    elif kind == "refresh":
        value = draw(tokens | body_text | json_values)
        payload = json.dumps({"refresh": value}).encode()
    elif kind == "login":
        fields = st.fixed_dictionaries(
            {}, optional={"username": body_text | json_values, "password": body_text | json_values}
        )
        payload = json.dumps(draw(fields)).encode()
    else:
        payload = draw(st.binary(max_size=300))
    content_type = draw(
        st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"])
        | wire_text
    )
    return payload, content_type


DEEP_BODY = (b"[" * 5000 + b"]" * 5000, "application/json")
LARGE_BODY = (json.dumps({"refresh": "x" * 3_000_000}).encode(), "application/json")
MANY_FIELDS = (
    "&".join(f"f{i}=1" for i in range(1100)).encode(),
    "application/x-www-form-urlencoded",
)


# -- the invariants --------------------------------------------------------------------


def snapshot() -> list[tuple[Any, ...]]:
    return list(DeviceSession.objects.order_by("id").values_list(*SNAPSHOT_FIELDS))


def assert_refused_cleanly(response: Any) -> None:
    """2xx or 4xx; a 4xx is JSON ``{"detail", "code"}`` with a documented code."""
    status = response.status_code
    assert status < 500, (status, response.content[:500])
    if status < 400:
        return
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    assert {"detail", "code"} <= set(body) <= {"detail", "code", "errors"}, body
    assert isinstance(body["detail"], str), body
    assert body["code"] in CODES, f"undocumented code {body['code']!r} ({status}): {body}"


def send(method: str, path: str, body: tuple[bytes, str] | None, **extra: str) -> Any:
    client = APIClient()
    if body is None:
        return client.generic(method, path, **extra)
    payload, content_type = body
    return client.generic(method, path, payload, content_type=content_type, **extra)


def assert_real_session_works(real: dict[str, Any]) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {real['access']}"}
    assert APIClient().get("/api/auth/sessions/", **auth).status_code == 200
    response = APIClient().post("/api/auth/refresh/", {"refresh": real["refresh"]}, format="json")
    assert response.status_code == 200, response.content


ENDPOINTS = [
    ("POST", "/api/auth/login/"),
    ("POST", "/api/auth/refresh/"),
    ("POST", "/api/auth/logout/"),
    ("POST", "/api/auth/logout-all/"),
    ("GET", "/api/auth/sessions/"),
    ("PATCH", "/api/auth/sessions/{sid}/"),
    ("DELETE", "/api/auth/sessions/{sid}/"),
    ("GET", "/api/me/"),
]

# tests/urls.py's /api/me/ is a project's own view; with our handler configured, its
# errors take the same shape as the app's.
with_our_error_shape = override_settings(
    REST_FRAMEWORK={"EXCEPTION_HANDLER": "django_token_sessions.views.exception_handler"},
    TOKEN_SESSIONS={"LOGIN_THROTTLE_RATE": None, "LOGIN_USERNAME_THROTTLE_RATE": None},
)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_hostile_requests_are_refused_without_a_trace(user, login, method, path):
    with with_our_error_shape:
        real = login(user)
        path = path.format(sid=real["session"]["id"])
        before = snapshot()
        tokens = hostile_tokens(real)

        @FUZZ
        @given(
            body=st.none() | bodies(tokens),
            authorization=st.none() | hostile_bearers(real),
            cookie=st.none() | random_cookie_header(tokens),
            headers=random_headers(),
            enforce_csrf=st.booleans(),
        )
        # Each was a 500 (RecursionError) or an HTML 400 page on every endpoint.
        @example(body=DEEP_BODY, authorization=None, cookie=None, headers={}, enforce_csrf=False)
        @example(body=LARGE_BODY, authorization=None, cookie=None, headers={}, enforce_csrf=False)
        @example(body=MANY_FIELDS, authorization=None, cookie=None, headers={}, enforce_csrf=False)
        def hostile(body, authorization, cookie, headers, enforce_csrf):
            extra = dict(headers)
            if authorization is not None:
                extra["HTTP_AUTHORIZATION"] = authorization
            if cookie is not None:
                extra["HTTP_COOKIE"] = cookie
            client = APIClient(enforce_csrf_checks=enforce_csrf)
            if body is None:
                response = client.generic(method, path, **extra)
            else:
                payload, content_type = body
                response = client.generic(method, path, payload, content_type=content_type, **extra)
            assert_refused_cleanly(response)
            assert snapshot() == before

        hostile()
        assert_real_session_works(real)


@pytest.mark.django_db
def test_hostile_refresh_cookie_alone_is_refused_without_a_trace(user, login):
    # The cookie path only: no body, so the cookie's token is the one presented, and the
    # test client's CSRF bypass lets it reach the token checks.
    with with_our_error_shape:
        real = login(user)
        before = snapshot()

        @FUZZ
        @given(token=hostile_tokens(real), path=st.sampled_from(["refresh", "logout"]))
        def hostile(token, path):
            response = APIClient().post(f"/api/auth/{path}/", HTTP_COOKIE=f"{COOKIE}={token}")
            assert_refused_cleanly(response)
            assert snapshot() == before

        hostile()
        assert_real_session_works(real)


@pytest.mark.django_db
def test_rename_with_a_real_token_and_random_bodies(user, login):
    # With a valid bearer token a random body may be a valid rename: only the name may
    # change, and nothing may crash.
    with with_our_error_shape:
        real = login(user)
        path = f"/api/auth/sessions/{real['session']['id']}/"
        auth = f"Bearer {real['access']}"

        def without_name(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            return [row[:-1] for row in rows]

        before = without_name(snapshot())

        @FUZZ
        @given(body=bodies(hostile_tokens(real)), headers=random_headers())
        def rename(body, headers):
            response = send("PATCH", path, body, HTTP_AUTHORIZATION=auth, **headers)
            assert_refused_cleanly(response)
            assert without_name(snapshot()) == before

        rename()
        assert_real_session_works(real)


@pytest.mark.django_db
def test_login_with_random_client_headers_never_crashes(user):
    # A successful login stores the client's address and user agent: any header value
    # a server can deliver must be stored (or dropped) without an error.
    with with_our_error_shape:

        @FUZZ
        @given(headers=random_headers())
        @example(headers={"HTTP_USER_AGENT": "Firefox\x00"})  # was a 500 on PostgreSQL
        def sign_in(headers):
            response = APIClient().post(
                "/api/auth/login/",
                {"username": user.get_username(), "password": PASSWORD},
                format="json",
                **{k: v for k, v in headers.items() if k != "HTTP_ACCEPT"},
            )
            assert response.status_code == 200, response.content[:500]
            assert response.json()["session"]["id"]

        sign_in()


@pytest.mark.django_db
def test_a_nul_byte_in_the_user_agent_is_dropped(user):
    # Regression: PostgreSQL refused the NUL (DataError), and the login answered 500.
    response = APIClient().post(
        "/api/auth/login/",
        {"username": user.get_username(), "password": PASSWORD},
        format="json",
        HTTP_USER_AGENT="Mozilla/5.0\x00 (X11; Linux x86_64) Firefox/128.0",
    )
    assert response.status_code == 200, response.content
    stored = DeviceSession.objects.get(pk=response.json()["session"]["id"])
    assert stored.user_agent == "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
