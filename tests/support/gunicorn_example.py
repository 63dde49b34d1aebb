"""The example project under gunicorn on PostgreSQL and Redis, as a deployment runs it.

Shared by tests/test_multiprocess.py and tests/test_faults.py so both start it the same
way: :func:`example_database` makes a fresh, migrated PostgreSQL database with the demo
user, :func:`serve` runs gunicorn (4 sync workers) on it with the given ``REDIS_URL`` and
``DEMO_*`` switches, and the access log names the worker pid of every request.
:func:`by_worker` sends requests until every worker has answered, when the responses
name their worker (``DEMO_WORKER_PID_HEADER="1"``).

:func:`require_stack` skips a test on a laptop without PostgreSQL, Redis, gunicorn,
psycopg or django-redis, and fails it when ``CI`` is set (tests/conftest.py).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tests.conftest import require_service
from tests.support.example_server import MANAGE, REPO, _server_env

WORKERS = 4
#: :meth:`Server.spread` and :func:`by_worker`: requests in flight at once, and the most
#: they send in all.
SPREAD_THREADS = 2 * WORKERS
SPREAD_LIMIT = 50 * SPREAD_THREADS
#: :func:`by_worker` stops after this many seconds, whatever it has seen by then.
SPREAD_SECONDS = 60
T = TypeVar("T")
PG = "host=127.0.0.1 port=5432 user=postgres dbname=test"
#: Safety net for starting and stopping processes, in seconds. Never asserted on.
START_TIMEOUT = 60


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def require_stack(*, shared_redis: bool = True) -> None:
    """Skip (or fail in CI) unless PostgreSQL, the Python modules and, if asked, Redis on
    127.0.0.1:6379 are there. Tests that run their own redis-server pass ``False``."""
    require_service(listening(5432), "needs PostgreSQL on 127.0.0.1:5432")
    if shared_redis:
        require_service(listening(6379), "needs Redis on 127.0.0.1:6379")
    for module in ("gunicorn", "psycopg", "django_redis", "redis"):
        require_service(_importable(module), f"needs {module} (pip install '.[redis]' gunicorn)")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    """Poll ``condition()`` every 50 ms until true; RuntimeError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def example_database(workdir: Path) -> Iterator[str]:
    """A new PostgreSQL database, migrated, with the demo user; yields its DATABASE_URL.

    Dropped afterwards (``WITH (FORCE)``: a killed worker may leave a backend behind).
    """
    import psycopg

    name = f"tokensessions_mp_{uuid.uuid4().hex[:8]}"
    url = f"postgres://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            env = _server_env(workdir / "unused.sqlite3")
            env["DATABASE_URL"] = url
            for command in (["migrate", "--noinput", "-v", "0"], ["create_demo_user"]):
                subprocess.run(
                    [sys.executable, str(MANAGE), *command],
                    env=env, cwd=REPO, check=True, timeout=120, capture_output=True,
                )  # fmt: skip
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    """A running gunicorn: its base URL and its access log (``<pid> <status> <path>``)."""

    base: str
    access_log: Path
    error_log: Path

    def log_mark(self) -> int:
        """The access log's line count now: pass it to :meth:`workers_seen` later."""
        return len(self.access_log.read_text().splitlines())

    def workers_seen(self, since: int, path: str, status: int | None = None) -> set[str]:
        """Pids of the workers that served ``path`` (with ``status``, if given) in the
        access log after line ``since``."""
        lines = self.access_log.read_text().splitlines()[since:]
        answered = r"\d+" if status is None else str(status)
        pattern = re.compile(rf"<?(\d+)>? {answered} {re.escape(path)}$")
        return {m.group(1) for line in lines if (m := pattern.match(line))}

    def spread(
        self, request: Callable[[], T], path: str, reached: Callable[[set[str]], bool]
    ) -> list[T]:
        """Call ``request()`` from several threads at once, batch after batch, until the
        workers that served ``path`` since the first call satisfy ``reached(pids)``.

        One client's requests in a row may all be taken by the same sync worker (the one
        that just finished is back in ``accept()`` first), so a test that must reach a
        given worker, or several, sends them concurrently. Stops after ``SPREAD_LIMIT``
        requests; the caller asserts on the pids.
        """
        mark = self.log_mark()
        results: list[T] = []
        with ThreadPoolExecutor(SPREAD_THREADS) as pool:
            while len(results) < SPREAD_LIMIT:
                batch = [pool.submit(request) for _ in range(SPREAD_THREADS)]
                results.extend(future.result() for future in batch)
                if reached(self.workers_seen(mark, path)):
                    break
        return results

    def errors(self) -> str:
        """The tail of gunicorn's error log, for assertion messages."""
        return self.error_log.read_text(errors="replace")[-4000:]


def by_worker(request: Callable[[], tuple[str, T]], workers: int = WORKERS) -> dict[str, list[T]]:
    """The answers of ``request()`` grouped by the worker that gave them.

    ``request()`` returns ``(worker pid, answer)``; the example names the pid in its
    ``X-Worker-Pid`` header when served with ``DEMO_WORKER_PID_HEADER="1"``. Calls are
    made from several threads at once (one client's requests in a row may all go to the
    worker that just finished), batch after batch, until ``workers`` different pids have
    answered, or after ``SPREAD_LIMIT`` requests or ``SPREAD_SECONDS``: the caller
    asserts on what it got.
    """
    answers: dict[str, list[T]] = {}
    sent = 0
    deadline = time.monotonic() + SPREAD_SECONDS
    with ThreadPoolExecutor(SPREAD_THREADS) as pool:
        while len(answers) < workers and sent < SPREAD_LIMIT and time.monotonic() < deadline:
            batch = [pool.submit(request) for _ in range(SPREAD_THREADS)]
            sent += len(batch)
            for future in batch:
                pid, answer = future.result()
                answers.setdefault(pid, []).append(answer)
    return answers


def _no_control_socket() -> list[str]:
    # gunicorn 25+ opens a control socket at one fixed path per user: two servers at once
    # (parallel test runs) would fight over it, and none of these tests uses it.
    from gunicorn.config import KNOWN_SETTINGS

    known = any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)
    return ["--no-control-socket"] if known else []


@contextmanager
def serve(
    workdir: Path, database_url: str, redis_url: str, *, workers: int = WORKERS, **env: str
) -> Iterator[Server]:
    """The example project under gunicorn; ``env`` adds settings (``DEMO_...="5"``)."""
    server_env = _server_env(workdir / "unused.sqlite3")
    server_env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, **env)
    port = free_port()
    no_control_socket = _no_control_socket()
    access_log = workdir / f"access-{port}.log"
    error_log = workdir / f"error-{port}.log"
    access_log.touch()
    with error_log.open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn",
                "--chdir", str(REPO / "example_project"),
                "--workers", str(workers),
                # Django is set up once in the master and forked (4 workers booting
                # side by side on 2 CPUs took 6 s); each worker still has its own
                # connections and memory, which is what these tests are about.
                "--preload",
                "--bind", f"127.0.0.1:{port}",
                # A stuck request is killed rather than hanging the test run.
                "--timeout", "30",
                # One line per request naming the worker's pid: proof the load was spread.
                "--access-logfile", str(access_log),
                "--access-logformat", "%(p)s %(s)s %(U)s",
                *no_control_socket,
                "example.wsgi",
            ],
            env=server_env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", access_log, error_log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{server.errors()}")
            time.sleep(0.1)
        yield server
    finally:
        # SIGQUIT: gunicorn's quick shutdown (SIGTERM waits for idle workers, ~3 s).
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
