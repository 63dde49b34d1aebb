"""The example project served over real HTTP for tests, in a subprocess.

``python tests/support/example_server.py PORT_FILE`` (after ``migrate`` and
``create_demo_user``)
binds 127.0.0.1 on a free port, writes the port to PORT_FILE once it listens, and serves
until killed: Django's threaded development WSGI server wrapped in the static files
handler, as LiveServerTestCase does, so no runserver autoreloader or DEBUG-only static
serving is involved. Settings come from the environment (EXAMPLE_SQLITE_PATH,
DEMO_ROTATION_GRACE_SECONDS, ...): DEBUG off, as a deployment runs, so the server gets a
``DJANGO_SECRET_KEY`` made for this test run (the example refuses to start without one),
and plain-http cookies (``DEMO_COOKIE_SECURE=0``), since it is served over http.
:func:`serve` is the fixture body behind ``example_server`` in tests/conftest.py;
:class:`Http` is a client of it with a cookie jar of its own, signing in as :data:`DEMO`.

Run as a script by path, not with ``-m``: the server then imports the package installed in
the environment (tox's wheel), not the source tree at the repository root.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.client import HTTPMessage
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "example_project"
MANAGE = EXAMPLE_DIR / "manage.py"
#: Rotation grace window of the served example, short so a replay test need not wait 10 s.
GRACE_SECONDS = 1.0
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
#: The login body of the demo user.
DEMO = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
#: The served example's SECRET_KEY: one per test run, never written down anywhere.
SECRET_KEY = secrets.token_urlsafe(50)


def _server_env(db_path: Path, **overrides: str | None) -> dict[str, str]:
    """The served example's environment; an override of ``None`` unsets that variable."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env.update(
        EXAMPLE_SQLITE_PATH=str(db_path),
        DEMO_ROTATION_GRACE_SECONDS=str(GRACE_SECONDS),
        DEMO_LOGIN_THROTTLE_RATE="",  # off: the tests sign in many times from 127.0.0.1
        DEMO_LOGIN_USERNAME_THROTTLE_RATE="",  # off: and always as the demo user
        DEMO_COOKIE_SECURE="0",  # served over plain http
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=SECRET_KEY,
        PYTHONUNBUFFERED="1",
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
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


def serve(workdir: Path, **env_overrides: str | None) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT``) of the example project, served in a subprocess.

    ``env_overrides`` change its environment (:func:`_server_env`).
    """
    env = _server_env(workdir / "example.sqlite3", **env_overrides)
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
            [sys.executable, str(Path(__file__)), str(port_file)],
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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A 302 and its Set-Cookie are what the tests look at, not the page it points to.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class Http:
    """A tiny HTTP client with a cookie jar of its own, like one browser or one app.

    Redirects are not followed. :meth:`request` also returns the response's headers and
    its ``Set-Cookie`` morsels (with their attributes); :meth:`call` only status and body.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: Any = None, *, form: bool = False, **headers: str
    ) -> tuple[int, Any, HTTPMessage, dict[str, Morsel[str]]]:
        data = None
        if body is not None:
            data = urlencode(body).encode() if form else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            kind = "application/x-www-form-urlencoded" if form else "application/json"
            request.add_header("Content-Type", kind)
        if self.cookies:
            request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        for name, value in headers.items():
            request.add_header(name.replace("_", "-"), value)
        try:
            with _OPENER.open(request, timeout=10) as response:
                status, raw, got = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, got = error.code, error.read(), error.headers
        set_cookies: dict[str, Morsel[str]] = {}
        for header in got.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                set_cookies[name] = morsel
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        is_json = got.get_content_type() == "application/json"
        return status, (json.loads(raw) if raw and is_json else raw.decode()), got, set_cookies

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        status, content, _, _ = self.request(method, path, body, **headers)
        return status, content


def main(port_file: str) -> None:
    sys.path.insert(0, str(EXAMPLE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    import django

    django.setup()
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    httpd = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    httpd.set_app(StaticFilesHandler(get_wsgi_application()))
    port = httpd.server_address[1]
    tmp = Path(port_file + ".tmp")
    tmp.write_text(str(port))
    tmp.replace(port_file)  # atomic: the test never reads half a number
    httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
