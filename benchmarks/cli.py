"""Command line: ``python -m benchmarks [--db sqlite|postgres] [--rounds N] [--quick] ...``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

from .environment import DEFAULT_REDIS_URL, REVOCATION_CACHE, Services, SetupError, set_up

DEFAULT_ROUNDS = 150
DEFAULT_BATCH_MS = 20.0
QUICK_ROUNDS = 3
QUICK_BATCH_MS = 2.0
COUNT_OPS = 50
#: Sessions in the table for the admin changelist rows (--admin-rows), per database.
ADMIN_ROWS = {"postgres": 1_000_000, "sqlite": 50_000}
ADMIN_ROWS_QUICK = 2_000
ADMIN_USERS = 1_000
CASE_KEYS = ("noauth", "stock", "stateless", "cache", "cache-sync", "db", "off", "off+ping")
RAW_KEYS = ("raw-pyjwt", "raw-decode", "raw-ping", "raw-cache", "raw-db")
_OP_PAIRS = ("op-login", "op-refresh", "op-logout-10", "op-logout-1000", "svc-login", "svc-refresh")
OP_KEYS = (
    *(f"{key}{side}" for key in _OP_PAIRS for side in ("", "-sj")),
    "op-sessions-1",
    "op-sessions-50",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Per-request cost of authenticating a DRF request: stock simplejwt versus "
        "SessionJWTAuthentication with each revocation backend, measured interleaved in "
        "one process.",
    )
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="sqlite: a file in a temporary directory (default); postgres: a scratch database "
        "on PGHOST:PGPORT (default 127.0.0.1:5432, user postgres), dropped at the end",
    )
    parser.add_argument(
        "--rounds", type=int, help=f"measured rounds (default {DEFAULT_ROUNDS}, quick 3)"
    )
    parser.add_argument(
        "--batch-ms",
        type=float,
        help=f"target duration of one batch (default {DEFAULT_BATCH_MS:g} ms, quick 2 ms)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few short rounds: a smoke test, not a measurement"
    )
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help=f"Redis database for the cache mode (default {DEFAULT_REDIS_URL}); only keys "
        "under the prefix tokensessions-bench are written and deleted",
    )
    parser.add_argument(
        "--profile",
        action="append",
        choices=CASE_KEYS + RAW_KEYS + OP_KEYS,
        default=[],
        metavar="CASE",
        help="after the tables, run CASE under cProfile and print the top functions "
        f"(repeatable; one of {', '.join(CASE_KEYS + RAW_KEYS + OP_KEYS)}; a "
        "logout-everywhere case runs once)",
    )
    parser.add_argument(
        "--profile-ops", type=int, default=3000, help="operations per profile (default 3000)"
    )
    parser.add_argument(
        "--admin-rows",
        type=int,
        metavar="N",
        help="sessions in the table for the admin changelist rows, inserted after the other "
        f"tables and deleted at the end (default {ADMIN_ROWS['postgres']:,} on postgres, "
        f"{ADMIN_ROWS['sqlite']:,} on sqlite, quick {ADMIN_ROWS_QUICK:,}; 0: no admin rows)",
    )
    parser.add_argument(
        "--admin-repeat",
        type=int,
        metavar="N",
        help="timed fetches of each changelist page (default 5, quick 2)",
    )
    args = parser.parse_args(argv)
    if args.admin_rows is None:
        args.admin_rows = ADMIN_ROWS_QUICK if args.quick else ADMIN_ROWS[args.db]
    if args.admin_repeat is None:
        args.admin_repeat = 2 if args.quick else 5
    if args.admin_rows < 0 or args.admin_repeat < 1:
        parser.error("--admin-rows must be 0 or more and --admin-repeat at least 1")
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    if args.batch_ms is None:
        args.batch_ms = QUICK_BATCH_MS if args.quick else DEFAULT_BATCH_MS
    if args.rounds < 1 or args.batch_ms <= 0:
        parser.error("--rounds must be at least 1 and --batch-ms positive")
    return args


class _Collect(logging.Handler):
    """Keeps the revocation store's warnings (expected once, at warm-up) off the terminal."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        services = set_up(args.db, args.redis_url)
    except SetupError as exc:
        print(f"python -m benchmarks: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args, services, started)
    finally:
        services.close()


def _run(args: argparse.Namespace, services: Services, started: float) -> int:
    from django.core.cache import caches
    from django.test import override_settings

    from . import report
    from .cases import BenchmarkError, build_cases, check_request_identity, make_fixture
    from .cases import sanity_check as run_once
    from .measure import FallbackCounter, close_info_clients, count, fresh_resync, interleave
    from .measure import resync as measure_resync
    from .operations import build_operation_cases

    log = _Collect()
    revocation_logger = logging.getLogger("django_token_sessions.revocation")
    revocation_logger.addHandler(log)
    revocation_logger.propagate = False
    fallbacks = FallbackCounter()
    fallbacks.install()
    try:
        fixture = make_fixture()
        cases = build_cases(fixture, services.redis_ok, services.redis_reason)
        cases += build_operation_cases(services.redis_ok, args.quick, args.rounds)
        active = [case for case in cases if not case.skipped]
        try:
            # The first cache-mode request finds no readiness key (Redis was just cleared),
            # is answered from the database and warms the cache; every later one is not.
            for case in active:
                if case.sanity:
                    run_once(case)
            check_request_identity(fixture)
        except BenchmarkError as exc:
            print(f"python -m benchmarks: a case failed its sanity check: {exc}", file=sys.stderr)
            return 1
        warm_up_fallbacks, fallbacks.count = fallbacks.count, 0

        config = {
            "db": args.db,
            "rounds": args.rounds,
            "warmup_rounds": 1 if args.quick else 2,
            "batch_ms": args.batch_ms,
            "quick": args.quick,
            "redis": services.redis_ok,
            "count_ops": COUNT_OPS,
            "admin_rows": args.admin_rows,
            "admin_repeat": args.admin_repeat,
        }
        env = report.environment(services)
        header = report.header_lines(env, config)
        print("\n".join(header), flush=True)
        print(flush=True)

        try:
            results = interleave(
                active,
                args.rounds,
                args.batch_ms,
                warmup_rounds=config["warmup_rounds"],
                progress=_progress if sys.stderr.isatty() else None,
            )
            timed_fallbacks, fallbacks.count = fallbacks.count, 0
            redis_cache = caches[REVOCATION_CACHE] if services.redis_ok else None
            for case in active:
                if case.uses_redis:
                    fresh_resync(case)
                results[case.key].counts = count(
                    case,
                    COUNT_OPS,
                    redis_cache if case.uses_redis else None,
                    services.redis_url if case.uses_redis else None,
                )
        except BenchmarkError as exc:
            print(f"python -m benchmarks: a case failed while measured: {exc}", file=sys.stderr)
            return 1
        resync = None
        if services.redis_ok:
            with override_settings(
                TOKEN_SESSIONS={
                    "REVOCATION_BACKEND": "django_token_sessions.revocation.redis.RedisBackend",
                    "REVOCATION_CACHE": REVOCATION_CACHE,
                }
            ):
                resync = measure_resync(caches[REVOCATION_CACHE])
        admin = _admin_table(args, config)
        skipped = {case.key: case for case in cases if case.skipped}
        for key, case in skipped.items():
            results.setdefault(key, _empty_result(case))
        ordered = {case.key: results[case.key] for case in cases}

        document: dict[str, Any] = {
            "environment": env,
            "config": config,
            "header": header,
            "requests": report.rows(ordered, "request"),
            "raw": report.rows(ordered, "raw"),
            "operations": report.ops_rows(ordered),
            "admin": admin,
            "resync": resync,
            "fallbacks": {"warm_up": warm_up_fallbacks, "timed": timed_fallbacks},
            "revocation_log": log.messages,
        }
        document["notes"] = report.notes(document)
        for group in ("request", "raw"):
            key = "requests" if group == "request" else "raw"
            print("\n".join(report.text_table(group, document[key])))
            print()
        print("\n".join(report.ops_text_table(document["operations"])))
        print()
        if admin["pages"]:
            print("\n".join(report.admin_text_table(admin)))
            print()
        document["budgets"] = report.budgets(document)
        document["targets"] = report.targets(document)
        print("\n".join(report.budget_text_table(document["budgets"])))
        print()
        print("\n".join(report.target_text_table(document["targets"], args.db)))
        print()
        mode = "cache" if services.redis_ok else "db"
        document["notes"].append(report.OPS_NOTE.format(mode=mode))
        if admin["pages"]:
            document["notes"].append(report.ADMIN_NOTE.format(**admin))
        if resync is not None:
            document["notes"].append(report.RESYNC_NOTE.format(**resync))
        for note in document["notes"]:
            print(f"* {note}")
        elapsed = time.monotonic() - started
        document["elapsed_s"] = round(elapsed, 1)
        load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
        document["environment"]["load_average_at_end"] = load
        print(f"* Total time {elapsed:.1f} s; load average at the end {load}.")
        if args.json:
            report.write_json(args.json, document)
            print(f"* JSON written to {args.json}")
        if args.markdown:
            report.write_markdown(args.markdown, document)
            print(f"* Markdown written to {args.markdown}")
        for key in args.profile:
            if key in skipped:
                print(f"\nprofile of {key}: {skipped[key].skipped}")
                continue
            _profile(next(c for c in cases if c.key == key), args.profile_ops)
        if timed_fallbacks:
            print(
                f"WARNING: {timed_fallbacks} revocation check(s) fell back to the database during "
                "the timed rounds: the cache rows are not a measurement of the cache.",
                file=sys.stderr,
            )
            return 1
        return 0
    finally:
        close_info_clients()
        fallbacks.uninstall()
        revocation_logger.removeHandler(log)
        revocation_logger.propagate = True


def _admin_table(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    """Fill the session table, time the changelist pages, empty it again."""
    from . import adminlist

    table: dict[str, Any] = {"rows": args.admin_rows, "users": ADMIN_USERS, "pages": []}
    if not args.admin_rows:
        return table
    print(f"admin: inserting {args.admin_rows:,} sessions ...", end=" ", flush=True)
    try:
        table["insert_s"] = round(adminlist.populate(args.admin_rows, ADMIN_USERS), 1)
        print(f"{table['insert_s']} s; timing the changelist", flush=True)
        pages = adminlist.measure(args.admin_repeat, args.admin_rows)
        table["pages"] = [page.as_dict() for page in pages]
    finally:
        adminlist.remove()
    return table


def _empty_result(case: Any) -> Any:
    from .measure import Result

    return Result(case)


def _progress(r: int, rounds: int) -> None:
    if r >= 0:
        end = "\n" if r + 1 == rounds else ""
        print(f"\rround {r + 1}/{rounds}", end=end, file=sys.stderr, flush=True)


def _profile(case: Any, ops: int) -> None:
    import cProfile
    import pstats

    with case.settings():
        batch = case.make_batch(ops)
        profiler = cProfile.Profile()
        profiler.enable()
        batch()
        profiler.disable()
    print(f"\ncProfile of {case.label}, {ops} operations (top 25 by own time):")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(25)
