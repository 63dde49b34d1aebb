"""Fixtures of the browser tests: the example project served over HTTP, and Chromium.

Every page a test opens is watched for Content-Security-Policy violations (the example
serves a strict policy): a test that caused one fails at teardown with what was blocked,
unless it took them with :func:`csp_violations`.

These tests talk HTTP only: they never touch pytest-django's test database. The example
project runs in a subprocess on its own temporary SQLite file, with its own settings
(``example.settings``), after ``migrate`` and ``create_demo_user``.

Chromium is Debian's (``apt-get install chromium`` → /usr/bin/chromium), driven by the
``playwright`` package's sync API; no browser is ever downloaded. Without either the
tests skip, or fail when ``CI`` is set (:func:`tests.conftest.require_service`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import require_service

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _playwright_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright.

    Module-scoped, not session-scoped: Playwright's sync API keeps an asyncio loop marked
    as running in this thread while it lives, which would make Django's ORM refuse to work
    (SynchronousOnlyOperation) in database tests collected after these.
    """
    have_chromium = bool(shutil.which(CHROMIUM)) or os.access(CHROMIUM, os.X_OK)
    require_service(
        have_chromium,
        f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
    )
    require_service(
        _playwright_available(),
        "browser tests need the playwright package (pip install playwright)",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


#: Runs in every document before its own scripts: reports each violation to Python, where
#: the list survives navigations (a list in the page would not).
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline code"}` +
      ` at ${event.sourceFile || document.location.href}:${event.lineNumber}`,
  );
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """The CSP violations of this test's pages so far (the browser's report and its
    console message, each once); a test that expects some clears the list."""
    return []


@pytest.fixture
def new_device(
    browser: Any, example_server: str, csp_violations: list[str]
) -> Iterator[Callable[..., Any]]:
    """Factory: ``new_device()`` → a fresh browser context (a separate device) with a page.

    Returns the page; its context is ``page.context``. All are closed after the test,
    which then fails if any of its pages broke the Content-Security-Policy.
    """
    contexts: list[Any] = []

    def on_console(message: Any) -> None:
        # Chromium also logs each violation: "Refused to ... because it violates the
        # following Content Security Policy directive ...".
        if "Content Security Policy" in message.text:
            csp_violations.append(f"console: {message.text}")

    def make(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 860})
        options.setdefault("base_url", example_server)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.expose_binding(
            "__cspViolation", lambda _source, text: csp_violations.append(f"report: {text}")
        )
        context.add_init_script(_REPORT_VIOLATIONS)
        context.on("console", on_console)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert csp_violations == [], "the page broke its Content-Security-Policy"
