"""``manage.py tokensessions_purge``: delete sessions that ended longer ago than a retention.

A session has ended when it was revoked or passed its idle or absolute expiry; a live
session is never deleted. Rows go in batches, each its own short transaction, so the
command can run while traffic flows (from cron, say, daily). Revocation records older
than a marker lifetime go too: no access token they could refuse is left.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from ...conf import app_settings
from ...models import DeviceSession, DeviceSessionQuerySet, RevocationRecord, ended_before
from ...revocation import marker_lifetime

_DURATION = re.compile(r"^\s*(\d+)\s*([dhms]?)\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "": "seconds"}


def parse_duration(value: str) -> timedelta:
    """``"7d"``, ``"12h"``, ``"90m"``, ``"30s"`` or plain seconds (``"3600"``)."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(value)
    number, unit = match.groups()
    return timedelta(**{_UNITS[unit.lower()]: int(number)})


def purgeable(cutoff: datetime) -> DeviceSessionQuerySet:
    """The sessions :func:`ended_before` ``cutoff``."""
    return DeviceSession.objects.filter(ended_before(cutoff))


def _delete(pks: list[Any], cutoff: datetime) -> int:
    _total, by_model = (
        DeviceSession.objects.filter(pk__in=pks).filter(ended_before(cutoff)).delete()
    )
    return by_model.get(DeviceSession._meta.label, 0)


def purge_records(before: datetime, batch_size: int) -> int:
    """Delete the revocation records written before ``before``, in batches; returns how many.

    Walks the primary key (records are few: one per deleted session or user, kept for a
    marker lifetime), each batch its own short transaction.
    """
    deleted, after = 0, 0
    while True:
        with transaction.atomic():
            old = RevocationRecord.objects.filter(created_at__lt=before, pk__gt=after)
            pks = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if pks:
                deleted += RevocationRecord.objects.filter(pk__in=pks).delete()[0]
        if len(pks) < batch_size:
            return deleted
        after = pks[-1]


def _sessions(count: int) -> str:
    return f"{count} session" if count == 1 else f"{count} sessions"


class Command(BaseCommand):
    help = (
        "Delete device sessions revoked or expired longer ago than the retention "
        "(TOKEN_SESSIONS['PURGE_RETENTION'], default 30 days), in batches. Live sessions "
        "are never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            metavar="DURATION",
            help="retention: sessions that ended longer ago are deleted; 7d, 12h, 90m, 30s or "
            "seconds (default: TOKEN_SESSIONS['PURGE_RETENTION'])",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            help="rows deleted per transaction (default 1000)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count the sessions to delete; delete none"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        retention = self._retention(options["older_than"])
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        now = timezone.now()
        cutoff = now - retention

        if options["dry_run"]:
            count = purgeable(cutoff).count()
            self.stdout.write(
                f"Would delete {_sessions(count)} that ended before {cutoff.isoformat()} "
                "(dry run: nothing deleted)."
            )
            return

        deleted = 0
        verbose = options["verbosity"] >= 2
        # Two passes, one per indexed column: revoked before the cutoff, then idle-expired
        # before it. Each walks its index in order from where the previous batch stopped
        # (keyset pagination), so a batch never re-reads the rows, live or dead, that the
        # batches before it went past: the run stays linear in what it deletes. (Picking
        # "any ended rows, LIMIT n" instead makes every batch scan the table from its start,
        # through the dead tuples of the batches before: quadratic on a big table.)
        for column in ("revoked_at", "idle_expires_at"):
            after: datetime | None = None
            while True:
                # Each batch its own short transaction: read up to batch_size keys, delete
                # those rows (the DELETE checks the condition again), commit.
                with transaction.atomic():
                    batch = DeviceSession.objects.filter(**{f"{column}__lt": cutoff})
                    if after is not None:
                        batch = batch.filter(**{f"{column}__gte": after})
                    rows = list(batch.order_by(column).values_list("pk", column)[:batch_size])
                    if rows:
                        deleted += _delete([pk for pk, _value in rows], cutoff)
                if len(rows) < batch_size:
                    break
                after = rows[-1][1]
                if verbose:
                    self.stdout.write(f"  {deleted} deleted so far")
        self.stdout.write(f"Deleted {_sessions(deleted)} that ended before {cutoff.isoformat()}.")
        # A revocation record refuses access tokens issued before it: after a marker
        # lifetime there are none left (whatever the retention of sessions).
        records = purge_records(now - timedelta(seconds=marker_lifetime()), batch_size)
        if records:
            self.stdout.write(f"Deleted {records} expired revocation record(s).")

    def _retention(self, older_than: str | None) -> timedelta:
        if older_than is None:
            retention = app_settings.PURGE_RETENTION
        else:
            try:
                retention = parse_duration(older_than)
            except ValueError:
                raise CommandError(
                    f"--older-than {older_than!r}: use a number of seconds, or a number "
                    "followed by d, h, m or s (7d, 12h, 90m)."
                ) from None
        if retention < timedelta(0):
            raise CommandError("The retention cannot be negative.")
        # A revoked session's access tokens are refused thanks to its revocation marker,
        # which is rebuilt from the database if the cache loses it — for as long as the
        # row exists. So rows are kept at least as long as a marker lives.
        floor = timedelta(seconds=marker_lifetime())
        if retention < floor:
            self.stderr.write(
                f"Retention raised from {retention} to {floor}: sessions revoked more "
                "recently may still have access tokens out there, refused only while the "
                "session's row exists."
            )
            retention = floor
        return retention
