"""The benchmark keeps running: a --quick pass (numbers not checked, only that it works)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.redis  # it measures the cache mode against the Redis on 127.0.0.1

REPO = Path(__file__).resolve().parents[1]


def test_benchmark_quick_run(tmp_path):
    out = tmp_path / "bench.json"
    markdown = tmp_path / "bench.md"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--json",
            str(out),
            "--markdown",
            str(markdown),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "simplejwt JWTAuthentication (stock)" in result.stdout
    assert "ours, RedisBackend" in result.stdout
    assert "skipped" not in result.stdout.split("The revocation check alone")[0]

    document = json.loads(out.read_text())
    operations = {row["key"]: row for row in document["operations"]}
    # Every row of the operations table, views and services, is there and measured...
    for key in (
        "op-login",
        "op-refresh",
        "op-logout-10",
        "op-logout-1000",
        "op-logout-10000",
        "op-sessions-1",
        "op-sessions-50",
        "svc-login",
        "svc-refresh",
    ):
        assert "median_us" in operations[key], operations[key]
        assert operations[key]["sql_per_op"] >= 1, key
        versus = operations[key]["versus"]
        if versus and "skipped" not in operations[versus]:
            assert operations[key]["ratio"] > 0, key
    # ...except simplejwt's 10,000-token logout, too slow for --quick.
    assert operations["op-logout-10000-sj"]["skipped"].startswith("skipped: --quick")
    assert "logout everywhere, 10,000 sessions: ours" in result.stdout

    # The admin changelist on a (small) table, with its queries.
    pages = document["admin"]["pages"]
    assert [page["label"] for page in pages][:2] == ["unfiltered", "unfiltered, page 20"]
    assert all(page["queries"] > 0 and page["full_counts"] == [] for page in pages)

    # Budgets and targets in the text, the JSON and the Markdown.
    assert "Budgets" in result.stdout
    assert "Targets" in result.stdout
    assert len(document["budgets"]) == 6
    assert [budget["passed"] for budget in document["budgets"]] == [True] * 6
    assert len(document["targets"]) == 4
    text = markdown.read_text()
    for title in ("**Budgets (counts)**", "**Targets (sqlite)**", "Admin changelist"):
        assert title in text
