"""Load test: the example project under gunicorn, ours vs the same project as plain simplejwt.

Each system is the example project served by gunicorn (4 sync workers) on PostgreSQL and
Redis, as a production deployment would run it: ours with ``example.settings``, plain
simplejwt with ``example.settings_simplejwt`` (simplejwt's views, ``JWTAuthentication`` and
its ``token_blacklist`` app with ``ROTATE_REFRESH_TOKENS`` + ``BLACKLIST_AFTER_ROTATION``;
same middleware, database, cache and lifetimes). ``wrk`` on 127.0.0.1 drives each server with
``benchmarks/load.lua``: 95% ``GET /api/me/`` with a bearer access token, 5%
``POST /api/auth/refresh/`` that rotates the refresh token (the new pair is used from then
on). Reported per system: requests/s, p50 and p99 latency, and the ratios ours/simplejwt.

Running it (from the repository root; needs PostgreSQL on 127.0.0.1:5432, Redis on
127.0.0.1:6379, ``wrk``, gunicorn, psycopg and django-redis)::

    python -m benchmarks.load                    # 2 rounds of 15 s per system, about 2 min
    python -m benchmarks.load --quick            # 1 round of 3 s per system: a smoke test, ~40 s
    python -m benchmarks.load --json out.json --markdown out.md
    python -m benchmarks.load --rounds 4 --duration 30 --connections 16

Options: ``--duration S`` (15, quick 3) seconds of one measured wrk run; ``--rounds N``
(2, quick 1); ``--connections C`` (8): wrk runs ``-t C -c C``, one connection per thread, so
each thread owns one token pair and its requests are sequential (no self-inflicted refresh
races); ``--workers W`` (4); ``--warmup S`` (3, quick 1) seconds of untimed load on each
server before the first round; ``--redis-db N`` (12) the Redis database both servers use,
flushed at the start and the end; ``--connection-per-request`` (see below); ``--json PATH``,
``--markdown PATH``.

How a run goes: for each system a scratch database ``tokensessions_load_<system>_<pid>``
is created on ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD`` (default 127.0.0.1:5432,
``postgres``), migrated, and given C users; both servers are started (on free ports; an idle
server costs no CPU). Then, per round, each system in turn (ours first in odd rounds,
simplejwt first in even ones, so drift hits both alike): C fresh token pairs are minted by
logging in over HTTP (untimed; ours with ``X-Token-Transport: body`` to get the refresh
token in the JSON, and its login throttle off), written to a file that the Lua script
reads, and wrk runs for ``--duration``. The numbers per system are summed requests over
summed duration (req/s), the mean over rounds of each round's p50 and p99, and the CPU time
per request of the gunicorn workers and of the database's PostgreSQL backends (read from
/proc around each wrk run). Everything started is stopped and dropped at the end, on
failure too.

Reading it: req/s and latency depend on everything else the machine runs (on a shared
2-core machine, a test suite next door moves them by tens of percent; compare rounds, and
runs, before believing a ratio); CPU ms per request hardly does. p99 is where the
refreshes show: 1 in 20 requests, and simplejwt's rotation with blacklisting is several
statements and two commits.

Settings of both servers: the example project's, with ``DJANGO_DEBUG=0``,
``DEMO_ACCESS_MINUTES=15`` (no access token expires during a run),
``DEMO_LOGIN_THROTTLE_RATE=""`` and Django's default password hasher (only the untimed
logins hash), plus ``CONN_MAX_AGE = None`` (persistent connections): example/settings.py
leaves it at Django's 0, a new PostgreSQL connection for every request, which no production
deployment runs with and which adds the same few milliseconds to both systems. The one
line is added by a settings module the run writes to its scratch directory
(``from example.settings import *`` and the ``CONN_MAX_AGE``); ``--connection-per-request``
measures the example project exactly as it stands.

Why sync workers: gunicorn's default, and one request at a time per process, so what a
request costs shows directly in the latency; the work is CPU-bound Python with short waits
on PostgreSQL and Redis, which threads in one process (gthread) would serialise on the GIL
anyway. Sync workers do not keep connections alive, so wrk reconnects for every request
(cheap on loopback, the same for both systems).

Exit status: 0 on success; 1 if any response was not 2xx, a refresh answer had no new
tokens, or wrk saw a socket error (the run measured something other than the mix); 2 if a
service or tool is missing. No time is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from .environment import _pg_admin, _pg_params

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = REPO / "example_project"
LUA_SCRIPT = Path(__file__).resolve().with_name("load.lua")

SYSTEMS = {
    "ours": ("example.settings", "ours (django-token-sessions)"),
    "simplejwt": ("example.settings_simplejwt", "plain simplejwt + token_blacklist"),
}
PASSWORD = "load-test-password-0123"
PACKAGES = (
    "Django",
    "djangorestframework",
    "djangorestframework-simplejwt",
    "PyJWT",
    "django-redis",
    "redis",
    "psycopg",
    "gunicorn",
)


class SetupError(RuntimeError):
    """A service or tool the load test needs is missing (exit status 2)."""


class RunFailed(RuntimeError):
    """A request was refused or a socket failed: the run measured something else (exit 1)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load",
        description="Requests/s and p50/p99 latency of the example project under gunicorn "
        "(PostgreSQL, Redis) driven by wrk with 95%% authenticated GETs and 5%% refreshes: "
        "ours vs the same project as plain simplejwt.",
    )
    parser.add_argument("--duration", type=float, help="seconds per wrk run (15, quick 3)")
    parser.add_argument(
        "--rounds", type=int, help="rounds, each system once per round (2, quick 1)"
    )
    parser.add_argument(
        "--connections", type=int, default=8, help="wrk connections = threads (default 8)"
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument(
        "--warmup", type=float, help="seconds of untimed load per server first (3, quick 1)"
    )
    parser.add_argument(
        "--redis-db", type=int, default=12, help="Redis database, flushed (default 12)"
    )
    parser.add_argument(
        "--connection-per-request",
        action="store_true",
        help="CONN_MAX_AGE=0 as in example/settings.py: a new PostgreSQL connection for every "
        "request (default: CONN_MAX_AGE=None, persistent connections, as deployed)",
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 15.0
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 3.0
    if args.duration < 1 or args.rounds < 1 or args.connections < 1 or args.workers < 1:
        parser.error("--duration, --rounds, --connections and --workers must be at least 1")
    return args


# -- services -----------------------------------------------------------------------------


def _database_url(name: str) -> str:
    p = _pg_params()
    auth = p["user"] + (f":{p['password']}" if p["password"] else "")
    return f"postgres://{auth}@{p['host']}:{p['port']}/{name}"


def _redis(db: int) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=db, socket_connect_timeout=2)


def check_tools(redis_db: int) -> None:
    """Raise :class:`SetupError` naming the first missing piece."""
    if shutil.which("wrk") is None:
        raise SetupError("wrk is not installed (apt-get install wrk)")
    for module in ("gunicorn", "psycopg", "django_redis", "redis"):
        try:
            __import__(module)
        except ImportError as exc:
            raise SetupError(f"{module} is not installed ({exc})") from exc
    try:
        _pg_admin("SELECT 1")
    except Exception as exc:
        raise SetupError(f"PostgreSQL is unreachable ({type(exc).__name__}: {exc})") from exc
    try:
        _redis(redis_db).ping()
    except Exception as exc:
        raise SetupError(f"Redis is unreachable ({type(exc).__name__}: {exc})") from exc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    system: str
    database: str
    env: dict[str, str]
    workdir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    created_db: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"gunicorn-{self.system}.log"

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def conn_max_age(args: argparse.Namespace) -> int | None:
    # None, not a number of seconds: Django counts CONN_MAX_AGE from the connect, so any
    # number would reconnect in the middle of a run (and hide the backend from CpuMeter).
    return 0 if args.connection_per_request else None


def _env(system: str, database: str, args: argparse.Namespace, workdir: Path) -> dict[str, str]:
    # The example project's settings plus one line: CONN_MAX_AGE, which example/settings.py
    # leaves at Django's 0 (a new PostgreSQL connection per request, ~4 ms here, the same
    # for both systems, which would dilute every difference). Written to the scratch
    # directory, which goes first on the servers' path.
    module = f"tokensessions_load_{system}"
    (workdir / f"{module}.py").write_text(
        f"from {SYSTEMS[system][0]} import *  # noqa: F403\n"
        f'DATABASES["default"]["CONN_MAX_AGE"] = {conn_max_age(args)}  # noqa: F405\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env.update(
        # The checkout's package, whatever else is installed: what is measured is this tree.
        PYTHONPATH=os.pathsep.join([str(workdir), str(EXAMPLE_DIR), str(REPO)]),
        DJANGO_SETTINGS_MODULE=module,
        DATABASE_URL=_database_url(database),
        REDIS_URL=f"redis://127.0.0.1:6379/{args.redis_db}",
        DJANGO_DEBUG="0",
        # DEBUG off: the example refuses to start without a key of its own.
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DEMO_ACCESS_MINUTES="15",
        DEMO_LOGIN_THROTTLE_RATE="",  # off: every wrk connection logs in from 127.0.0.1
        DEMO_LOGIN_USERNAME_THROTTLE_RATE="",  # off: and as the same user
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(server: Server, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE_DIR / "manage.py"), *args],
        env=server.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"manage.py {args[0]} ({server.system}) failed:\n{result.stderr[-3000:]}"
        )


def prepare(server: Server, users: int) -> None:
    """Scratch database, migrated, with ``users`` users ``load0``... sharing one password."""
    _pg_admin(f'CREATE DATABASE "{server.database}"')
    server.created_db = True
    _manage(server, "migrate", "--noinput", "-v", "0")
    # One hash for every user (bulk_create, no signals): hashing is not what is measured.
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.auth.hashers import make_password\n"
        "User = get_user_model()\n"
        f"digest = make_password({PASSWORD!r})\n"
        "User.objects.bulk_create([User(username=f'load{i}', email=f'load{i}@example.com', "
        f"password=digest) for i in range({users})])\n"
    )
    _manage(server, "shell", "-c", code)


def start(server: Server, workers: int) -> None:
    server.port = _free_port()
    with server.log.open("wb") as log:
        server.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn",
                "--chdir", str(EXAMPLE_DIR),
                "--workers", str(workers),
                "--worker-class", "sync",
                "--bind", f"127.0.0.1:{server.port}",
                "--timeout", "30",
                "example.wsgi",
            ],
            env=server.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    # Up when an unauthenticated /api/me/ is answered 401: Django is loaded in a worker.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            urllib.request.urlopen(server.url + "/api/me/", timeout=5).close()
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn ({server.system}) did not come up:\n{server.log_tail()}")


def stop(server: Server) -> None:
    if server.process is None or server.process.poll() is not None:
        return
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


# -- load -----------------------------------------------------------------------------------


def login(server: Server, index: int) -> tuple[str, str]:
    headers = {"Content-Type": "application/json"}
    if server.system == "ours":
        headers["X-Token-Transport"] = "body"  # the refresh token in the JSON, not a cookie
    body = json.dumps({"username": f"load{index}", "password": PASSWORD}).encode()
    request = urllib.request.Request(
        server.url + "/api/auth/login/", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300]
        raise RunFailed(f"login of load{index} ({server.system}): {exc.code} {detail!r}") from None
    return data["access"], data["refresh"]


def mint_tokens(server: Server, count: int, path: Path) -> None:
    """One fresh token pair per wrk connection, "access refresh" per line."""
    with ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
        pairs = list(pool.map(lambda i: login(server, i), range(count)))
    path.write_text("".join(f"{access} {refresh}\n" for access, refresh in pairs))


def _cpu_seconds(pids: set[int]) -> dict[int, float]:
    """utime + stime of each live process in ``pids``, from /proc (Linux)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _server_pids(server: Server) -> dict[str, set[int]]:
    """The gunicorn workers (children of the master) and the database's backends."""
    assert server.process is not None
    master = str(server.process.pid)
    workers = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == master:
                workers.add(int(stat.parent.name))
        except (OSError, IndexError):
            continue
    rows = _pg_admin(
        "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity "
        f"WHERE datname = '{server.database}'"
    )
    return {"gunicorn": workers, "postgresql": {int(p) for p in rows.split()}}


class CpuMeter:
    """CPU seconds spent by the server's processes between :meth:`start` and :meth:`stop`.

    CPU time per request does not depend on how busy the rest of the machine is, unlike
    requests/s and latency: on a shared machine it is the steadier of the numbers. The
    PostgreSQL backends are only seen when connections persist (CONN_MAX_AGE None); with
    0 each request's backend has exited before it can be read. Redis is not counted (its
    server is shared with any other client).
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.before: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self.before = {k: _cpu_seconds(v) for k, v in _server_pids(self.server).items()}

    def stop(self) -> dict[str, float]:
        spent = {}
        for kind, before in self.before.items():
            after = _cpu_seconds(set(before))
            spent[kind] = sum(after[pid] - before[pid] for pid in after)
        return spent


def run_wrk(server: Server, connections: int, duration: float, tokens: Path) -> dict[str, Any]:
    command = [
        "wrk",
        "-t", str(connections),
        "-c", str(connections),
        "-d", f"{duration:g}s",
        "--timeout", "10s",
        "--latency",
        "-s", str(LUA_SCRIPT),
        server.url,
        "--", str(tokens), server.system,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    lines = [line for line in result.stdout.splitlines() if line.startswith("LOADJSON ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    stats: dict[str, Any] = json.loads(lines[-1].removeprefix("LOADJSON "))
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    stats["wrk_output"] = [line for line in result.stdout.splitlines() if line not in lines]
    return stats


def failures(stats: dict[str, Any], warm_up: bool = False) -> list[str]:
    out = []
    if stats["non2xx"]:
        out.append(f"{stats['non2xx']} non-2xx response(s)")
    if stats["parse_fail"]:
        out.append(f"{stats['parse_fail']} refresh answer(s) without new tokens")
    sockets = {k: v for k, v in stats["socket_errors"].items() if v}
    if sockets:
        out.append(f"socket errors {sockets}")
    # A warm-up on a busy machine may end before a cold worker has answered anything.
    if not stats["requests"] and not warm_up:
        out.append("no request completed")
    return out + [f"first error: {e}" for e in stats["errors"][:3]]


# -- report ---------------------------------------------------------------------------------


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(redis_db: int) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "wrk": (wrk.stdout + wrk.stderr).splitlines()[0].strip(),
        "postgresql": _pg_admin("SHOW server_version"),
        "redis": _redis(redis_db).info("server").get("redis_version", "?"),
        "commit": commit.stdout.strip() or "unknown",
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = sum(r["duration_us"] for r in runs) / 1e6
    requests = sum(r["requests"] for r in runs)
    return {
        "rps": requests / seconds,
        "p50_ms": sum(r["latency_us"]["p50"] for r in runs) / len(runs) / 1000,
        "p99_ms": sum(r["latency_us"]["p99"] for r in runs) / len(runs) / 1000,
        "requests": requests,
        "me_ok": sum(r["me_ok"] for r in runs),
        "refresh_ok": sum(r["refresh_ok"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
        "seconds": round(seconds, 3),
        "cpu_ms_per_request": {
            kind: 1000 * sum(r["cpu_s"][kind] for r in runs) / requests
            for kind in ("gunicorn", "postgresql")
        },
        "rounds": [{k: v for k, v in r.items() if k not in ("wrk_output", "errors")} for r in runs],
    }


def header(document: dict[str, Any]) -> list[str]:
    m, c = document["machine"], document["config"]
    p = m["packages"]
    return [
        f"machine     {m['nproc']} CPUs ({m['cpu']}), load average at start "
        f"{m['load_average_at_start']}; {m['python']} on {m['platform']}",
        f"packages    Django {p['Django']}, DRF {p['djangorestframework']}, simplejwt "
        f"{p['djangorestframework-simplejwt']}, PyJWT {p['PyJWT']}, gunicorn {p['gunicorn']}, "
        f"psycopg {p['psycopg']}, django-redis {p['django-redis']}",
        f"services    PostgreSQL {m['postgresql']}, Redis {m['redis']} (db {c['redis_db']}), "
        f"{m['wrk']}; django-token-sessions at commit {m['commit']}",
        f"load        gunicorn {c['workers']} sync workers per system; wrk {c['connections']} "
        f"connections (1 per thread), {c['duration_s']:g} s x {c['rounds']} round(s) per "
        "system, alternating; 95% GET /api/me/, 5% POST /api/auth/refresh/ (rotation); "
        f"CONN_MAX_AGE={c['conn_max_age']}",
    ]


def table(document: dict[str, Any]) -> list[list[str]]:
    columns = ["req/s", "p50 ms", "p99 ms", "CPU ms/req app", "CPU ms/req PG"]
    rows = [["", *columns, "requests", "refreshes", "non-2xx"]]
    for system, (_, label) in SYSTEMS.items():
        s = document["systems"][system]
        cpu = s["cpu_ms_per_request"]
        rows.append(
            [
                label,
                f"{s['rps']:,.0f}",
                f"{s['p50_ms']:.2f}",
                f"{s['p99_ms']:.2f}",
                f"{cpu['gunicorn']:.2f}",
                "-" if document["config"]["conn_max_age"] == 0 else f"{cpu['postgresql']:.2f}",
                f"{s['requests']:,}",
                f"{s['refresh_ok']:,}",
                str(s["non2xx"]),
            ]
        )
    r = document["ratios"]
    ratios = [r["rps"], r["p50"], r["p99"], r["cpu_gunicorn"], r["cpu_postgresql"]]
    cells = ["-" if x is None else f"{x:.2f}" for x in ratios]
    rows.append(["ours / simplejwt", *cells, "", "", ""])
    return rows


def text_lines(document: dict[str, Any]) -> list[str]:
    rows = table(document)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [*header(document), ""]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("-" * len(lines[-1]))
    return lines


def markdown_lines(document: dict[str, Any]) -> list[str]:
    rows = table(document)
    lines = ["# django-token-sessions load test", "", "```", *header(document), "```", ""]
    lines.append("| " + " | ".join(rows[0]) + " |")
    lines.append("|---|" + "---:|" * (len(rows[0]) - 1))
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    lines += [
        "",
        f"Command: `{document['command']}`; run time {document['run_time_s']:.0f} s; load "
        f"average at the end {document['machine']['load_average_at_end']}.",
    ]
    lines += [
        "",
        "req/s: requests over the summed wrk duration of all rounds; p50/p99: the mean over "
        "rounds of wrk's per-run percentiles (all requests, GETs and refreshes together). "
        "Ratios are ours over simplejwt: above 1 is more throughput, or more latency. CPU "
        "ms/req: CPU time (user + system) of the gunicorn workers (app) and of the database's "
        "PostgreSQL backends (PG, only with persistent connections) over the measured runs, per "
        "request; unlike req/s and latency it hardly depends on other load on the machine. "
        "Redis is not counted.",
    ]
    return lines


# -- main -----------------------------------------------------------------------------------


def measure(args: argparse.Namespace, workdir: Path, servers: dict[str, Server]) -> dict[str, Any]:
    for server in servers.values():
        prepare(server, args.connections)
    for server in servers.values():
        start(server, args.workers)
    runs: dict[str, list[dict[str, Any]]] = {system: [] for system in servers}
    tokens = workdir / "tokens.txt"
    if args.warmup > 0:
        for server in servers.values():
            mint_tokens(server, args.connections, tokens)
            stats = run_wrk(server, args.connections, args.warmup, tokens)
            if problems := failures(stats, warm_up=True):
                raise RunFailed(f"warm-up of {server.system}: " + "; ".join(problems))
    for round_no in range(args.rounds):
        order = list(servers.values())
        if round_no % 2:
            order.reverse()
        for server in order:
            mint_tokens(server, args.connections, tokens)
            meter = CpuMeter(server)
            meter.start()
            stats = run_wrk(server, args.connections, args.duration, tokens)
            stats["cpu_s"] = meter.stop()
            runs[server.system].append(stats)
            print(
                f"round {round_no + 1}/{args.rounds} {server.system:<9} "
                f"{stats['rps']:8,.0f} req/s  p50 {stats['latency_us']['p50'] / 1000:6.2f} ms  "
                f"p99 {stats['latency_us']['p99'] / 1000:6.2f} ms  non-2xx {stats['non2xx']}",
                flush=True,
            )
            if problems := failures(stats):
                raise RunFailed(f"{server.system}, round {round_no + 1}: " + "; ".join(problems))
    systems = {system: summarize(r) for system, r in runs.items()}
    ours, theirs = systems["ours"], systems["simplejwt"]
    theirs_cpu = theirs["cpu_ms_per_request"]
    return {
        "systems": systems,
        "ratios": {
            "rps": ours["rps"] / theirs["rps"],
            "p50": ours["p50_ms"] / theirs["p50_ms"],
            "p99": ours["p99_ms"] / theirs["p99_ms"],
            **{
                f"cpu_{kind}": ours_ms / theirs_ms if (theirs_ms := theirs_cpu[kind]) else None
                for kind, ours_ms in ours["cpu_ms_per_request"].items()
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        check_tools(args.redis_db)
    except SetupError as exc:
        print(f"load test not run: {exc}", file=sys.stderr)
        return 2
    document: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.load", *sys.argv[1:]]),
        "machine": machine(args.redis_db),
        "config": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "connections": args.connections,
            "workers": args.workers,
            "worker_class": "sync",
            "warmup_s": args.warmup,
            "redis_db": args.redis_db,
            "conn_max_age": conn_max_age(args),
            "mix": {"GET /api/me/": 0.95, "POST /api/auth/refresh/": 0.05},
        },
    }
    print("\n".join(header(document)), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="tokensessions-load-"))
    servers = {
        system: Server(
            system=system,
            database=(name := f"tokensessions_load_{system}_{os.getpid()}"),
            env=_env(system, name, args, workdir),
            workdir=workdir,
        )
        for system in SYSTEMS
    }
    _redis(args.redis_db).flushdb()
    status = 0
    try:
        document.update(measure(args, workdir, servers))
    except RunFailed as exc:
        print(f"load test failed: {exc}", file=sys.stderr)
        status = 1
    except Exception as exc:
        print(f"load test failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        for server in servers.values():
            if server.process is not None and server.process.poll() is not None:
                print(f"gunicorn ({server.system}) log:\n{server.log_tail()}", file=sys.stderr)
        status = 1
    finally:
        for server in servers.values():
            stop(server)
        for server in servers.values():
            if server.created_db:
                try:
                    _pg_admin(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')
                except Exception as exc:
                    print(f"could not drop {server.database}: {exc}", file=sys.stderr)
        _redis(args.redis_db).flushdb()
        shutil.rmtree(workdir, ignore_errors=True)
    document["ok"] = status == 0
    document["run_time_s"] = time.monotonic() - started
    # Another process busy on the machine during the run shows here (not in the start value).
    document["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if status == 0:
        print("", *text_lines(document), sep="\n")
        print(
            f"\nrun time {document['run_time_s']:.0f} s; load average at the end "
            f"{document['machine']['load_average_at_end']}"
        )
        if args.markdown:
            Path(args.markdown).write_text("\n".join(markdown_lines(document)) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
