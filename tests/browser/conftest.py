"""Fixtures of the browser tests: the example project served over HTTP, and Chromium.

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
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service

REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "example_project" / "manage.py"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Rotation grace window of the served example, short so a replay test need not wait 10 s.
GRACE_SECONDS = 1.0
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"


def _server_env(db_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env.update(
        EXAMPLE_SQLITE_PATH=str(db_path),
        DEMO_ROTATION_GRACE_SECONDS=str(GRACE_SECONDS),
        DEMO_LOGIN_THROTTLE_RATE="",  # off: the tests sign in many times from 127.0.0.1
        DJANGO_DEBUG="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"example server did not answer at {url}:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def example_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT``) of the example project, served in a subprocess."""
    workdir = tmp_path_factory.mktemp("example_server")
    env = _server_env(workdir / "example.sqlite3")
    for command in (["migrate", "--noinput", "-v", "0"], ["create_demo_user"]):
        subprocess.run(
            [sys.executable, str(MANAGE), *command],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
            timeout=120,
        )
    port_file = workdir / "port"
    log = workdir / "server.log"
    with log.open("wb") as log_handle:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("serve_example.py")), str(port_file)],
            env=env,
            cwd=REPO,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"example server did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.05)
        base_url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        _wait_until_up(base_url + "/", proc, log, timeout=30)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


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


@pytest.fixture
def new_device(browser: Any, example_server: str) -> Iterator[Callable[..., Any]]:
    """Factory: ``new_device()`` → a fresh browser context (a separate device) with a page.

    Returns the page; its context is ``page.context``. All are closed after the test.
    """
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 860})
        options.setdefault("base_url", example_server)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
