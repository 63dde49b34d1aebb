"""A project without ``django_token_sessions.contrib.legacy``: no legacy table, no legacy
code on the refresh path, and a plain simplejwt refresh token is ``token_invalid``.

The test settings install the app (test_legacy.py needs it), so this runs in a fresh
interpreter whose settings leave it out, migrating its own SQLite database from nothing.
The same probe with the app installed is the control: it shows the probe can see the app.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONTRIB = "django_token_sessions.contrib"
APP = f"{CONTRIB}.legacy"

_SETTINGS = """
from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [app for app in INSTALLED_APPS if {with_app} or app != {app!r}]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
"""

_PROBE = """
import json
import sys

import django

django.setup()

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import setup_test_environment
from rest_framework_simplejwt.tokens import RefreshToken

from django_token_sessions import services
from tests.support.clients import refresh

setup_test_environment()
call_command("migrate", verbosity=0)
user = get_user_model().objects.create_user(username="alice", password="secret")
plain = refresh(str(RefreshToken.for_user(user)))
rotated = refresh(services.create_session(user).tokens.refresh)
applied = MigrationRecorder.Migration.objects.values_list("app", "name")
print(json.dumps({
    "tables": connection.introspection.table_names(),
    "migrations": sorted(f"{app}.{name}" for app, name in applied if "token_sessions" in app),
    "plain": [plain.status_code, plain.json()["code"] if plain.status_code != 200 else None],
    "rotated": rotated.status_code,
    "modules": sorted(name for name in sys.modules if name.startswith("django_token_sessions")),
}))
"""


def _probe(tmp_path: Path, *, with_app: bool) -> dict[str, Any]:
    (tmp_path / "probe_settings.py").write_text(
        _SETTINGS.format(with_app=with_app, app=APP, db=str(tmp_path / "db.sqlite3"))
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env["DJANGO_SETTINGS_MODULE"] = "probe_settings"
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO)])
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return found


def test_without_the_app_nothing_of_it_exists(tmp_path):
    found = _probe(tmp_path, with_app=False)

    assert not [table for table in found["tables"] if "legacy" in table]
    # The core's own migrations only.
    assert found["migrations"]
    assert all(name.startswith("token_sessions.") for name in found["migrations"])
    assert found["plain"] == [401, "token_invalid"]
    assert found["rotated"] == 200
    # Not imported at all, so not on the refresh path either.
    assert not [name for name in found["modules"] if name.startswith(CONTRIB)]
    assert "django_token_sessions.services" in found["modules"]


def test_with_the_app_the_probe_sees_it(tmp_path):
    found = _probe(tmp_path, with_app=True)

    assert "token_sessions_legacy_legacytokenexchange" in found["tables"]
    assert "token_sessions_legacy.0001_initial" in found["migrations"]
    assert found["plain"] == [200, None]
    assert f"{APP}.exchange" in found["modules"]
