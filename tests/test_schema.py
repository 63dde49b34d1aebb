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

# The error codes page of the docs: a table generated from our exception classes, and a
# hand-written one of the codes of DRF and simplejwt.
ERRORS_PAGE = REPO / "docs" / "reference" / "errors.md"
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


ERROR_REF = {"$ref": "#/components/schemas/TokenSessionsError"}
#: The statuses every operation documents, and those of an operation with a request body.
COMMON_STATUSES = {"405", "406", "429", "500", "503"}
BODY_STATUSES = {"400", "413", "415"}
ANONYMOUS = {
    ("/api/auth/login/", "post"),
    ("/api/auth/refresh/", "post"),
    ("/api/auth/logout/", "post"),
}


def error_codes(op: dict[str, Any], status: int | str) -> set[str]:
    """The codes an error response lists: its examples, also named in its description."""
    response = op["responses"][str(status)]
    body = response["content"]["application/json"]
    assert body["schema"] == ERROR_REF
    codes = {example["value"]["code"] for example in body["examples"].values()}
    for code in codes:
        assert f"`{code}`" in response["description"]
    return codes


def documented_codes() -> set[str]:
    """Every code the docs' error page lists: ours, if the page holds the table generated
    from the exception classes (docs/_ext renders each class that has a docstring), and the
    rows of its hand-written table (``| 401 | `not_authenticated` | ...``)."""
    page = ERRORS_PAGE.read_text()
    generated: set[str] = set()
    if ".. tokensessions-errors::" in page:
        generated = {
            error.code
            for error in _subclasses(TokenSessionError)
            if error.__module__.startswith("django_token_sessions.")
            and (error.__doc__ or "").strip()
        }
    return generated | set(re.findall(r"^\| \d{3} \| `(\w+)` \|", page, flags=re.MULTILINE))


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
    assert set(components["Login"]["properties"]) == {"username", "password", "device"}
    # Required as the server requires them (USERNAME_FIELD may stand in for username).
    assert set(components["Login"]["required"]) == {"username", "password"}
    # An app may name its device; both parts optional.
    assert components["Login"]["properties"]["device"] == {"$ref": "#/components/schemas/AppDevice"}
    assert set(components["AppDevice"]["properties"]) == {"name", "platform"}
    assert "required" not in components["AppDevice"]
    assert login["required"] is True
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
    # The view validates the PATCH body whole: not drf-spectacular's partial "Patched" body.
    assert rename["required"] is True
    assert rename["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RenameSession"
    }
    assert components["RenameSession"]["required"] == ["name"]
    assert not any(name.startswith("Patched") for name in components)


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
    assert error_codes(login, 405) == {"method_not_allowed"}
    assert error_codes(login, 406) == {"not_acceptable"}
    assert error_codes(login, 413) == {"request_too_large"}
    assert error_codes(login, 401) == {"invalid_credentials"}
    assert error_codes(login, 415) == {"unsupported_media_type"}
    assert error_codes(login, 429) == {"throttled"}
    assert error_codes(login, 500) == {"server_error", "refresh_token_exposed"}
    (invalid,) = [
        example["value"]
        for example in login["responses"]["400"]["content"]["application/json"]["examples"].values()
        if example["value"]["code"] == "invalid_request"
    ]
    assert invalid["errors"]
    refresh = operation(schema, "/api/auth/refresh/", "post")
    assert error_codes(refresh, 401) == set(extensions.REFRESH_FAILURES)
    assert {"token_reused", "token_expired", "session_revoked"} <= error_codes(refresh, 401)
    assert error_codes(refresh, 403) == {"csrf_failed"}
    assert error_codes(refresh, 500) == {"server_error", "refresh_token_exposed"}
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


def test_every_status_the_server_can_answer_is_documented(schema):
    # A generated client with raise_on_unexpected_status must never meet an undocumented
    # status: 405 and 406 from DRF, 429 from any throttle, 500 and 503 as JSON; with a
    # body, 400, 413 and 415 too.
    expected = {
        ("/api/auth/login/", "post"): {"200", "401"} | BODY_STATUSES,
        ("/api/auth/refresh/", "post"): {"200", "401", "403"} | BODY_STATUSES,
        ("/api/auth/logout/", "post"): {"204", "401", "403"} | BODY_STATUSES,
        ("/api/auth/logout-all/", "post"): {"204", "401"} | BODY_STATUSES,
        ("/api/auth/sessions/", "get"): {"200", "401"},
        ("/api/auth/sessions/{id}/", "patch"): {"200", "401", "404"} | BODY_STATUSES,
        ("/api/auth/sessions/{id}/", "delete"): {"204", "401", "404"},
    }
    assert set(expected) == OPERATIONS
    for (route, method), statuses in expected.items():
        op = operation(schema, route, method)
        assert set(op["responses"]) == statuses | COMMON_STATUSES, (route, method)
        assert error_codes(op, 405) == {"method_not_allowed"}
        assert error_codes(op, 406) == {"not_acceptable"}
        assert error_codes(op, 429) == {"throttled"}
        retry_after = op["responses"]["429"]["headers"]["Retry-After"]
        assert retry_after["schema"] == {"type": "integer"}
        assert "server_error" in error_codes(op, 500)


def test_one_shared_error_component_with_an_open_code(schema):
    # One model for every error, so a generated client has one error type; `code` is a
    # plain string, so a code added in a later release parses in an older client.
    error = schema["components"]["schemas"]["TokenSessionsError"]
    assert set(error["required"]) == {"detail", "code"}
    assert error["properties"]["detail"] == {
        "type": "string",
        "description": error["properties"]["detail"]["description"],
    }
    code = error["properties"]["code"]
    assert code["type"] == "string"
    assert "enum" not in code
    assert "allOf" not in code
    assert "$ref" not in code
    for known in extensions.KNOWN_CODES:
        assert f"`{known}`" in code["description"]
    errors = error["properties"]["errors"]
    assert errors["type"] == "object"
    assert errors["additionalProperties"] == {"type": "array", "items": {"type": "string"}}
    # The only other component schemas are the bodies and one request enum.
    assert set(schema["components"]["schemas"]) == {
        "AppDevice",
        "DeviceSession",
        "Login",
        "LoginResponse",
        "LogoutAll",
        "RenameSession",
        "ScopeEnum",
        "TokenResponse",
        "TokenSessionsError",
    }
    seen = set()
    for route, method in OPERATIONS:
        for status, response in operation(schema, route, method)["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == ERROR_REF
                seen.update(error_codes(operation(schema, route, method), status))
    assert seen == set(extensions.KNOWN_CODES)


def test_schema_codes_and_the_readme_table_agree(schema):
    in_schema = {
        code
        for item in schema["paths"].values()
        for op in item.values()
        for status, response in op.get("responses", {}).items()
        if status.startswith(("4", "5"))
        for code in error_codes(op, status)
    }
    assert in_schema == documented_codes()


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def test_every_documented_code_is_the_code_of_an_exception_class():
    # Ours: each has a row in the docs' generated table. Any other row is DRF's code for one
    # of its own exceptions, or simplejwt's for a malformed Authorization header.
    ours = {
        error.code
        for error in (TokenSessionError, *_subclasses(TokenSessionError))
        if error.__module__.startswith("django_token_sessions.")
    }
    theirs = {str(error.default_code) for error in _subclasses(APIException)}
    documented = documented_codes()
    assert ours <= documented
    assert documented - ours <= theirs | {extensions.BAD_AUTHORIZATION_HEADER}


def test_bearer_scheme_and_security(schema):
    scheme = schema["components"]["securitySchemes"]["sessionJWT"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert set(schema["components"]["securitySchemes"]) == {"sessionJWT"}
    # No global requirement: an operation without `security` needs no credential.
    assert "security" not in schema
    for route, method in OPERATIONS:
        security = operation(schema, route, method).get("security", [])
        if (route, method) in ANONYMOUS:
            # Not [{}] (AllowAny's "optional"): openapi-python-client reads any non-empty
            # list as "needs an AuthenticatedClient". Logout takes a bearer token too, but
            # a refresh token alone is enough.
            assert security == [], route
        else:
            assert security == [{"sessionJWT": []}], route


def test_refresh_cookie_transport_header_and_set_cookie(schema):
    # No operation declares a cookie parameter: generated httpx code would pass it per
    # request (deprecated by httpx). The cookie is described, and lives in the cookie jar.
    for route, method in OPERATIONS:
        parameters = operation(schema, route, method).get("parameters", [])
        assert [p for p in parameters if p["in"] == "cookie"] == [], route
    for route in ("/api/auth/refresh/", "/api/auth/logout/"):
        op = operation(schema, route, "post")
        assert op["x-refresh-cookie"] == {
            "name": "tokensessions_refresh",
            "in": "cookie",
            "httpOnly": True,
        }
        assert "`tokensessions_refresh`" in op["description"]
    login = operation(schema, "/api/auth/login/", "post")
    (header,) = [p for p in login["parameters"] if p["in"] == "header"]
    assert header["name"] == "X-Token-Transport"
    assert header["schema"]["enum"] == ["body", "cookie"]
    assert "Set-Cookie" in login["responses"]["200"]["headers"]
    assert (
        "Set-Cookie"
        in operation(schema, "/api/auth/logout/", "post")["responses"]["204"]["headers"]
    )


def test_refresh_documents_its_retry_key_header(schema):
    (key,) = operation(schema, "/api/auth/refresh/", "post")["parameters"]
    assert (key["in"], key["name"], key.get("required", False)) == (
        "header",
        "Idempotency-Key",
        False,
    )
    assert key["schema"] == {
        "type": "string",
        "minLength": 16,
        "maxLength": 255,
        "pattern": "^[!-~]+$",
    }


def test_the_cookie_name_follows_the_setting():
    refresh = operation(generate(REFRESH_COOKIE_NAME="rt"), "/api/auth/refresh/", "post")
    assert refresh["x-refresh-cookie"]["name"] == "rt"
    assert "`rt`" in refresh["description"]


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
