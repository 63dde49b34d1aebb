"""tests/ci_strict.py: with CI set, every kind of skip fails the run, with its reason;
xfail and deselection do not; without CI a skip is a skip.

Each case runs in a pytest of its own (pytester, in a subprocess): no plugin but ours and
pytester's, no ini file of this repository, ``CI`` set or unset as the case needs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.ci_strict

pytest_plugins = ["pytester"]

#: The directory that holds the ``tests`` package, for the subprocess's ``-p tests.ci_strict``.
ROOT = str(Path(tests.ci_strict.__file__).resolve().parents[1])

SKIPS = """
import unittest
import pytest

def test_skips_itself():
    pytest.skip("no database here")

@pytest.mark.skip(reason="marked skip")
def test_marked():
    pass

@pytest.mark.skipif(True, reason="marked skipif")
def test_marked_skipif():
    pass

@pytest.fixture
def service():
    pytest.skip("fixture found no service")

def test_needs_a_service(service):
    pass

class Case(unittest.TestCase):
    def test_unittest_skip(self):
        raise unittest.SkipTest("unittest skip")

def test_runs():
    pass
"""


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """``run(ci=True, *args)`` → pytest's result, with only our plugin loaded."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.setenv("PYTHONPATH", ROOT)
    pytester.makeini("[pytest]\n")  # not this repository's settings

    def run_pytest(*args: str, ci: bool = True) -> pytest.RunResult:
        if ci:
            monkeypatch.setenv("CI", "true")
        else:
            monkeypatch.delenv("CI", raising=False)
        return pytester.runpytest_subprocess("-p", "tests.ci_strict", "-rA", *args)

    return run_pytest


def test_every_kind_of_test_skip_fails_in_ci_with_its_reason(pytester, run):
    pytester.makepyfile(test_skips=SKIPS)
    result = run()
    # Skipped at setup (markers, fixtures): errors; skipped during the call: failures.
    result.assert_outcomes(passed=1, failed=2, errors=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    for reason in (
        "no database here",
        "marked skip",
        "marked skipif",
        "fixture found no service",
        "unittest skip",
    ):
        assert f"Skip reason: {reason}" in output, reason
    assert "a skipped test or module fails the run" in output  # the report header


def test_without_ci_a_skip_is_a_skip(pytester, run):
    pytester.makepyfile(test_skips=SKIPS)
    result = run(ci=False)
    result.assert_outcomes(passed=1, skipped=5)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize(
    "module",
    [
        'import pytest\npytest.importorskip("no_such_module_anywhere")\n',
        'import pytest\npytest.skip("module needs Redis", allow_module_level=True)\n',
    ],
    ids=["importorskip", "module-level-skip"],
)
def test_a_module_skipped_whole_fails_the_collection_in_ci(pytester, run, module):
    pytester.makepyfile(test_skipped_module=module + "\ndef test_never_runs():\n    pass\n")
    pytester.makepyfile(test_other="def test_ok():\n    pass\n")
    result = run()
    assert result.ret != pytest.ExitCode.OK
    output = result.stdout.str()
    assert "test_skipped_module.py was skipped, and CI is set" in output
    assert ("no_such_module_anywhere" in output) or ("module needs Redis" in output)
    # Without CI the same module is one skip and the run passes.
    result = run(ci=False)
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK


def test_xfail_and_deselection_are_not_skips(pytester, run):
    pytester.makepyfile(
        test_not_skips="""
import pytest

@pytest.mark.xfail(reason="known bug")
def test_expected_failure():
    assert False

def test_imperative_xfail():
    pytest.xfail("not supported here")

@pytest.mark.xfail(reason="fixed meanwhile")
def test_unexpected_pass():
    pass

@pytest.mark.slow
def test_deselected_by_marker():
    pass

def test_deselected_by_keyword():
    pass

def test_runs():
    pass
"""
    )
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n")
    result = run("-m", "not slow", "-k", "not keyword")
    result.assert_outcomes(passed=1, xfailed=2, xpassed=1, deselected=2)
    assert result.ret == pytest.ExitCode.OK
