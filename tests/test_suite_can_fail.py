"""The revocation tests can fail: with no revocation marker ever written, they do.

A test of "a revoked session's access token is refused" that the database fallback of a
cold cache answers passes whether the marker is written or not. conftest.py starts every
test with a ready cache so that the marker is what answers; this test keeps it so. It runs
the tests SECURITY.md links for each revocation promise in a pytest of their own, with
both marker writers turned into no-ops (tests/no_revocation_markers.py), and checks that
every one of them fails.

The child pytest runs as tox runs the suite: the same interpreter, ``--import-mode=append``
from the repository root (so it imports the installed package, not the source tree), the
same ``TEST_DB``, on a test database of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import NO_MARKERS_ENV

REPO = Path(__file__).resolve().parents[1]

#: The tests of each revocation promise that must fail without markers.
PROMISES = {
    "reuse detection": [
        "tests/test_rotation.py::test_replayed_token_after_grace_revokes_the_session",
        "tests/test_rotation.py::test_an_older_token_in_the_chain_is_reuse_even_inside_grace",
        "tests/test_clock.py::test_replay_just_after_the_grace_window_is_reuse",
    ],
    "admin revocation": [
        "tests/test_admin.py::test_revoke_action_goes_through_the_services",
        "tests/test_admin.py::test_user_admin_has_log_out_everywhere",
        "tests/test_admin.py::test_admin_revoke_action_goes_through_the_services",
    ],
    "deactivation": [
        "tests/test_receivers.py::test_deactivation_by_save",
        "tests/test_receivers.py::test_deactivation_in_the_admin",
    ],
    "password change": [
        "tests/test_receivers.py::test_password_change_through_the_api_logs_out_every_device",
        "tests/test_receivers.py::test_password_change_can_keep_the_session_that_made_it",
        "tests/test_receivers.py::test_set_password_form",
        "tests/test_receivers.py::test_admin_password_change",
    ],
    "session cap eviction": [
        "tests/test_signals.py::test_session_cap_eviction_signals_and_ends_the_evicted_access_token",
    ],
    "logout": [
        "tests/test_views.py::test_logout_with_refresh_token",
        "tests/test_views.py::test_revoke_a_device",
        "tests/test_revocation.py::test_revoking_one_device_writes_one_marker_after_commit",
    ],
    "logout everywhere": [
        "tests/test_views.py::test_logout_all",
        "tests/test_revocation.py::test_logout_everywhere_is_one_update_and_one_cache_write",
        "tests/test_clock.py::test_logout_everywhere_refuses_tokens_issued_in_the_same_second_before_it",
    ],
    "deleted user": [
        "tests/test_hostile_tokens.py::test_access_token_of_a_deleted_user_never_authenticates_a_newcomer",
    ],
    "renamed user": [
        "tests/test_receivers.py::test_a_renamed_users_tokens_never_authenticate_the_next_holder_of_the_name[cache]",
    ],
    "marker lifetime": [
        "tests/test_revocation.py::test_marker_lifetime_covers_the_access_token_and_leeway",
        "tests/test_clock.py::test_revocation_marker_outlives_the_access_token",
    ],
}  # fmt: skip
NODE_IDS = [node for nodes in PROMISES.values() for node in nodes]

#: Runs pytest without the current directory (the source tree) at the head of sys.path,
#: where ``python -c`` puts it: the child imports the package the parent imports (tox:
#: the wheel in site-packages; the repository root comes after it, by a .pth file).
RUN_PYTEST = (
    "import sys; "
    "sys.path[:1] = [] if sys.path[:1] == [''] else sys.path[:1]; "
    "import pytest; sys.exit(pytest.main(sys.argv[1:]))"
)
#: Far more than the few dozen tests take (a test database of its own included).
TIMEOUT = 600


def _child_environment() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        # Coverage and extra options of the parent run (tox's py311-django52 env) are
        # not the child's business: its results are only read here.
        if name != "PYTEST_ADDOPTS" and not name.startswith(("COV_CORE_", "COVERAGE_"))
    }
    env[NO_MARKERS_ENV] = "1"
    # A test database of its own: the parent's is in use (PostgreSQL, MariaDB).
    for name in ("PGDATABASE", "MYSQL_DATABASE"):
        env[name] = f"{os.environ.get(name, 'test')}_can_fail"
    return env


def _results(report: Path) -> dict[str, set[str]]:
    """Outcomes of each test function (its parametrized cases together) in a JUnit report:
    ``{"tests/x.py::test_y": {"failed", "passed"}}``."""
    outcomes: dict[str, set[str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        function = case.get("name", "").split("[")[0]
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(
            next(iter(kinds), ""), "passed"
        )
        outcomes.setdefault(f"{module}::{function}", set()).add(outcome)
    return outcomes


@pytest.mark.skipif(
    bool(os.environ.get(NO_MARKERS_ENV)), reason="runs the suite without markers itself"
)
def test_the_revocation_tests_fail_when_no_marker_is_written(tmp_path):
    report = tmp_path / "report.xml"
    command = [
        sys.executable, "-c", RUN_PYTEST,
        "--import-mode=append", "-p", "no:cacheprovider", "-q", "-o", "addopts=",
        "-m", "not browser and not redis and not fuzz", f"--junitxml={report}",
        *NODE_IDS,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=REPO,
        env=_child_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    output = done.stdout[-5000:] + done.stderr[-5000:]
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, output

    outcomes = _results(report)
    functions = [node.split("[")[0] for node in NODE_IDS]  # as _results names them
    not_run = [node for node in functions if node not in outcomes]
    assert not_run == [], output
    # Every case failed: none passed without its marker, none errored or was skipped
    # (that would be a broken run, not a proof).
    not_failing = {node: outcomes[node] for node in functions if outcomes[node] != {"failed"}}
    assert not_failing == {}, output
