"""The example's pages work in Chromium under their strict Content-Security-Policy.

Every browser test fails on a violation (tests/browser/conftest.py); these go through
what the other tests do not: the admin, Swagger UI at /api/docs/, and a check that the
browser does enforce the policy and that a violation is seen by the watch.
"""

from __future__ import annotations

import time
from importlib.util import find_spec
from typing import Any

import pytest

from tests.conftest import require_service
from tests.support.example_server import DEMO_PASSWORD, DEMO_USERNAME

from .test_account_page import sign_in, wait_for_state

pytestmark = pytest.mark.browser


def test_account_page_runs_under_its_policy(new_device: Any, csp_violations: list[str]) -> None:
    page = new_device()
    with page.expect_response("**/") as page_info:
        page.goto("/")
    policy = page_info.value.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    wait_for_state(page, "signed-out")

    sign_in(page)  # login, GET /api/me/ and the devices list with the access token
    with page.expect_response("**/api/auth/refresh/") as refresh_info:
        page.get_by_test_id("refresh-now").click()
    assert refresh_info.value.status == 200
    page.reload()  # the silent refresh from the HttpOnly cookie
    wait_for_state(page, "signed-in")
    page.get_by_test_id("signout").click()
    wait_for_state(page, "signed-out")
    assert csp_violations == []

    # The browser enforces the policy, and the watch sees a violation: an inline script
    # the page would add (what an HTML injection would) does not run.
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true";
          document.body.append(script);
        }"""
    )
    deadline = time.monotonic() + 5
    while not any("script-src" in v for v in csp_violations) and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # Playwright delivers the page's report meanwhile
    assert page.evaluate("window.__inlineRan") is None
    assert any("script-src" in violation for violation in csp_violations), csp_violations
    csp_violations.clear()


def test_admin_runs_under_the_policy(new_device: Any) -> None:
    page = new_device()
    sign_in(page)  # a device session for the admin to list
    page.goto("/admin/login/")
    page.locator("#id_username").fill(DEMO_USERNAME)
    page.locator("#id_password").fill(DEMO_PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/")

    page.goto("/admin/token_sessions/devicesession/?q=demo")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() >= 1
    rows.first.locator("a[href*='/change/']").first.click()
    page.wait_for_url("**/change/**")
    assert page.locator("#content h1").is_visible()
    page.goto("/admin/auth/user/add/")
    page.locator("#id_username").wait_for()
    # The admin's own scripts ran: the action bar's "select all" checkbox works.
    page.goto("/admin/token_sessions/devicesession/")
    page.locator("#action-toggle").check()
    assert page.locator("#result_list tbody input.action-select").first.is_checked()


def test_api_docs_run_under_the_policy(new_device: Any) -> None:
    installed = all(find_spec(name) for name in ("drf_spectacular", "drf_spectacular_sidecar"))
    require_service(
        installed,
        "the /api/docs/ browser test needs drf-spectacular and drf-spectacular-sidecar "
        "(without the sidecar Swagger UI comes from a CDN)",
    )
    page = new_device()
    with page.expect_response("**/api/docs/") as docs_info:
        page.goto("/api/docs/")
    assert "cdn.jsdelivr.net" not in docs_info.value.headers["content-security-policy"]
    # Swagger UI rendered the schema: one block per operation, /api/me/ among them.
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock-summary-path", has_text="/api/me/").count() == 1
