"""The endpoint table over real HTTP, against the example project served in a subprocess.

Uses ``example_server`` (tests/conftest.py): the example project on its own SQLite file.
No Django test client and no shared database: what a deployment's clients see. The
example's own hardening is tested here too: it refuses to start with DEBUG off and no
``DJANGO_SECRET_KEY``, serves a strict Content-Security-Policy, and its ``csrftoken`` and
``sessionid`` cookies are Secure exactly when the refresh cookie is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib.util import find_spec
from typing import Any

import pytest

from tests.support.example_server import DEMO, EXAMPLE_DIR, MANAGE, REPO, Http, serve


def native(base: str) -> tuple[Http, dict[str, Any]]:
    client = Http(base)
    status, body = client.call("POST", "/api/auth/login/", DEMO, X_Token_Transport="body")
    assert status == 200, body
    return client, body


def test_endpoint_table_for_a_native_client(example_server):
    app, body = native(example_server)
    auth = {"Authorization": f"Bearer {body['access']}"}

    status, me = app.call("GET", "/api/me/", **auth)
    assert (status, me["username"]) == (200, "demo")

    status, rotated = app.call("POST", "/api/auth/refresh/", {"refresh": body["refresh"]})
    assert status == 200
    assert rotated["refresh"] != body["refresh"]
    auth = {"Authorization": f"Bearer {rotated['access']}"}

    other, other_body = native(example_server)
    status, rows = app.call("GET", "/api/auth/sessions/", **auth)
    assert status == 200
    ids = {row["id"]: row["current"] for row in rows}
    assert ids[body["session"]["id"]] is True
    assert ids[other_body["session"]["id"]] is False

    path = f"/api/auth/sessions/{other_body['session']['id']}/"
    status, renamed = app.call("PATCH", path, {"name": "Old phone"}, **auth)
    assert (status, renamed["name"]) == (200, "Old phone")
    assert app.call("DELETE", path, **auth)[0] == 204
    other_auth = {"Authorization": f"Bearer {other_body['access']}"}
    assert other.call("GET", "/api/me/", **other_auth)[1]["code"] == "session_revoked"

    third, third_body = native(example_server)
    assert app.call("POST", "/api/auth/logout-all/", {"scope": "others"}, **auth)[0] == 204
    third_auth = {"Authorization": f"Bearer {third_body['access']}"}
    assert third.call("GET", "/api/me/", **third_auth)[0] == 401
    assert app.call("GET", "/api/me/", **auth)[0] == 200

    assert app.call("POST", "/api/auth/logout/", {"refresh": rotated["refresh"]})[0] == 204
    assert app.call("GET", "/api/me/", **auth)[1]["code"] == "session_revoked"


def test_reuse_detection_over_http(example_server):
    app, body = native(example_server)
    status, rotated = app.call("POST", "/api/auth/refresh/", {"refresh": body["refresh"]})
    assert status == 200
    # The example serves a 1 s grace window to the tests (DEMO_ROTATION_GRACE_SECONDS).
    time.sleep(1.2)
    status, error = app.call("POST", "/api/auth/refresh/", {"refresh": body["refresh"]})
    assert (status, error["code"]) == (401, "token_reused")
    status, error = app.call("POST", "/api/auth/refresh/", {"refresh": rotated["refresh"]})
    assert (status, error["code"]) == (401, "session_revoked")


def test_browser_transport_over_http(example_server):
    page = Http(example_server)
    status, body = page.call("POST", "/api/auth/login/", DEMO)
    assert status == 200
    assert "refresh" not in body
    assert "tokensessions_refresh" in page.cookies
    assert "csrftoken" in page.cookies

    status, error = page.call("POST", "/api/auth/refresh/")
    assert (status, error["code"]) == (403, "csrf_failed")

    csrf = {"X_CSRFToken": page.cookies["csrftoken"]}
    status, rotated = page.call("POST", "/api/auth/refresh/", **csrf)
    assert status == 200
    assert "refresh" not in rotated
    assert page.call("POST", "/api/auth/logout/", **csrf)[0] == 204
    assert "tokensessions_refresh" not in page.cookies


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/auth/login/", {"username": ["x"], "password": {}}),
        ("POST", "/api/auth/refresh/", {"refresh": "x" * 5000}),
        ("POST", "/api/auth/logout/", {"refresh": "a.b.c"}),
        ("POST", "/api/auth/logout-all/", {"scope": "all"}),
        ("GET", "/api/auth/sessions/", None),
        ("PATCH", "/api/auth/sessions/00000000-0000-0000-0000-000000000000/", {"name": 1}),
    ],
)
def test_bad_input_is_a_json_4xx(example_server, method, path, body):
    status, error = Http(example_server).call(method, path, body)
    assert 400 <= status < 500
    assert set(error) >= {"detail", "code"}


# -- the example project's own hardening (teams copy it) -------------------------------

_SETTINGS_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from django.conf import settings
print(json.dumps({"DEBUG": settings.DEBUG, "SECRET_KEY": settings.SECRET_KEY}))
"""


def _example_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Load ``example.settings`` in a fresh interpreter with only ``env`` configured (no
    ``DJANGO_*``/``DEMO_*`` variable of the calling environment leaks in)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DEMO_")) and k != "PYTHONPATH"
    }
    clean.update(DJANGO_SETTINGS_MODULE="example.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", _SETTINGS_PROBE, str(EXAMPLE_DIR)],
        env=clean,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_example_refuses_to_start_with_debug_off_and_no_secret_key():
    result = _example_settings(DJANGO_DEBUG="0")
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_example_refuses_its_development_key_with_debug_off():
    # Copying the key the demo falls back to into the environment is no way round it.
    demo = _example_settings()
    assert demo.returncode == 0, demo.stderr
    development_key = json.loads(demo.stdout)["SECRET_KEY"]
    result = _example_settings(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=development_key)
    assert result.returncode != 0, result.stdout
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_example_demo_needs_no_configuration_and_a_deployment_uses_its_key():
    # `tox -e demo` and the README's runserver command set nothing: DEBUG is on.
    demo = _example_settings()
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["DEBUG"] is True
    # With DEBUG off, the key comes from the environment, and the check passes.
    result = _example_settings(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="k" * 60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"DEBUG": False, "SECRET_KEY": "k" * 60}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEMO_"))}
    check = subprocess.run(
        [sys.executable, str(MANAGE), "check"],
        env={**clean, "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "k" * 60},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


def csp_directives(header: str) -> dict[str, list[str]]:
    """``"default-src 'self'; img-src 'self' data:"`` → ``{"default-src": ["'self'"], ...}``."""
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives.setdefault(name.lower(), sources)  # the first one counts, as in browsers
    return directives


#: Sources that would let an injected script or style run.
UNSAFE_SOURCES = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:"}
#: Every HTML page of the example; /api/docs/ with the "schema" extra only.
HTML_PAGES = ["/", "/admin/login/"] + (["/api/docs/"] if find_spec("drf_spectacular") else [])


@pytest.mark.parametrize("path", HTML_PAGES)
def test_example_pages_have_a_strict_content_security_policy(example_server, path):
    status, _, headers, _ = Http(example_server).request("GET", path)
    assert status == 200
    header = headers["Content-Security-Policy"]
    assert header, f"{path} is served without a Content-Security-Policy"
    policy = csp_directives(header)
    assert policy["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        sources = policy.get(directive, policy["default-src"])
        assert not set(sources) & (UNSAFE_SOURCES | {"https:"}), (directive, header)
        if path != "/api/docs/":
            assert sources == ["'self'"], (directive, header)
        else:  # Swagger UI's files from drf-spectacular's CDN, without the sidecar
            assert set(sources) <= {"'self'", "https://cdn.jsdelivr.net"}, (directive, header)
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


class _InlineCode(HTMLParser):
    """What a policy without 'unsafe-inline' would block: inline scripts and styles,
    ``style=`` and ``on…=`` attributes, ``javascript:`` URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            self._in_script = True
            if not names.get("src"):
                self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append("<script> with inline code")


@pytest.mark.parametrize("path", HTML_PAGES)
def test_example_pages_need_nothing_their_policy_forbids(example_server, path):
    status, page, _, _ = Http(example_server).request("GET", path)
    assert status == 200
    parser = _InlineCode()
    parser.feed(page)
    assert parser.found == []


@pytest.fixture(scope="module")
def deployed_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example with DEBUG off and no cookie switch (``DEMO_COOKIE_SECURE`` unset), as
    a team that copies its settings deploys it."""
    yield from serve(tmp_path_factory.mktemp("deployed_example"), DEMO_COOKIE_SECURE=None)


@pytest.fixture(scope="module")
def secure_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example with its cookie switch turned on (``DEMO_COOKIE_SECURE=1``)."""
    yield from serve(tmp_path_factory.mktemp("secure_example"), DEMO_COOKIE_SECURE="1")


@pytest.mark.parametrize(
    ("server", "secure"),
    [("example_server", False), ("secure_example", True), ("deployed_example", True)],
)
def test_csrf_and_session_cookies_are_secure_when_the_refresh_cookie_is(request, server, secure):
    base = request.getfixturevalue(server)
    page = Http(base)
    status, body, _, cookies = page.request("POST", "/api/auth/login/", DEMO)
    assert status == 200, body
    assert bool(cookies["tokensessions_refresh"]["secure"]) is secure
    # The page reads csrftoken to send X-CSRFToken with the refresh cookie: over http a
    # copy of it on the wire is a copy of the other half of that defence.
    assert bool(cookies["csrftoken"]["secure"]) is secure
    assert not cookies["csrftoken"]["httponly"], "the page's script must read it"

    admin = Http(base)
    status, _, _, cookies = admin.request("GET", "/admin/login/")
    assert status == 200
    assert bool(cookies["csrftoken"]["secure"]) is secure
    form = {**DEMO, "csrfmiddlewaretoken": admin.cookies["csrftoken"], "next": "/admin/"}
    status, _, headers, cookies = admin.request("POST", "/admin/login/", form, form=True)
    assert (status, headers["Location"]) == (302, "/admin/"), cookies
    assert bool(cookies["sessionid"]["secure"]) is secure
    assert cookies["sessionid"]["httponly"]


def test_responses_do_not_name_the_worker_unless_asked(example_server):
    # X-Worker-Pid is for tests/test_multiprocess.py only (DEMO_WORKER_PID_HEADER=1).
    for path in ("/", "/api/auth/sessions/"):
        _, _, headers, _ = Http(example_server).request("GET", path)
        assert "X-Worker-Pid" not in headers
