"""pytest plugin: with ``CI`` set, every skip fails the run, with its reason.

A test skipped in CI is a test that did not run while the run looks green: a service
that was not there, a package missing from the tox env, a module that skipped itself
with ``pytest.importorskip``. On a laptop a skip stays a skip.

What counts as a skip here is what pytest reports as one: a test skipped at setup, call
or teardown (``pytest.skip``, the ``skip``/``skipif`` markers, ``unittest.SkipTest``),
and a collector skipped whole (a module-level ``pytest.skip(allow_module_level=True)`` or
``pytest.importorskip``), which fails the collection. An expected failure (``xfail``)
is not a skip, and neither is deselection (``-m``, ``-k``, ``pytest_deselected``).

Loaded for every run by ``-p tests.ci_strict`` in pyproject.toml's ``addopts``, before
any conftest.py; tests/test_ci_strict.py checks each case in a pytest of its own.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

#: The variable .ci/run exports; any non-empty value means CI (as in tests/conftest.py).
CI_VARIABLE = "CI"


def in_ci() -> bool:
    return bool(os.environ.get(CI_VARIABLE))


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    # A skip's longrepr is (path, line, "Skipped: <reason>").
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        where = f"{longrepr[0]}:{int(longrepr[1]) + 1}"
        return f"{str(longrepr[2]).removeprefix('Skipped: ')} ({where})"
    return str(longrepr)


def _fail_instead(report: pytest.TestReport | pytest.CollectReport, what: str) -> None:
    reason = _skip_reason(report)
    report.outcome = "failed"
    report.longrepr = (
        f"{what} was skipped, and {CI_VARIABLE} is set: in CI a skip is a failure "
        f"(tests/ci_strict.py). Skip reason: {reason}"
    )


# tryfirst makes these wrappers the outermost: they see the report after pytest's own
# xfail handling has marked expected failures (``wasxfail``), which are left alone.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_instead(report, f"{item.nodeid} ({report.when})")
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if in_ci() and report.skipped:
        _fail_instead(report, collector.nodeid or "the collection")
    return report


def pytest_report_header(config: pytest.Config) -> Any:
    if in_ci():
        return f"{CI_VARIABLE} is set: a skipped test or module fails the run (tests/ci_strict.py)"
    return None
