"""The OpenAPI schema (drf-spectacular, the ``schema`` extra) and the example's schema URLs.

The schema is generated in-process from the app's URLs under the test settings, then the
example project's is checked with the same command a maintainer runs
(``manage.py spectacular --validate --fail-on-warn``) and over HTTP. Without
drf-spectacular installed, the app and the example still work (a subprocess hides it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.urls import include, path

pytest.importorskip("drf_spectacular")
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.exceptions import APIException

from django_token_sessions import schema as extensions
from django_token_sessions.exceptions import TokenSessionError
from django_token_sessions.serializers import DeviceSessionSerializer
from tests.support.example_server import EXAMPLE_DIR, MANAGE, REPO

README = REPO / "README.md"
PREFIX = "/api/auth/"
OPERATIONS = {
    ("/api/auth/login/", "post"),
    ("/api/auth/refresh/", "post"),
    ("/api/auth/logout/", "post"),
    ("/api/auth/logout-all/", "post"),
    ("/api/auth/sessions/", "get"),
    ("/api/auth/sessions/{id}/", "patch"),
    ("/api/auth/sessions/{id}/", "delete"),
}
_SPECTACULAR = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}


def generate(**token_sessions: Any) -> dict[str, Any]:
    """The app's schema as the test settings produce it; fails on any generator warning."""
    patterns = [path(PREFIX.strip("/") + "/", include("django_token_sessions.urls"))]
    with override_settings(REST_FRAMEWORK=_SPECTACULAR, TOKEN_SESSIONS=token_sessions):
        GENERATOR_STATS.reset()
        result = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
        problems = (dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache))
        GENERATOR_STATS.reset()
    assert problems == ({}, {}), f"schema generation warnings/errors: {problems}"
    return json.loads(json.dumps(result, default=str))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return generate()


def operation(schema: dict[str, Any], route: str, method: str) -> dict[str, Any]:
    result: dict[str, Any] = schema["paths"][route][method]
    return result


def error_codes(op: dict[str, Any], status: int) -> set[str]:
    body = op["responses"][str(status)]["content"]["application/json"]["schema"]
    assert body["required"] == ["detail", "code"]
    return set(body["properties"]["code"]["enum"])


def readme_codes() -> set[str]:
    return set(re.findall(r"^\| \d{3} \| `(\w+)` \|", README.read_text(), flags=re.MULTILINE))


def test_schema_generates_without_warnings_and_is_valid_openapi(schema):
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_every_endpoint_and_method_is_documented(schema):
    documented = {
        (route, method)
        for route, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert documented == OPERATIONS
    for route, method in OPERATIONS:
        op = operation(schema, route, method)
        assert op["operationId"].startswith("token_sessions_")
        assert op["summary"]
        assert op["tags"] == ["token-sessions"]


def test_request_bodies(schema):
    components = schema["components"]["schemas"]
    login = operation(schema, "/api/auth/login/", "post")["requestBody"]
    assert login["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Login"}
    assert set(components["Login"]["properties"]) == {"username", "password"}
    for route in ("/api/auth/refresh/", "/api/auth/logout/"):
        body = operation(schema, route, "post")["requestBody"]
        # Optional: a browser sends no body and the refresh cookie instead.
        assert not body.get("required", False)
        assert body["content"]["application/json"]["schema"]["required"] == ["refresh"]
    logout_all = operation(schema, "/api/auth/logout-all/", "post")["requestBody"]
    scope = components["LogoutAll"]["properties"]["scope"]
    (enum,) = scope["allOf"]
    assert components[enum["$ref"].rsplit("/", 1)[1]]["enum"] == ["all", "others"]
    assert scope["default"] == "all"
    assert not logout_all.get("required", False)
    rename = operation(schema, "/api/auth/sessions/{id}/", "patch")["requestBody"]
    assert (
        "name"
        in components[rename["content"]["application/json"]["schema"]["$ref"][21:]]["properties"]
    )


def test_response_bodies(schema):
    components = schema["components"]["schemas"]
    login = operation(schema, "/api/auth/login/", "post")["responses"]["200"]
    assert login["content"]["application/json"]["schema"]["$ref"].endswith("/LoginResponse")
    login_body = components["LoginResponse"]
    assert set(login_body["properties"]) == {"access", "refresh", "access_expires_at", "session"}
    # refresh is in the body only with the body transport.
    assert set(login_body["required"]) == {"access", "access_expires_at", "session"}
    assert login_body["properties"]["access_expires_at"]["format"] == "date-time"
    refresh = operation(schema, "/api/auth/refresh/", "post")["responses"]["200"]
    assert refresh["content"]["application/json"]["schema"]["$ref"].endswith("/TokenResponse")
    assert set(components["TokenResponse"]["properties"]) == {
        "access",
        "refresh",
        "access_expires_at",
    }
    device = components["DeviceSession"]
    assert set(device["properties"]) == set(DeviceSessionSerializer.Meta.fields)
    assert device["properties"]["ip_address"].get("nullable") is True
    listing = operation(schema, "/api/auth/sessions/", "get")["responses"]["200"]
    assert listing["content"]["application/json"]["schema"]["type"] == "array"
    for route, method in [
        ("/api/auth/logout/", "post"),
        ("/api/auth/logout-all/", "post"),
        ("/api/auth/sessions/{id}/", "delete"),
    ]:
        assert "content" not in operation(schema, route, method)["responses"]["204"]


def test_error_codes_are_enumerated_per_endpoint_and_status(schema):
    login = operation(schema, "/api/auth/login/", "post")
    assert error_codes(login, 400) == {"invalid_request", "parse_error", "bad_request"}
    assert error_codes(login, 406) == {"not_acceptable"}
    assert error_codes(login, 413) == {"request_too_large"}
    assert "Retry-After" in login["responses"]["429"]["headers"]
    assert error_codes(login, 401) == {"invalid_credentials"}
    assert error_codes(login, 415) == {"unsupported_media_type"}
    assert error_codes(login, 429) == {"throttled"}
    assert (
        "errors" in login["responses"]["400"]["content"]["application/json"]["schema"]["properties"]
    )
    refresh = operation(schema, "/api/auth/refresh/", "post")
    assert error_codes(refresh, 401) == set(extensions.REFRESH_FAILURES)
    assert {"token_reused", "token_expired", "session_revoked"} <= error_codes(refresh, 401)
    assert error_codes(refresh, 403) == {"csrf_failed"}
    logout = operation(schema, "/api/auth/logout/", "post")
    assert error_codes(logout, 401) == set(extensions.REFRESH_FAILURES) | set(
        extensions.BEARER_FAILURES
    )
    for route, method in [("/api/auth/sessions/", "get"), ("/api/auth/sessions/{id}/", "delete")]:
        op = operation(schema, route, method)
        assert error_codes(op, 401) == set(extensions.BEARER_FAILURES)
    rename = operation(schema, "/api/auth/sessions/{id}/", "patch")
    assert error_codes(rename, 404) == {"not_found"}
    (session_id,) = rename["parameters"]
    assert session_id["schema"] == {"type": "string", "format": "uuid"}


def test_every_operation_documents_the_503_of_a_lost_database(schema):
    for route, method in OPERATIONS:
        assert error_codes(operation(schema, route, method), 503) == {"service_unavailable"}


def test_schema_codes_and_the_readme_table_agree(schema):
    in_schema = {
        code
        for item in schema["paths"].values()
        for op in item.values()
        for status, response in op.get("responses", {}).items()
        if status.startswith(("4", "5"))
        for code in response["content"]["application/json"]["schema"]["properties"]["code"]["enum"]
    }
    documented = readme_codes()
    assert in_schema <= documented
    # No documented operation returns 405; the 500s are server faults, not client errors.
    assert documented - in_schema == {
        "method_not_allowed",
        "refresh_token_exposed",
        "server_error",
    }


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def test_every_documented_code_is_the_code_of_an_exception_class():
    # Ours: each has a row in the README. Any other row is DRF's code for one of its own
    # exceptions, or simplejwt's for a malformed Authorization header.
    ours = {
        error.code
        for error in (TokenSessionError, *_subclasses(TokenSessionError))
        if error.__module__.startswith("django_token_sessions.")
    }
    theirs = {str(error.default_code) for error in _subclasses(APIException)}
    documented = readme_codes()
    assert ours <= documented
    assert documented - ours <= theirs | {extensions.BAD_AUTHORIZATION_HEADER}


def test_bearer_scheme_and_security(schema):
    scheme = schema["components"]["securitySchemes"]["sessionJWT"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for route, method in OPERATIONS:
        security = operation(schema, route, method).get("security", [])
        if route in ("/api/auth/login/", "/api/auth/refresh/"):
            assert {"sessionJWT": []} not in security
        else:
            assert {"sessionJWT": []} in security


def test_refresh_cookie_transport_header_and_set_cookie(schema):
    for route in ("/api/auth/refresh/", "/api/auth/logout/"):
        cookies = [p for p in operation(schema, route, "post")["parameters"] if p["in"] == "cookie"]
        assert [(p["name"], p.get("required", False)) for p in cookies] == [
            ("tokensessions_refresh", False)
        ]
    login = operation(schema, "/api/auth/login/", "post")
    (header,) = [p for p in login["parameters"] if p["in"] == "header"]
    assert header["name"] == "X-Token-Transport"
    assert header["schema"]["enum"] == ["body", "cookie"]
    assert "Set-Cookie" in login["responses"]["200"]["headers"]
    assert (
        "Set-Cookie"
        in operation(schema, "/api/auth/logout/", "post")["responses"]["204"]["headers"]
    )


def test_the_cookie_name_follows_the_setting():
    refresh = operation(generate(REFRESH_COOKIE_NAME="rt"), "/api/auth/refresh/", "post")
    assert [p["name"] for p in refresh["parameters"] if p["in"] == "cookie"] == ["rt"]


def test_the_views_themselves_are_left_undecorated(schema):
    # The extensions document subclasses: the real views carry no drf-spectacular state
    # (extend_schema puts a ``schema`` on a class, ``kwargs`` on a method).
    from django_token_sessions import views

    for view in (views.LoginView, views.RefreshView, views.LogoutView, views.SessionDetailView):
        assert "schema" not in vars(view)
        for method in ("post", "patch", "delete"):
            assert not hasattr(vars(view).get(method), "kwargs")


# -- the example project -----------------------------------------------------------------


def _example_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env["EXAMPLE_SQLITE_PATH"] = str(tmp_path / "example.sqlite3")
    return env


def test_example_schema_command_validates_with_no_warning(tmp_path):
    out = tmp_path / "schema.yaml"
    result = subprocess.run(
        [sys.executable, MANAGE, "spectacular", "--validate", "--fail-on-warn", "--file", out],
        env=_example_env(tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    assert "Error" not in result.stderr, result.stderr
    assert "/api/me/:" in out.read_text()


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_example_serves_the_schema_and_the_docs_page(example_server):
    status, content_type, raw = _get(example_server + "/api/schema/?format=json")
    assert status == 200
    assert content_type.startswith("application/vnd.oai.openapi+json")
    served = json.loads(raw)
    assert {(route, method) for route, method in OPERATIONS} <= {
        (route, method) for route, item in served["paths"].items() for method in item
    }
    assert "/api/me/" in served["paths"]
    assert not any(route.startswith("/admin/") for route in served["paths"])

    status, content_type, raw = _get(example_server + "/api/docs/")
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    page = raw.decode()
    assert "/api/schema/" in page
    if find_spec("drf_spectacular_sidecar") is None:
        # Without the sidecar, Swagger UI comes from drf-spectacular's default CDN.
        assert "cdn.jsdelivr.net/npm/swagger-ui-dist" in page
        return
    # drf-spectacular-sidecar serves Swagger UI from the site itself: no CDN, works offline.
    assets = re.findall(r'"(/static/drf_spectacular_sidecar/[^"]+)"', page)
    assert assets, page[:2000]
    assert "cdn.jsdelivr.net" not in page
    for asset in assets:
        assert _get(example_server + asset)[0] == 200


_WITHOUT_SPECTACULAR = """
import sys
sys.modules["drf_spectacular"] = None  # as if the "schema" extra were not installed
import django
from django.conf import settings
from django.core.management import call_command
from django.urls import Resolver404, resolve
django.setup()
call_command("check")
assert "django_token_sessions.schema" not in sys.modules
assert "drf_spectacular" not in settings.INSTALLED_APPS
resolve("/api/auth/login/")
if settings.ROOT_URLCONF == "example.urls":
    for url in ("/api/schema/", "/api/docs/"):
        try:
            resolve(url)
        except Resolver404:
            continue
        raise AssertionError(url + " is served without drf-spectacular")
print("ok")
"""


@pytest.mark.parametrize("settings_module", ["tests.settings", "example.settings"])
def test_without_drf_spectacular_everything_else_works(tmp_path, settings_module):
    env = _example_env(tmp_path)
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(EXAMPLE_DIR)])
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SPECTACULAR],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "ok", result.stdout
