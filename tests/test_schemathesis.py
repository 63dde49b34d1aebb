"""Schema-driven fuzzing: schemathesis against the example project's own OpenAPI schema.

The example project runs in a subprocess of its own (tests/support/example_server.py), and the
schema is loaded from its /api/schema/ over HTTP, as a client would. Every operation gets
a bounded number of generated requests, authenticated with a real bearer token of the
demo user, and every response must: not be a 5xx, use a documented status code and
content type, and match the documented body (so each error ``code`` is in that status's
enumeration) and headers. Needs drf-spectacular and schemathesis; marked ``fuzz``.
"""

from __future__ import annotations

import json
import os
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

try:
    import drf_spectacular  # noqa: F401
    import schemathesis
except ImportError as missing:  # skipped on a laptop without them; an error in CI
    if os.environ.get("CI"):
        raise
    pytest.skip(f"needs schemathesis and drf-spectacular ({missing})", allow_module_level=True)

from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.example_server import DEMO_PASSWORD, DEMO_USERNAME, serve

pytestmark = pytest.mark.fuzz

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
#: The operations a 401 answers for the bearer token (the demo session may be over).
BEARER_ONLY = {
    "/api/auth/logout-all/",
    "/api/auth/sessions/",
    "/api/auth/sessions/{id}/",
    "/api/me/",
}
#: Generated requests per operation (8 operations): under a minute in all; raise it with
#: SCHEMATHESIS_MAX_EXAMPLES for a longer run.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))


class DemoLogin:
    """The demo user's current session on the served example, renewed once it has ended."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.body: dict[str, Any] | None = None

    def current(self) -> dict[str, Any]:
        if self.body is None:
            request = urllib.request.Request(
                self.base_url + "/api/auth/login/",
                data=json.dumps({"username": DEMO_USERNAME, "password": DEMO_PASSWORD}).encode(),
                headers={"Content-Type": "application/json", "X-Token-Transport": "body"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                self.body = json.loads(response.read())
        return self.body

    def forget(self) -> None:
        self.body = None


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A server of its own: the fuzzer logs out everywhere, which must not reach the
    # sessions of other tests sharing the session-scoped ``example_server``.
    yield from serve(tmp_path_factory.mktemp("schemathesis_server"))


@pytest.fixture(scope="module")
def demo(fuzz_server: str) -> DemoLogin:
    return DemoLogin(fuzz_server)


@pytest.fixture(scope="module")
def example_schema(fuzz_server: str) -> Any:
    loaded = schemathesis.openapi.from_url(fuzz_server + "/api/schema/")
    loaded.config.update(base_url=fuzz_server)
    # Valid requests only: invalid ones (a path id that is not a UUID) never reach the
    # API and get Django's HTML 404, which is not ours to document.
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
        unique_inputs=True,
    )
    return loaded


schema = schemathesis.pytest.from_fixture("example_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_schema(case: Any, demo: DemoLogin) -> None:
    session = demo.current()
    headers = dict(case.headers or {})
    headers["Authorization"] = f"Bearer {session['access']}"
    case.headers = headers
    # Half of the generated ids are replaced by the real session's, so rename and revoke
    # also succeed (a random UUID is always a 404).
    path_id = (case.path_parameters or {}).get("id")
    if path_id is not None and zlib.crc32(str(path_id).encode()) % 2:
        case.path_parameters["id"] = session["session"]["id"]
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    if response.status_code == 204 or (response.status_code == 401 and case.path in BEARER_ONLY):
        # A logout, logout-all or revocation may have ended the demo session.
        demo.forget()
