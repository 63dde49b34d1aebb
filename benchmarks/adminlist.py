"""The DeviceSession admin changelist on a big table: time and queries of one page.

Shared by ``python -m benchmarks`` (``--admin-rows``) and ``benchmarks/perf_admin_changelist.py``.
The rows are inserted in bulk: on PostgreSQL one ``INSERT … SELECT generate_series`` and a
``VACUUM ANALYZE`` (a million rows in well under a minute); elsewhere ``bulk_create`` in
batches. Each page is fetched through Django's test client as a superuser (the whole
middleware stack, templates rendered), once to warm up, then ``repeat`` times.
Imported after Django is configured.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

CHANGELIST = "/admin/token_sessions/devicesession/"
USER_PREFIX = "perfuser"
LABELS = [
    "Firefox on Linux",
    "Chrome on Windows",
    "Safari on iOS",
    "Chrome on Android",
    "Firefox on macOS",
    "Edge on Windows",
]
REASONS = [
    "logout",
    "logout",
    "logout",
    "logout_all",
    "logout_others",
    "user_revoked_device",
    "password_changed",
    "session_limit",
    "reuse_detected",
]


def _make_users(users: int) -> None:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user_model._default_manager.filter(username__startswith=USER_PREFIX).delete()
    user_model._default_manager.bulk_create(
        [
            user_model(username=f"{USER_PREFIX}{i:04d}", email=f"{USER_PREFIX}{i:04d}@example.com")
            for i in range(1, users + 1)
        ]
    )


def populate(rows: int, users: int) -> float:
    """Insert ``rows`` sessions for ``users`` new users (the table is emptied first);
    returns the seconds it took, statistics included."""
    from django.db import connection

    from django_token_sessions.models import DeviceSession

    started = time.perf_counter()
    table = DeviceSession._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table} CASCADE")
    else:
        DeviceSession.objects.all()._raw_delete(DeviceSession.objects.db)
    _make_users(users)
    if connection.vendor == "postgresql":
        _insert_postgresql(rows)
    else:
        _insert_orm(rows)
    return time.perf_counter() - started


def _insert_postgresql(rows: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from django_token_sessions.models import DeviceSession

    user_model = get_user_model()
    table = DeviceSession._meta.db_table
    pk = connection.ops.quote_name(user_model._meta.pk.column)
    user_table = connection.ops.quote_name(user_model._meta.db_table)
    labels = "ARRAY[" + ",".join(f"'{label}'" for label in LABELS) + "]"
    reasons = "ARRAY[" + ",".join(f"'{reason}'" for reason in REASONS) + "]"
    with connection.cursor() as cursor:
        # Sessions created over 90 days, each seen last at some point of its 30-day life;
        # 40 % revoked (0.5 % of all by an admin): a mix of active, revoked and expired.
        cursor.execute(
            f"""
            WITH u AS (
                SELECT array_agg({pk} ORDER BY {pk}) AS ids FROM {user_table}
                WHERE username LIKE '{USER_PREFIX}%'
            ), s AS (
                SELECT g, now() - random() * interval '90 days' AS c,
                       random() AS r, random() AS r2, random() AS r3
                FROM generate_series(1, {int(rows)}) g
            ), t AS (
                SELECT *, c + r3 * (LEAST(now(), c + interval '30 days') - c) AS ls FROM s
            )
            INSERT INTO {table} (
                id, user_id, refresh_jti, previous_jti, created_at, last_seen_at, rotated_at,
                idle_expires_at, absolute_expires_at, revoked_at, revoke_reason, ip_address,
                user_agent, device_label, name
            )
            SELECT gen_random_uuid(), u.ids[1 + g % array_length(u.ids, 1)],
                   md5(g::text || 'current'), md5(g::text || 'previous'),
                   c, ls, ls,
                   LEAST(ls + interval '7 days', c + interval '30 days'),
                   c + interval '30 days',
                   CASE WHEN r < 0.4 THEN LEAST(ls + interval '5 minutes', now()) END,
                   CASE WHEN r < 0.005 THEN 'admin'
                        WHEN r < 0.4 THEN ({reasons})[1 + floor(r2 * {len(REASONS)})::int]
                        ELSE '' END,
                   ('10.' || (g % 250) || '.' || ((g / 250) % 250) || '.' || (1 + g % 200))::inet,
                   'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0',
                   ({labels})[1 + g % {len(LABELS)}],
                   CASE WHEN g % 20 = 0 THEN 'Work laptop' ELSE '' END
            FROM t, u
            """
        )
        # The admin's estimated count reads pg_class.reltuples: fresh statistics.
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(f"VACUUM ANALYZE {user_table}")


def _insert_orm(rows: int, batch: int = 5_000) -> None:
    """The same mix as on PostgreSQL, built in Python (seeded, so repeatable)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from django_token_sessions.models import DeviceSession

    user_ids = list(
        get_user_model()
        ._default_manager.filter(username__startswith=USER_PREFIX)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rng = random.Random(0)
    now = timezone.now()
    month = timedelta(days=30)
    for start in range(0, rows, batch):
        sessions = []
        for g in range(start + 1, min(rows, start + batch) + 1):
            created = now - timedelta(days=90 * rng.random())
            seen = created + rng.random() * (min(now, created + month) - created)
            r = rng.random()
            reason = "admin" if r < 0.005 else (REASONS[int(rng.random() * 9)] if r < 0.4 else "")
            sessions.append(
                DeviceSession(
                    id=uuid.UUID(int=rng.getrandbits(128)),
                    user_id=user_ids[g % len(user_ids)],
                    refresh_jti=f"{g:032x}",
                    previous_jti=f"{g:031x}p",
                    created_at=created,
                    last_seen_at=seen,
                    rotated_at=seen,
                    idle_expires_at=min(seen + timedelta(days=7), created + month),
                    absolute_expires_at=created + month,
                    revoked_at=min(seen + timedelta(minutes=5), now) if r < 0.4 else None,
                    revoke_reason=reason,
                    ip_address=f"10.{g % 250}.{(g // 250) % 250}.{1 + g % 200}",
                    user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0",
                    device_label=LABELS[g % len(LABELS)],
                    name="Work laptop" if g % 20 == 0 else "",
                )
            )
        DeviceSession.objects.bulk_create(sessions)


def remove(users: int | None = None) -> None:
    """Delete the inserted sessions and users (the benchmark's own rows are kept)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from django_token_sessions.models import DeviceSession

    perf_users = get_user_model()._default_manager.filter(username__startswith=USER_PREFIX)
    DeviceSession.objects.filter(user__in=perf_users)._raw_delete(DeviceSession.objects.db)
    perf_users.delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {DeviceSession._meta.db_table}")


def deep_page(rows: int) -> int:
    """The deep page of the list: 50, or the last one of a smaller table (100 a page)."""
    return max(1, min(50, rows // 100))


def cases(rows: int = 1_000_000) -> list[tuple[str, dict[str, str]]]:
    """Changelist URLs: the default list, deep paging, each filter, each kind of search."""
    from django.utils import timezone

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    page = deep_page(rows)
    return [
        ("unfiltered", {}),
        (f"unfiltered, page {page}", {"p": str(page)}),
        ("status=active", {"status": "active"}),
        ("status=revoked", {"status": "revoked"}),
        ("status=expired", {"status": "expired"}),
        ("reason=admin", {"revoke_reason__exact": "admin"}),
        (
            "created: past 7 days",
            {
                "created_at__gte": str(today - timedelta(days=7)),
                "created_at__lt": str(today + timedelta(days=1)),
            },
        ),
        (
            "created: today",
            {"created_at__gte": str(today), "created_at__lt": str(today + timedelta(days=1))},
        ),
        ("search: username", {"q": f"{USER_PREFIX}0123"}),
        ("search: user:username", {"q": f"user:{USER_PREFIX}0123"}),
        ("search: IP", {"q": "10.95.49.146"}),
        ("search: device label", {"q": "Safari on iOS"}),
    ]


def full_counts(statements: list[str]) -> list[str]:
    """The ``COUNT(`` statements that are not bounded by a ``LIMIT``: a scan of every row
    the filter matches (the whole table when unfiltered)."""
    return [sql for sql in statements if "COUNT(" in sql.upper() and "LIMIT" not in sql.upper()]


@dataclass
class Page:
    label: str
    url: str
    times_ms: list[float] = field(default_factory=list)
    queries: int = 0
    statements: list[str] = field(default_factory=list)
    rows_shown: int = 0
    result_count: int = 0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "url": self.url,
            "median_ms": self.median_ms,
            "min_ms": min(self.times_ms),
            "max_ms": max(self.times_ms),
            "repeat": len(self.times_ms),
            "queries": self.queries,
            "full_counts": full_counts(self.statements),
            "rows_shown": self.rows_shown,
            "result_count": self.result_count,
            "statements": self.statements,
        }


def superuser() -> Any:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    found = user_model._default_manager.filter(username="perfadmin").first()
    return found or user_model._default_manager.create_superuser(
        username="perfadmin", email="perfadmin@example.com", password="perf-admin-pw"
    )


def measure(repeat: int, rows: int, only: str | None = None) -> list[Page]:
    """Each changelist case: warm-up fetch, then ``repeat`` timed fetches; the queries of
    the last one."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import (
        CaptureQueriesContext,
        setup_test_environment,
        teardown_test_environment,
    )

    # The test environment records the template context (the ChangeList); the benchmark
    # does not run under it otherwise.
    setup_test_environment()
    try:
        return _measure(Client(), repeat, rows, only, connection, CaptureQueriesContext)
    finally:
        teardown_test_environment()


def _measure(
    client: Any, repeat: int, rows: int, only: str | None, connection: Any, capture: Any
) -> list[Page]:
    client.force_login(superuser())
    pages = []
    for label, params in cases(rows):
        if only and only not in label:
            continue
        page = Page(label, CHANGELIST + ("?" + urlencode(params) if params else ""))
        client.get(page.url)  # warm up: the session row, content types, templates
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(page.url)
            page.times_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"admin {page.url}: status {response.status_code}")
        with capture(connection) as queries:  # counted apart: the counter costs time
            response = client.get(page.url)
        page.queries = len(queries.captured_queries)
        page.statements = [q["sql"] for q in queries.captured_queries]
        page.rows_shown = len(response.context["cl"].result_list)
        page.result_count = response.context["cl"].result_count
        pages.append(page)
    return pages
