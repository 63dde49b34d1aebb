"""Models and migrations agree, on every Django version of the matrix."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "token_sessions", "--check", "--dry-run", verbosity=0)


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
