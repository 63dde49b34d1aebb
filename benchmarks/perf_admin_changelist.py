"""Time the DeviceSession admin changelist on PostgreSQL with a million sessions.

Run it by hand, from the repository root (it uses the test settings, ``tests/settings.py``,
on PostgreSQL)::

    PGDATABASE=tokensess_admin_perf python -m benchmarks.perf_admin_changelist --explain

``PGDATABASE`` names a scratch database on 127.0.0.1:5432 (``PGHOST``/``PGPORT``/``PGUSER``
as for the tests): it is created if missing, migrated, and filled once with ``--rows``
sessions (default 1,000,000) for ``--users`` users (default 1,000), inserted by one
``INSERT … SELECT generate_series`` and then ``VACUUM ANALYZE``-d. Later runs reuse the
rows (``--rebuild`` inserts them again). Each changelist URL is fetched through Django's
test client as a superuser, once to warm up and then ``--repeat`` times; the median time
and the number of queries of one page are printed. ``--explain`` adds ``EXPLAIN ANALYZE``
of the queries each page ran on the session table; ``--stock-count`` measures with Django's
own paginator and full result count instead, for comparison; ``--only`` runs the cases
whose label contains a word. The insert and the pages are ``benchmarks/adminlist.py``,
shared with ``python -m benchmarks`` (``--admin-rows``), which measures the same pages on a
table it fills and empties on every run, without the row reuse, ``EXPLAIN`` or the
comparison with Django's paginator this script adds.
"""

from __future__ import annotations

import argparse
import os
import sys


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


def _populate(rows: int, users: int, rebuild: bool) -> None:
    from django.db import connection

    from django_token_sessions.models import DeviceSession

    from . import adminlist

    table = DeviceSession._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT reltuples FROM pg_class WHERE relname = '{table}'")
        estimate = cursor.fetchone()[0]
    if not rebuild and abs(estimate - rows) < rows * 0.05 + 1:
        print(f"reusing the {estimate:,.0f} rows of {table} (--rebuild to insert again)")
        return
    seconds = adminlist.populate(rows, users)
    print(f"inserted {rows:,} sessions in {seconds:.1f} s (VACUUM ANALYZE included)")


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
    from django.core.management import call_command
    from django.db import connection

    from django_token_sessions.models import DeviceSession

    from . import adminlist

    if args.stock_count:
        from django.contrib import admin
        from django.core.paginator import Paginator

        model_admin = admin.site._registry[DeviceSession]
        model_admin.paginator = Paginator
        model_admin.show_full_result_count = True
    call_command("migrate", verbosity=0)
    _populate(args.rows, args.users, args.rebuild)
    table = DeviceSession._meta.db_table

    print(f"\n{'case':<24} {'median ms':>10} {'min ms':>8} {'queries':>8}  shown")
    explains: list[tuple[str, str, list[str]]] = []
    for page in adminlist.measure(args.repeat, args.rows, args.only):
        print(
            f"{page.label:<24} {page.median_ms:>10.1f} {min(page.times_ms):>8.1f} "
            f"{page.queries:>8}  {page.rows_shown} rows of {page.result_count:,}"
        )
        ours = [sql for sql in page.statements if table in sql or "pg_class" in sql]
        explains.append((page.label, page.url, ours))

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
