"""``manage.py tokensessions_purge``: what it deletes, what it never deletes, and how."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_token_sessions import revocation, services
from django_token_sessions.checks import check_settings
from django_token_sessions.management.commands.tokensessions_purge import parse_duration
from django_token_sessions.models import DeviceSession, RevocationRecord
from tests.support.clients import bearer

pytestmark = pytest.mark.django_db

TABLE = DeviceSession._meta.db_table


def purge(*args):
    out, err = StringIO(), StringIO()
    call_command("tokensessions_purge", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def session(user, *, revoked=None, idle=None, absolute=None):
    """A session of ``user``, revoked or expired that long ago (timedeltas), else live."""
    pk = services.create_session(user).session_id
    now = timezone.now()
    updates = {}
    if revoked is not None:
        updates.update(revoked_at=now - revoked, revoke_reason="logout")
    if absolute is not None:
        # As the services write it: the idle expiry never passes the absolute one.
        updates.update(absolute_expires_at=now - absolute, idle_expires_at=now - absolute)
    if idle is not None:
        updates.update(idle_expires_at=now - idle)
    if updates:
        DeviceSession.objects.filter(pk=pk).update(**updates)
    return pk


def remaining():
    return set(DeviceSession.objects.values_list("pk", flat=True))


def deletes(queries):
    return [q["sql"] for q in queries if q["sql"].startswith("DELETE") and TABLE in q["sql"]]


def test_deletes_sessions_ended_before_the_default_30_days_and_nothing_else(user, make_user):
    days = timedelta(days=1)
    live = session(user)
    old_but_live = session(user)  # created long ago, still refreshed: live
    DeviceSession.objects.filter(pk=old_but_live).update(
        created_at=timezone.now() - 29 * days, last_seen_at=timezone.now() - 31 * days
    )
    kept = {
        session(user, revoked=29 * days),
        session(user, idle=29 * days),
        session(user, absolute=29 * days),
    }
    purged = {
        session(user, revoked=31 * days),
        session(make_user("bob"), idle=31 * days),
        session(user, absolute=31 * days),
        session(user, revoked=31 * days, idle=400 * days),
    }

    out, err = purge()

    assert remaining() == {live, old_but_live, *kept}
    assert out.startswith("Deleted 4 sessions that ended before ")
    # Sessions that ended longer than a marker lifetime ago have no token left to refuse.
    assert not RevocationRecord.objects.exists()
    assert err == ""
    assert not DeviceSession.objects.filter(pk__in=purged).exists()


def test_dry_run_counts_and_changes_nothing(user):
    for _ in range(3):
        session(user, revoked=timedelta(days=60))
    session(user, revoked=timedelta(days=3))
    session(user)
    before = list(DeviceSession.objects.order_by("pk").values())

    with CaptureQueriesContext(connection) as queries:
        out, _ = purge("--dry-run")

    assert out.startswith("Would delete 3 sessions that ended before ")
    assert "nothing deleted" in out
    assert list(DeviceSession.objects.order_by("pk").values()) == before
    assert deletes(queries) == []
    assert purge("--dry-run", "--older-than", "2d")[0].startswith("Would delete 4 sessions")
    assert purge("--dry-run", "--older-than", "90d")[0].startswith("Would delete 0 sessions")


def test_batches_walk_revoked_then_expired_and_survive_equal_timestamps(user, make_user):
    bob = make_user("bob")
    for _ in range(2):
        session(user, idle=timedelta(days=50))
    # logout-everywhere revokes all of a user's sessions with one UPDATE: one timestamp.
    for _ in range(5):
        session(bob)
    services.logout_everywhere(bob)
    DeviceSession.objects.filter(user=bob).update(revoked_at=timezone.now() - timedelta(days=45))
    live = session(user)

    with CaptureQueriesContext(connection) as queries:
        out, _ = purge("--batch-size", "2")

    assert remaining() == {live}
    assert out.startswith("Deleted 7 sessions")
    # revoked: 2 + 2 + 1 (the last batch is short: the pass ends); expired: 2, then none.
    assert len(deletes(queries)) == 4


@pytest.mark.parametrize(("rows", "batch", "statements"), [(5, 2, 3), (4, 2, 2), (5, 1000, 1)])
def test_deletes_in_batches(user, rows, batch, statements):
    for _ in range(rows):
        session(user, revoked=timedelta(days=40))
    live = session(user)

    with CaptureQueriesContext(connection) as queries:
        out, _ = purge("--batch-size", str(batch))

    assert remaining() == {live}
    assert out.startswith(f"Deleted {rows} sessions")
    assert len(deletes(queries)) == statements


@pytest.mark.parametrize(
    ("older_than", "retention"),
    [("7d", timedelta(days=7)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90))],
)
def test_retention_boundaries(user, monkeypatch, older_than, retention):
    now = timezone.now()
    cutoff = now - retention
    tick = timedelta(microseconds=1)
    before = session(user)
    at = session(user)
    after = session(user)
    expired_before = session(user)
    DeviceSession.objects.filter(pk=before).update(revoked_at=cutoff - tick)
    DeviceSession.objects.filter(pk=at).update(revoked_at=cutoff)
    DeviceSession.objects.filter(pk=after).update(revoked_at=cutoff + tick)
    DeviceSession.objects.filter(pk=expired_before).update(idle_expires_at=cutoff - tick)
    monkeypatch.setattr(timezone, "now", lambda: now)

    out, _ = purge("--older-than", older_than)

    assert remaining() == {at, after}
    assert f"that ended before {cutoff.isoformat()}" in out


def test_the_retention_setting_and_seconds(user):
    week_old = session(user, revoked=timedelta(days=7, hours=1))
    hour_old = session(user, revoked=timedelta(hours=2))
    with override_settings(TOKEN_SESSIONS={"PURGE_RETENTION": timedelta(days=8)}):
        purge()
    assert remaining() == {week_old, hour_old}
    with override_settings(TOKEN_SESSIONS={"PURGE_RETENTION": 6 * 24 * 3600}):
        purge()
    assert remaining() == {hour_old}
    purge("--older-than", "3600")
    assert remaining() == set()


def test_never_deletes_a_live_session_nor_a_revocation_tokens_may_still_need(user, login):
    live = login(user)
    just_revoked = login(user)
    services.revoke_session(just_revoked["session"]["id"], reason="logout")
    expired = session(user, idle=timedelta(seconds=5))

    out, err = purge("--older-than", "0")

    # The retention is raised to the revocation markers' lifetime (access lifetime+leeway):
    # the revoked row stays while its access token could still be presented.
    assert "Retention raised from 0:00:00 to 0:15:01" in err
    assert remaining() == {
        DeviceSession.objects.get(pk=live["session"]["id"]).pk,
        DeviceSession.objects.get(pk=just_revoked["session"]["id"]).pk,
        expired,
    }
    assert out.startswith("Deleted 0 sessions")
    assert bearer(live["access"]).get("/api/me/").status_code == 200
    assert bearer(just_revoked["access"]).get("/api/me/").status_code == 401


def test_a_purged_session_leaves_its_legacy_exchange_record(user):
    # The legacy contrib app's record points at the session: SET_NULL, not a failed delete.
    from django_token_sessions.contrib.legacy.models import LegacyTokenExchange

    pk = session(user, revoked=timedelta(days=40))
    record = LegacyTokenExchange.objects.create(
        jti="legacy-jti", user=user, session_id=pk, expires_at=timezone.now() + timedelta(days=1)
    )

    purge()

    assert remaining() == set()
    record.refresh_from_db()
    assert record.session_id is None


@pytest.mark.parametrize("value", ["abc", "7w", "-5", "1.5h", "", "d", "7 days"])
def test_a_bad_older_than_is_a_command_error(value):
    with pytest.raises(CommandError, match="--older-than"):
        purge("--older-than", value)


def test_bad_batch_size_and_negative_setting_are_command_errors():
    with pytest.raises(CommandError, match="--batch-size"):
        purge("--batch-size", "0")
    with (
        override_settings(TOKEN_SESSIONS={"PURGE_RETENTION": timedelta(days=-1)}),
        pytest.raises(CommandError, match="negative"),
    ):
        purge()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
        ("3600", timedelta(hours=1)),
        (" 2D ", timedelta(days=2)),
        ("0", timedelta(0)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("value", [-1, "30 days", timedelta(seconds=-1), True])
def test_check_e017_rejects_a_bad_retention(value):
    with override_settings(TOKEN_SESSIONS={"PURGE_RETENTION": value}):
        assert "token_sessions.E017" in {m.id for m in check_settings()}


def test_check_accepts_a_retention():
    for value in (timedelta(days=7), 3600, 0):
        with override_settings(TOKEN_SESSIONS={"PURGE_RETENTION": value}):
            assert check_settings() == []


def test_purge_deletes_revocation_records_older_than_a_marker_lifetime(user):
    # Whatever the retention of sessions: a record refuses only tokens issued before it.
    now = timezone.now()
    lifetime = timedelta(seconds=revocation.marker_lifetime())
    for age in (lifetime + timedelta(seconds=1), timedelta(days=2), timedelta(days=40)):
        RevocationRecord.objects.create(session_id=uuid.uuid4(), created_at=now - age)
    RevocationRecord.objects.create(
        user_claim="carol", not_before_ms=1, created_at=now - timedelta(days=3)
    )
    recent = RevocationRecord.objects.create(
        session_id=uuid.uuid4(), created_at=now - lifetime + timedelta(seconds=60)
    )

    with CaptureQueriesContext(connection) as queries:
        out, _ = purge("--batch-size", "3")

    assert list(RevocationRecord.objects.values_list("pk", flat=True)) == [recent.pk]
    assert "Deleted 4 expired revocation record(s)." in out
    record_table = RevocationRecord._meta.db_table
    assert (
        len([q for q in queries if q["sql"].startswith("DELETE") and record_table in q["sql"]]) == 2
    )
