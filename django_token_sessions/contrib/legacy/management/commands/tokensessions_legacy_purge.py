"""``manage.py tokensessions_legacy_purge``: delete the records of expired legacy tokens.

A record only refuses a second exchange of its token; once the token has expired it is
refused anyway. Optional: ``migrate token_sessions_legacy zero`` drops every record when
the migration is over.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ...exchange import purge_exchanges


class Command(BaseCommand):
    help = (
        "Delete the records of exchanged legacy simplejwt refresh tokens that have expired "
        "(they are refused anyway)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = purge_exchanges()
        self.stdout.write(f"Deleted {deleted} expired legacy token record(s).")
