"""The load test (benchmarks/load.py) runs end to end: both systems under gunicorn on
PostgreSQL and Redis, driven by wrk, every response 2xx. Its numbers are not asserted.

Needs wrk, PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379), gunicorn, psycopg and
django-redis: skipped with the reason on a laptop without them, failed in CI.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.support.gunicorn_example import _importable

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_quick_load_run_serves_both_systems_without_errors(tmp_path):
    require_service(shutil.which("wrk") is not None, "needs wrk (apt-get install wrk)")
    require_service(_listening(5432), "needs PostgreSQL on 127.0.0.1:5432")
    require_service(_listening(6379), "needs Redis on 127.0.0.1:6379")
    for module in ("gunicorn", "psycopg", "django_redis", "redis"):
        require_service(_importable(module), f"needs {module} (pip install '.[redis]' gunicorn)")
    out = tmp_path / "load.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.load", "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads(out.read_text())
    assert document["ok"] is True
    for system in ("ours", "simplejwt"):
        stats = document["systems"][system]
        assert stats["requests"] > 0, system
        assert stats["me_ok"] > 0, system
        assert stats["refresh_ok"] > 0, system  # the 5% refreshes happened and rotated
        assert stats["non2xx"] == 0, system
        for key in ("rps", "p50_ms", "p99_ms"):
            assert stats[key] > 0, (system, key)
    assert {"rps", "p50", "p99"} <= set(document["ratios"])
