"""The benchmark keeps running: a --quick pass (numbers not checked, only that it works)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.redis  # it measures the cache mode against the Redis on 127.0.0.1

REPO = Path(__file__).resolve().parents[1]


def test_benchmark_quick_run(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "simplejwt JWTAuthentication (stock)" in result.stdout
    assert "REVOCATION_CHECK=cache" in result.stdout
    assert "skipped" not in result.stdout.split("The revocation check alone")[0]
    assert out.stat().st_size > 0
