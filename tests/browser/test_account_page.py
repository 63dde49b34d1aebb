"""The demo account page in a real browser: cookie transport, silent refresh, devices.

Each browser context is one device. The example project is served by the
``example_server`` fixture with a 1 s rotation grace window and no login throttle.
Screenshots go to a temporary folder, or to docs/screenshots/ with UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.example_server import DEMO_PASSWORD, DEMO_USERNAME, GRACE_SECONDS, REPO

pytestmark = pytest.mark.browser

REFRESH_COOKIE = "tokensessions_refresh"


def _post_json(url: str, data: dict, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(autouse=True)
def no_demo_sessions(browser: Any, example_server: str) -> None:
    """Every test starts with the demo user signed in nowhere (the server outlives tests)."""
    status, body = _post_json(
        f"{example_server}/api/auth/login/",
        {"username": DEMO_USERNAME, "password": DEMO_PASSWORD},
        headers={"X-Token-Transport": "body"},
    )
    assert status == 200, body
    status, body = _post_json(
        f"{example_server}/api/auth/logout-all/",
        {"scope": "all"},
        headers={"Authorization": f"Bearer {body['access']}"},
    )
    assert status == 204, body


def sign_in(page: Any, username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD) -> None:
    page.goto("/")
    page.wait_for_selector("body[data-state='signed-out']")
    page.get_by_test_id("signin-username").fill(username)
    page.get_by_test_id("signin-password").fill(password)
    page.get_by_test_id("signin-submit").click()
    wait_for_state(page, "signed-in")
    wait_for_text(page, "me-username", DEMO_USERNAME)


def wait_for_state(page: Any, state: str) -> None:
    page.wait_for_selector(f"body[data-state='{state}']")


def wait_for_text(page: Any, testid: str, text: str) -> None:
    page.wait_for_function(
        "([id, text]) => (document.querySelector(`[data-testid='${id}']`)?.textContent || '')"
        ".includes(text)",
        arg=[testid, text],
    )


def refresh_cookie(page: Any) -> dict[str, Any] | None:
    cookies = [c for c in page.context.cookies() if c["name"] == REFRESH_COOKIE]
    assert len(cookies) <= 1, cookies
    return cookies[0] if cookies else None


def device_rows(page: Any) -> Any:
    return page.get_by_test_id("device-row")


def wait_for_device_count(page: Any, count: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll(\"[data-testid='device-row']\").length === n", arg=count
    )


def reload_devices(page: Any) -> None:
    """Click "Reload devices" and wait until the list has been rendered again."""
    table = page.get_by_test_id("devices-table")
    before = int(table.get_attribute("data-renders") or 0)
    page.get_by_test_id("devices-reload").click()
    page.wait_for_function(
        "n => Number(document.getElementById('devices-table').dataset.renders || 0) > n",
        arg=before,
    )


def test_wrong_password_shows_an_error(new_device: Any) -> None:
    page = new_device()
    page.goto("/")
    wait_for_state(page, "signed-out")
    page.get_by_test_id("signin-username").fill(DEMO_USERNAME)
    page.get_by_test_id("signin-password").fill("not-the-password")
    page.get_by_test_id("signin-submit").click()
    error = page.get_by_test_id("signin-error")
    error.wait_for(state="visible")
    assert error.text_content() == "Wrong username or password."
    assert page.evaluate("document.body.dataset.state") == "signed-out"
    assert refresh_cookie(page) is None


def test_refresh_token_only_in_an_httponly_cookie(new_device: Any) -> None:
    page = new_device()
    page.goto("/")
    wait_for_state(page, "signed-out")
    page.get_by_test_id("signin-username").fill(DEMO_USERNAME)
    page.get_by_test_id("signin-password").fill(DEMO_PASSWORD)
    with page.expect_response("**/api/auth/login/") as login_info:
        page.get_by_test_id("signin-submit").click()
    login = login_info.value
    assert login.status == 200
    body = login.json()
    assert "refresh" not in body, "a browser login must not get the refresh token in JSON"
    assert body["access"]
    wait_for_state(page, "signed-in")
    wait_for_text(page, "me-username", DEMO_USERNAME)
    wait_for_text(page, "token-status", "Access token issued at")

    cookie = refresh_cookie(page)
    assert cookie is not None, page.context.cookies()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/api/auth/"
    assert cookie["secure"] is False  # the demo runs over plain http
    csrf = next(c for c in page.context.cookies() if c["name"] == "csrftoken")
    assert csrf["secure"] is cookie["secure"]  # one switch for both (example settings)

    script_cookies = page.evaluate("document.cookie")
    assert REFRESH_COOKIE not in script_cookies
    assert cookie["value"] not in script_cookies
    assert body["access"] not in script_cookies
    assert "csrftoken=" in script_cookies  # the double-submit half scripts must read

    storage = page.evaluate(
        "() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})"
    )
    for secret in (cookie["value"], body["access"], "eyJ"):
        assert secret not in storage, storage
    assert json.loads(storage) == {"local": {}, "session": {}}


def test_reload_keeps_the_user_signed_in(new_device: Any) -> None:
    page = new_device()
    sign_in(page)
    before = refresh_cookie(page)
    assert before is not None

    with page.expect_response("**/api/auth/refresh/") as refresh_info:
        page.reload()
    assert refresh_info.value.status == 200
    assert "refresh" not in refresh_info.value.json()
    wait_for_state(page, "signed-in")
    wait_for_text(page, "me-username", DEMO_USERNAME)
    wait_for_text(page, "token-status", "Access token refreshed at")
    after = refresh_cookie(page)
    assert after is not None
    assert after["value"] != before["value"], "the silent refresh rotates the refresh token"
    assert after["httpOnly"] is True


def test_timer_refreshes_before_the_access_token_expires(new_device: Any) -> None:
    page = new_device()
    page.clock.install()
    sign_in(page)
    rotated = refresh_cookie(page)
    # The example issues 1-minute access tokens; the page refreshes 15 s before expiry.
    with page.expect_response("**/api/auth/refresh/") as refresh_info:
        page.clock.fast_forward("00:50")
    assert refresh_info.value.status == 200
    wait_for_text(page, "token-status", "Access token refreshed at")
    wait_for_text(page, "token-rotations", "1")
    assert refresh_cookie(page)["value"] != rotated["value"]


def test_api_401_refreshes_once_and_retries(new_device: Any) -> None:
    page = new_device()
    sign_in(page)
    # Make the next GET /api/auth/sessions/ answer 401 as an expired access token would.
    state = {"failed": False}

    def expire_once(route: Any) -> None:
        if state["failed"]:
            route.continue_()
            return
        state["failed"] = True
        route.fulfill(
            status=401,
            content_type="application/json",
            body=json.dumps({"detail": "Token has expired.", "code": "token_expired"}),
        )

    page.route("**/api/auth/sessions/", expire_once)
    with page.expect_response("**/api/auth/refresh/") as refresh_info:
        reload_devices(page)
    assert refresh_info.value.status == 200
    wait_for_text(page, "token-status", "Access token refreshed at")
    wait_for_device_count(page, 1)
    assert state["failed"]
    assert page.evaluate("document.body.dataset.state") == "signed-in"


def test_a_device_an_app_named_shows_with_its_name(new_device: Any, example_server: str) -> None:
    status, body = _post_json(
        f"{example_server}/api/auth/login/",
        {
            "username": DEMO_USERNAME,
            "password": DEMO_PASSWORD,
            "device": {"name": "Anna's Pixel 8", "platform": "android"},
        },
        headers={"X-Token-Transport": "body", "User-Agent": "ExampleApp/2.3 okhttp/4.12.0"},
    )
    assert status == 200, body
    page = new_device()
    sign_in(page)
    reload_devices(page)
    wait_for_device_count(page, 2)
    app = page.locator("[data-testid='device-row'][data-current='false']")
    assert app.get_by_test_id("device-name").text_content() == "Anna's Pixel 8 (Android)"


def test_second_device_rename_and_revoke(new_device: Any) -> None:
    first = new_device()
    second = new_device()
    sign_in(first)
    sign_in(second)

    reload_devices(first)
    wait_for_device_count(first, 2)
    current = first.locator("[data-testid='device-row'][data-current='true']")
    other = first.locator("[data-testid='device-row'][data-current='false']")
    assert current.get_by_test_id("device-current-badge").is_visible()
    assert not other.get_by_test_id("device-current-badge").is_visible()
    assert not current.get_by_test_id("device-revoke").is_visible()
    assert (
        current.get_attribute("data-session-id")
        == first.get_by_test_id("me-session-id").text_content()
    )
    assert other.get_by_test_id("device-ip").text_content() == "127.0.0.1"

    other.get_by_test_id("device-rename").click()
    other.get_by_test_id("device-rename-input").fill("Work laptop")
    other.get_by_test_id("device-rename-save").click()
    wait_for_text(first, "notice", "Device renamed.")
    assert other.get_by_test_id("device-name").text_content() == "Work laptop"

    reload_devices(second)
    wait_for_device_count(second, 2)
    mine = second.locator("[data-testid='device-row'][data-current='true']")
    assert mine.get_by_test_id("device-name").text_content() == "Work laptop"

    other.get_by_test_id("device-revoke").click()
    wait_for_text(first, "notice", "Signed out “Work laptop”.")
    wait_for_device_count(first, 1)

    # The revoked device finds out on its next action: its access token is refused, its
    # refresh token too, and the page falls back to the sign-in form.
    second.get_by_test_id("devices-reload").click()
    wait_for_state(second, "signed-out")
    wait_for_text(second, "notice", "this device's session was ended")
    assert refresh_cookie(second) is None, "the refused cookie is deleted"
    second.reload()
    wait_for_state(second, "signed-out")

    # The first device is unaffected.
    reload_devices(first)
    wait_for_device_count(first, 1)
    assert first.evaluate("document.body.dataset.state") == "signed-in"


def test_sign_out_other_devices(new_device: Any) -> None:
    first, second, third = new_device(), new_device(), new_device()
    for page in (first, second, third):
        sign_in(page)
    first.get_by_test_id("signout-others").click()
    wait_for_text(first, "notice", "All other devices were signed out.")
    wait_for_device_count(first, 1)
    for page in (second, third):
        page.get_by_test_id("devices-reload").click()
        wait_for_state(page, "signed-out")
    first.reload()
    wait_for_state(first, "signed-in")


def test_sign_out_everywhere(new_device: Any) -> None:
    first, second = new_device(), new_device()
    sign_in(first)
    sign_in(second)

    first.get_by_test_id("signout-everywhere").click()
    wait_for_state(first, "signed-out")
    wait_for_text(first, "notice", "You were signed out on every device.")
    assert refresh_cookie(first) is None

    second.get_by_test_id("devices-reload").click()
    wait_for_state(second, "signed-out")
    for page in (first, second):
        page.reload()
        wait_for_state(page, "signed-out")


def test_sign_out_ends_only_this_device(new_device: Any) -> None:
    first, second = new_device(), new_device()
    sign_in(first)
    sign_in(second)
    first.get_by_test_id("signout").click()
    wait_for_state(first, "signed-out")
    wait_for_text(first, "notice", "You have signed out.")
    assert refresh_cookie(first) is None
    first.reload()
    wait_for_state(first, "signed-out")
    reload_devices(second)
    wait_for_device_count(second, 1)
    assert second.evaluate("document.body.dataset.state") == "signed-in"


def _post_refresh_with_cookie(base_url: str, refresh_token: str, csrf: str) -> tuple[int, dict]:
    return _post_json(
        f"{base_url}/api/auth/refresh/",
        {},
        headers={
            "Cookie": f"{REFRESH_COOKIE}={refresh_token}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
        },
    )


def test_replayed_refresh_token_ends_the_session(new_device: Any, example_server: str) -> None:
    page = new_device()
    sign_in(page)
    stolen = refresh_cookie(page)
    assert stolen is not None
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")

    with page.expect_response("**/api/auth/refresh/") as refresh_info:
        page.get_by_test_id("refresh-now").click()
    assert refresh_info.value.status == 200
    wait_for_text(page, "token-rotations", "1")
    assert refresh_cookie(page)["value"] != stolen["value"]

    time.sleep(GRACE_SECONDS + 0.5)
    status, body = _post_refresh_with_cookie(example_server, stolen["value"], csrf)
    assert (status, body.get("code")) == (401, "token_reused"), body

    # The page still holds a valid-looking access token and the newest refresh token,
    # but the session is over: its next action signs it out.
    page.get_by_test_id("devices-reload").click()
    wait_for_state(page, "signed-out")
    assert refresh_cookie(page) is None
    page.reload()
    wait_for_state(page, "signed-out")


def test_screenshots(new_device: Any, tmp_path: Path) -> None:
    out = REPO / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    laptop = new_device(
        user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
    )
    phone = new_device(
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    )
    page = new_device(
        user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36"
    )

    page.goto("/")
    wait_for_state(page, "signed-out")
    page.screenshot(path=str(out / "signin.png"))

    sign_in(laptop)
    sign_in(phone)
    sign_in(page)
    wait_for_device_count(page, 3)
    laptop_row = page.locator("[data-testid='device-row'][data-current='false']").filter(
        has_text="macOS"
    )
    laptop_row.get_by_test_id("device-rename").click()
    laptop_row.get_by_test_id("device-rename-input").fill("Work MacBook")
    laptop_row.get_by_test_id("device-rename-save").click()
    wait_for_text(page, "devices-table", "Work MacBook")
    with page.expect_response("**/api/auth/sessions/"):
        page.get_by_test_id("refresh-now").click()
    wait_for_text(page, "token-status", "Access token refreshed at")
    wait_for_device_count(page, 3)

    page.screenshot(path=str(out / "account.png"), full_page=True)
    page.get_by_test_id("devices-panel").screenshot(path=str(out / "devices.png"))
    for name in ("signin.png", "account.png", "devices.png"):
        assert (out / name).stat().st_size > 10_000
