"""Time the DeviceSession admin changelist on PostgreSQL with a million sessions.

Not a test (pytest does not collect it): run it by hand, from the repository root::

    PGDATABASE=tokensess_admin_perf python -m tests.perf_admin_changelist --explain

``PGDATABASE`` names a scratch database on 127.0.0.1:5432 (``PGHOST``/``PGPORT``/``PGUSER``
as for the tests): it is created if missing, migrated, and filled once with ``--rows``
sessions (default 1,000,000) for ``--users`` users (default 1,000), inserted by one
``INSERT … SELECT generate_series`` and then ``VACUUM ANALYZE``-d. Later runs reuse the
rows (``--rebuild`` inserts them again). Each changelist URL is fetched through Django's
test client as a superuser, once to warm up and then ``--repeat`` times; the median time
and the number of queries of one page are printed. ``--explain`` adds ``EXPLAIN ANALYZE``
of the queries each page ran on the session table; ``--stock-count`` measures with Django's
own paginator and full result count instead, for comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from urllib.parse import urlencode


def _ensure_database(name: str) -> None:
    import psycopg

    conninfo = {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
        "password": os.environ.get("PGPASSWORD", ""),
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**conninfo) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


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


def _populate(rows: int, users: int, rebuild: bool) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from django_token_sessions.models import DeviceSession

    user_model = get_user_model()
    table = DeviceSession._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT reltuples FROM pg_class WHERE relname = '{table}'")
        estimate = cursor.fetchone()[0]
        if not rebuild and abs(estimate - rows) < rows * 0.05 + 1:
            print(f"reusing the {estimate:,.0f} rows of {table} (--rebuild to insert again)")
            return
        cursor.execute(f"TRUNCATE {table} CASCADE")
    user_model._default_manager.filter(username__startswith="perfuser").delete()
    user_model._default_manager.bulk_create(
        [
            user_model(username=f"perfuser{i:04d}", email=f"perfuser{i:04d}@example.com")
            for i in range(1, users + 1)
        ]
    )
    pk = connection.ops.quote_name(user_model._meta.pk.column)
    user_table = connection.ops.quote_name(user_model._meta.db_table)
    labels = "ARRAY[" + ",".join(f"'{label}'" for label in LABELS) + "]"
    reasons = "ARRAY[" + ",".join(f"'{reason}'" for reason in REASONS) + "]"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Sessions created over 90 days, each seen last at some point of its 30-day life;
        # 40 % revoked (0.5 % of all by an admin): a mix of active, revoked and expired.
        cursor.execute(
            f"""
            WITH u AS (
                SELECT array_agg({pk} ORDER BY {pk}) AS ids FROM {user_table}
                WHERE username LIKE 'perfuser%'
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
    print(f"inserted {rows:,} sessions in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(f"VACUUM ANALYZE {user_table}")
    print(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")


def _cases() -> list[tuple[str, dict[str, str]]]:
    from django.utils import timezone

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        ("unfiltered", {}),
        ("unfiltered, page 50", {"p": "50"}),
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
        ("search: username", {"q": "perfuser0123"}),
        ("search: user:username", {"q": "user:perfuser0123"}),
        ("search: IP", {"q": "10.95.49.146"}),
        ("search: device label", {"q": "Safari on iOS"}),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="insert the rows again")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the queries")
    parser.add_argument("--only", help="run only the cases whose label contains this")
    parser.add_argument(
        "--stock-count",
        action="store_true",
        help="for comparison: Django's own Paginator and show_full_result_count = True",
    )
    args = parser.parse_args()

    database = os.environ.get("PGDATABASE", "")
    if not database or database == "test":
        print("Set PGDATABASE to a scratch database: it is filled with --rows sessions.")
        return 2
    os.environ["TEST_DB"] = "postgres"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    _ensure_database(database)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from django_token_sessions.models import DeviceSession

    setup_test_environment()
    if args.stock_count:
        from django.contrib import admin
        from django.core.paginator import Paginator

        model_admin = admin.site._registry[DeviceSession]
        model_admin.paginator = Paginator
        model_admin.show_full_result_count = True
    call_command("migrate", verbosity=0)
    _populate(args.rows, args.users, args.rebuild)
    admin_user = get_user_model()._default_manager.filter(username="perfadmin").first()
    if admin_user is None:
        admin_user = get_user_model()._default_manager.create_superuser(
            username="perfadmin", email="perfadmin@example.com", password="perf-admin-pw"
        )
    client = Client()
    client.force_login(admin_user)
    table = DeviceSession._meta.db_table
    base = "/admin/token_sessions/devicesession/"

    print(f"\n{'case':<24} {'median ms':>10} {'min ms':>8} {'queries':>8}  shown")
    explains: list[tuple[str, str, list[str]]] = []
    for label, params in _cases():
        if args.only and args.only not in label:
            continue
        url = base + ("?" + urlencode(params) if params else "")
        client.get(url)  # warm up: caches, the session row
        times = []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        count = response.context["cl"].result_count
        rows_on_page = len(response.context["cl"].result_list)
        print(
            f"{label:<24} {statistics.median(times):>10.1f} {min(times):>8.1f} "
            f"{len(ctx.captured_queries):>8}  {rows_on_page} rows of {count:,}"
        )
        ours = [
            q["sql"] for q in ctx.captured_queries if table in q["sql"] or "pg_class" in q["sql"]
        ]
        explains.append((label, url, ours))

    if args.explain:
        for label, url, queries in explains:
            print(f"\n=== {label}: {url}")
            for sql in queries:
                print(f"\n-- {sql}\n")
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    print("\n".join(row[0] for row in cursor.fetchall()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
