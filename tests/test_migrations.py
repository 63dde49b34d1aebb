"""Models and migrations agree, on every Django version of the matrix."""

import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader


@pytest.mark.django_db
@pytest.mark.parametrize("app_label", ["token_sessions", "token_sessions_legacy"])
def test_no_missing_migrations(app_label):
    call_command("makemigrations", app_label, "--check", "--dry-run", verbosity=0)


def test_the_core_migrations_know_nothing_of_the_legacy_app():
    # A project without django_token_sessions.contrib.legacy migrates the core alone.
    loader = MigrationLoader(None, ignore_no_migrations=True)
    core = [m for key, m in loader.disk_migrations.items() if key[0] == "token_sessions"]
    assert core
    assert not [d for m in core for d in m.dependencies if d[0] == "token_sessions_legacy"]
    legacy = loader.disk_migrations[("token_sessions_legacy", "0001_initial")]
    assert ("token_sessions", "0001_initial") in legacy.dependencies


@pytest.mark.django_db
def test_sessions_are_found_by_user_through_one_composite_index():
    # Every index is written on each login, refresh and revocation (none of them is a
    # HOT update on PostgreSQL): the foreign key's own index would duplicate the leading
    # column of (user, revoked_at), which serves lookups and cascades by user.
    from django.db import connection

    from django_token_sessions.models import DeviceSession

    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, DeviceSession._meta.db_table)
    indexes = [c["columns"] for c in found.values() if c["index"] and not c["primary_key"]]
    assert ["user_id", "revoked_at"] in indexes
    if connection.vendor != "mysql":  # InnoDB keeps an index of its own for the FK
        assert ["user_id"] not in indexes
