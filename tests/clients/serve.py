"""Run a command against the example project served on a free port, then stop the server.

``python tests/clients/serve.py DB_PATH -- COMMAND...``: migrates a fresh SQLite database at
DB_PATH, creates the demo user, starts ``runserver`` (DEBUG, no autoreload, login throttles
lifted) on 127.0.0.1 and a free port, waits for /api/schema/ to answer, runs COMMAND with the
server's base URL appended as its last argument, stops the server and exits with COMMAND's
status. The server's output goes to DB_PATH with ``.log`` appended, printed when COMMAND
fails. Used by ``tox -e clients`` for tests/clients/flow.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANAGE = ROOT / "example_project" / "manage.py"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the example project exited with {server.returncode} on start")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"the example project did not answer {url} within {START_TIMEOUT:.0f}s")


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: serve.py DB_PATH -- COMMAND...", file=sys.stderr)
        return 2
    db_path, command = Path(argv[1]), argv[3:]
    db_path.unlink(missing_ok=True)
    env = {
        **os.environ,
        "EXAMPLE_SQLITE_PATH": str(db_path),
        "DJANGO_DEBUG": "1",
        # Four logins from 127.0.0.1 as one user: no login limit in the way.
        "DEMO_LOGIN_THROTTLE_RATE": "",
        "DEMO_LOGIN_USERNAME_THROTTLE_RATE": "",
    }
    for step in (["migrate"], ["create_demo_user"]):
        done = subprocess.run(
            [sys.executable, str(MANAGE), *step], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
            raise SystemExit(f"manage.py {step[0]} failed ({done.returncode})")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = db_path.with_name(db_path.name + ".log")
    status = 1
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, str(MANAGE), "runserver", "--noreload", f"127.0.0.1:{port}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"{base_url}/api/schema/", server)
            status = subprocess.run([*command, base_url], env=env).returncode
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            if status != 0:
                print(f"--- the example project's output ({log_path}) ---", file=sys.stderr)
                print(log_path.read_text(errors="replace"), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
