"""Models and migrations agree, on every Django version of the matrix."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "token_sessions", "--check", "--dry-run", verbosity=0)
