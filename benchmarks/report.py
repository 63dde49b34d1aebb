"""The environment header, the two tables (text and Markdown) and the JSON document."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from .environment import Services
from .measure import Result

PACKAGES = (
    "Django",
    "djangorestframework",
    "djangorestframework-simplejwt",
    "PyJWT",
    "django-redis",
    "redis",
    "hiredis",
    "psycopg",
    "django-token-sessions",
)

COUNTING_NOTE = (
    "SQL/op: statements seen by CaptureQueriesContext. Redis RT/op: round trips on the wire "
    "(redis-py socket writes, a pipeline counts once), counted in an untimed pass."
)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(directory: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    )
    return out.stdout.strip()


def measured_package() -> str:
    """Where the measured django_token_sessions was imported from, and its git commit
    (flagged if that package directory has uncommitted changes)."""
    import django_token_sessions

    directory = Path(django_token_sessions.__file__).resolve().parent
    try:
        commit = _git(directory, "rev-parse", "--short=12", "HEAD")
        dirty = _git(directory, "status", "--porcelain", "--", ".")
    except Exception:
        return f"{directory} (not a git checkout)"
    state = ", with uncommitted changes" if dirty else ""
    return f"{directory} (commit {commit}{state})"


def _database_version(db: str) -> str:
    from django.db import connection

    if db == "postgres":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}"


def _redis_version(services: Services) -> str:
    if not services.redis_ok:
        return f"not used ({services.redis_reason})"
    import redis

    client = redis.Redis.from_url(services.redis_url, socket_connect_timeout=1)
    try:
        version = client.info("server").get("redis_version", "?")
    finally:
        client.close()
    return f"Redis {version} at {services.redis_url} (key prefix tokensessions-bench)"


def environment(services: Services) -> dict[str, Any]:
    """What the numbers were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": f"{_cpu_model()}, {os.cpu_count()} logical CPUs",
        "load_average_at_start": None if load is None else [round(x, 2) for x in load],
        "packages": {name: _version(name) for name in PACKAGES},
        "measured_package": measured_package(),
        "database": f"{_database_version(services.db)} ({services.db_name})",
        "redis": _redis_version(services),
    }


def header_lines(env: dict[str, Any], config: dict[str, Any]) -> list[str]:
    packages = env["packages"]
    lines = [
        f"python      {env['python']} on {env['platform']}",
        f"cpu         {env['cpu']}; load average at start {env['load_average_at_start']}",
        "packages    "
        + ", ".join(
            f"{name} {packages[name]}"
            for name in ("Django", "djangorestframework", "djangorestframework-simplejwt")
        ),
        "            "
        + ", ".join(
            f"{name} {packages[name]}"
            for name in ("PyJWT", "django-redis", "redis", "hiredis", "psycopg")
        ),
        f"            django-token-sessions {packages['django-token-sessions']} "
        f"from {env['measured_package']}",
        f"database    {env['database']}",
        f"redis       {env['redis']}",
        f"method      {config['rounds']} rounds (+{config['warmup_rounds']} warm-up), every case "
        f"once per round in a new random order; batches of ~{config['batch_ms']:g} ms; "
        "median over rounds of µs/op",
    ]
    return lines


def _fmt_count(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    return f"{value:.2f}"


def rows(results: dict[str, Result], group: str) -> list[dict[str, Any]]:
    """The rows of one table as plain data (also what the JSON holds)."""
    group_results = [r for r in results.values() if r.case.group == group]
    reference = next(r for r in group_results if r.case.reference)
    ref_median = reference.median if reference.samples_us else None
    out = []
    for result in group_results:
        case = result.case
        row: dict[str, Any] = {"key": case.key, "label": case.label}
        if case.skipped or not result.samples_us:
            row["skipped"] = case.skipped or "not measured"
            out.append(row)
            continue
        median = result.median
        # Ratio of each round's pair, the median of those: robust to drift between rounds.
        paired = None
        if reference.samples_us and len(reference.samples_us) == len(result.samples_us):
            paired = sorted(
                a / b for a, b in zip(result.samples_us, reference.samples_us, strict=True)
            )
        row.update(
            median_us=median,
            p25_us=result.quantile(0.25),
            p75_us=result.quantile(0.75),
            min_us=min(result.samples_us),
            ops_per_s=1e6 / median,
            ratio=None if ref_median is None else median / ref_median,
            paired_ratio=None if not paired else paired[len(paired) // 2],
            delta_us=None if ref_median is None else median - ref_median,
            batch=result.batch,
            rounds=len(result.samples_us),
            samples_us=[round(s, 3) for s in result.samples_us],
        )
        counts = result.counts
        if counts is not None:
            row.update(
                sql_per_op=counts.sql,
                redis_round_trips_per_op=counts.redis_round_trips,
                cache_api_calls_per_op=counts.cache_calls,
                redis_server_commands_per_op=counts.server_commands,
                sql_statements=counts.statements,
            )
        out.append(row)
    return out


TITLES = {
    "request": (
        "Authenticating one request (GET through a DRF APIView, response rendered)",
        "vs stock",
        "Δ µs",
    ),
    "raw": (
        "The revocation check alone, next to decoding the same token",
        "vs PyJWT",
        "Δ µs",
    ),
}


def _cells(row: dict[str, Any]) -> list[str]:
    if "skipped" in row:
        return [row["skipped"]]
    ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
    delta = "-" if row["delta_us"] is None else f"{row['delta_us']:+.1f}"
    return [
        f"{row['median_us']:.1f}",
        f"{row['p25_us']:.1f}-{row['p75_us']:.1f}",
        f"{row['ops_per_s']:,.0f}",
        ratio,
        delta,
        _fmt_count(row.get("sql_per_op")),
        _fmt_count(row.get("redis_round_trips_per_op")),
    ]


def text_table(group: str, table_rows: list[dict[str, Any]]) -> list[str]:
    title, ratio_name, delta_name = TITLES[group]
    headers = ["", "median µs", "p25-p75 µs", "ops/s", ratio_name, delta_name, "SQL/op", "RT/op"]
    body = [[row["label"], *_cells(row)] for row in table_rows]
    full = [r for r in [headers, *body] if len(r) == len(headers)]
    widths = [max(len(r[i]) for r in full) for i in range(len(headers))]
    widths[0] = max(len(r[0]) for r in [headers, *body])
    lines = [title, ""]

    def fmt(cells: list[str]) -> str:
        if len(cells) == 2 and len(headers) > 2:  # a skipped row: its reason spans the table
            return f"{cells[0]:<{widths[0]}}  {cells[1]}"
        parts = [f"{cells[0]:<{widths[0]}}"]
        parts += [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    lines.append(fmt(headers))
    lines.append("-" * len(fmt(headers)))
    lines += [fmt(r) for r in body]
    return lines


def markdown_table(group: str, table_rows: list[dict[str, Any]]) -> list[str]:
    title, ratio_name, delta_name = TITLES[group]
    headers = ["", "median µs", "p25-p75 µs", "ops/s", ratio_name, delta_name, "SQL/op", "RT/op"]
    lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
    for row in table_rows:
        cells = _cells(row)
        if len(cells) == 1:
            cells = cells + [""] * (len(headers) - 2)
        lines.append("| " + " | ".join([row["label"], *cells]) + " |")
    return lines


def notes(document: dict[str, Any]) -> list[str]:
    """Footnotes: how things were counted, and anything that makes a row suspect."""
    out = [COUNTING_NOTE]
    cross = []
    for row in document["requests"] + document["raw"]:
        if row.get("redis_round_trips_per_op"):
            cross.append(
                f"{row['key']}: {_fmt_count(row['cache_api_calls_per_op'])} django-redis "
                f"call(s)/op, {_fmt_count(row.get('redis_server_commands_per_op'))} "
                "server command(s)/op"
            )
    if cross:
        out.append(
            "Cross-check (django-redis API calls; INFO commandstats delta, server-wide): "
            + "; ".join(cross)
            + "."
        )
    if document["config"]["redis"]:
        out.append(
            "Warm-up: the first cache-mode check after the flush found no readiness key and went "
            f"to the database ({document['fallbacks']['warm_up']} fallback(s)); fallbacks during "
            f"the timed rounds: {document['fallbacks']['timed']}."
        )
    by_statement: dict[str, list[str]] = {}
    for row in document["requests"] + document["raw"]:
        for statement in row.get("sql_statements", []):
            by_statement.setdefault(statement, []).append(row["key"])
    for statement, keys in by_statement.items():
        out.append(f"SQL of {', '.join(keys)}: {statement}")
    return out


OPS_TITLE = "Operations, ours vs plain simplejwt (through the real DRF views, in-process)"
OPS_HEADERS = ["", "median µs", "p25-p75 µs", "ops/s", "ours/sj", "rounds", "SQL/op", "RT/op"]
OPS_NOTE = (
    "Operations: ours/sj is our median over the simplejwt row's just below it (paired ratio "
    "in the JSON). simplejwt runs with ROTATE_REFRESH_TOKENS, BLACKLIST_AFTER_ROTATION and "
    "its token_blacklist app; ours with LOGIN_THROTTLE_RATE=None (its default 10/min would "
    "refuse the benchmark) and the {mode} revocation backend. Refresh tokens are minted, and "
    "logout-everywhere's sessions/outstanding tokens bulk-created, before the clock starts; a "
    "logout-everywhere row is one operation per batch, measured in the rounds shown. "
    "simplejwt's logout-everywhere is the hand-written loop: BlacklistedToken.objects."
    "get_or_create(token=t) for each of the user's OutstandingTokens not yet blacklisted, in "
    "autocommit. The password hasher is MD5, so hashing does not hide the rest."
)


def ops_rows(results: dict[str, Result]) -> list[dict[str, Any]]:
    """The operations table: each of our rows is compared with its simplejwt row."""
    out = []
    for result in results.values():
        case = result.case
        if case.group != "ops":
            continue
        row: dict[str, Any] = {"key": case.key, "label": case.label, "versus": case.versus}
        if case.skipped or not result.samples_us:
            row["skipped"] = case.skipped or "not measured"
            out.append(row)
            continue
        row.update(
            median_us=result.median,
            p25_us=result.quantile(0.25),
            p75_us=result.quantile(0.75),
            ops_per_s=1e6 / result.median,
            rounds=len(result.samples_us),
            batch=min(result.batch, case.max_batch or result.batch),
            samples_us=[round(s, 3) for s in result.samples_us],
            ratio=None,
            paired_ratio=None,
        )
        other = results.get(case.versus) if case.versus else None
        if other is not None and other.samples_us:
            row["ratio"] = result.median / other.median
            if len(other.samples_us) == len(result.samples_us):
                paired = sorted(
                    a / b for a, b in zip(result.samples_us, other.samples_us, strict=True)
                )
                row["paired_ratio"] = paired[len(paired) // 2]
        counts = result.counts
        if counts is not None:
            row.update(
                sql_per_op=counts.sql,
                redis_round_trips_per_op=counts.redis_round_trips,
                cache_api_calls_per_op=counts.cache_calls,
                counted_ops=counts.ops,
                # Parameters are inlined: a loop over 1,000 tokens has 1,000 distinct ones.
                sql_statements_sample=counts.statements[:10],
            )
        out.append(row)
    return out


def _ops_cells(row: dict[str, Any], is_theirs: bool) -> list[str]:
    if "skipped" in row:
        return [row["skipped"]]
    ratio = "" if is_theirs else "—"
    if row["ratio"] is not None:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] >= 0.1 else f"{row['ratio']:.4f}"
    return [
        f"{row['median_us']:,.1f}",
        f"{row['p25_us']:,.1f}-{row['p75_us']:,.1f}",
        f"{row['ops_per_s']:,.0f}",
        ratio,
        str(row["rounds"]),
        _fmt_count(row.get("sql_per_op")),
        _fmt_count(row.get("redis_round_trips_per_op")),
    ]


def _ops_body(table_rows: list[dict[str, Any]]) -> list[list[str]]:
    theirs = {row["versus"] for row in table_rows if row.get("versus")}
    return [[row["label"], *_ops_cells(row, row["key"] in theirs)] for row in table_rows]


def ops_text_table(table_rows: list[dict[str, Any]]) -> list[str]:
    headers = OPS_HEADERS
    body = _ops_body(table_rows)
    full = [r for r in [headers, *body] if len(r) == len(headers)]
    widths = [max(len(r[i]) for r in full) for i in range(len(headers))]
    widths[0] = max(len(r[0]) for r in [headers, *body])

    def fmt(cells: list[str]) -> str:
        if len(cells) == 2:
            return f"{cells[0]:<{widths[0]}}  {cells[1]}"
        parts = [f"{cells[0]:<{widths[0]}}"]
        parts += [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    lines = [OPS_TITLE, "", fmt(headers), "-" * len(fmt(headers))]
    return lines + [fmt(r) for r in body]


def ops_markdown_table(table_rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"**{OPS_TITLE}**", "", "| " + " | ".join(OPS_HEADERS) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(OPS_HEADERS) - 1)) + "|")
    for cells in _ops_body(table_rows):
        if len(cells) == 2:
            cells = cells + [""] * (len(OPS_HEADERS) - 2)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_json(path: str, document: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(document, indent=2, default=str) + "\n")


def write_markdown(path: str, document: dict[str, Any]) -> None:
    lines = ["# django-token-sessions authentication benchmark", ""]
    lines += ["```", *document["header"], "```", ""]
    lines += [*markdown_table("request", document["requests"]), ""]
    lines += [*markdown_table("raw", document["raw"]), ""]
    if document.get("operations"):
        lines += [*ops_markdown_table(document["operations"]), ""]
    if (document.get("admin") or {}).get("pages"):
        lines += [*admin_markdown_table(document["admin"]), ""]
    if document.get("budgets"):
        lines += [*budget_markdown_table(document["budgets"]), ""]
    if document.get("targets"):
        lines += [*target_markdown_table(document["targets"], document["config"]["db"]), ""]
    lines += [f"- {note}" for note in document["notes"]]
    Path(path).write_text("\n".join(lines) + "\n")


# -- the admin changelist, the budgets and the targets ------------------------------------

ADMIN_TITLE = "Admin changelist of DeviceSession (test client as a superuser, whole stack)"
ADMIN_HEADERS = ["", "median ms", "min-max ms", "queries", "full COUNT(*)", "shown"]
RESYNC_NOTE = (
    "Revocation cache rebuild: every {interval_s} s the request that notices rewrites the "
    "markers of the sessions revoked since the previous rebuild ({margin_s:.0f} s margin "
    "included): measured at the end of this run ({markers:,} sessions revoked in that "
    "window), it took {median_ms:,.1f} ms, {sql} SQL statement(s) and {redis_round_trips} "
    "Redis round trip(s). A full rebuild (after a Redis restart or flush: all "
    "{full[markers]:,} sessions revoked within an access-token lifetime) took "
    "{full[median_ms]:,.1f} ms. The per-operation counts above are taken right after a "
    "rebuild, so they exclude it; the timed rounds include whatever rebuilds fell into them."
)
ADMIN_NOTE = (
    "Admin: {rows:,} sessions of {users:,} users inserted in bulk ({insert_s} s, statistics "
    "included) after the other tables, deleted at the end; each page fetched once to warm up, "
    "then timed; its queries counted in one more fetch (they include the login session and the "
    "user of the test client). full COUNT(*): COUNT statements without a LIMIT."
)


def _admin_cells(page: dict[str, Any]) -> list[str]:
    return [
        f"{page['median_ms']:,.1f}",
        f"{page['min_ms']:,.1f}-{page['max_ms']:,.1f}",
        str(page["queries"]),
        str(len(page["full_counts"])),
        f"{page['rows_shown']} of {page['result_count']:,}",
    ]


def admin_text_table(admin: dict[str, Any]) -> list[str]:
    body = [[page["label"], *_admin_cells(page)] for page in admin["pages"]]
    widths = [max(len(r[i]) for r in [ADMIN_HEADERS, *body]) for i in range(len(ADMIN_HEADERS))]

    def fmt(cells: list[str]) -> str:
        parts = [f"{cells[0]:<{widths[0]}}"]
        parts += [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    title = f"{ADMIN_TITLE}, {admin['rows']:,} sessions"
    return [title, "", fmt(ADMIN_HEADERS), "-" * len(fmt(ADMIN_HEADERS))] + [fmt(r) for r in body]


def admin_markdown_table(admin: dict[str, Any]) -> list[str]:
    lines = [f"**{ADMIN_TITLE}, {admin['rows']:,} sessions**", ""]
    lines.append("| " + " | ".join(ADMIN_HEADERS) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(ADMIN_HEADERS) - 1)) + "|")
    for page in admin["pages"]:
        lines.append("| " + " | ".join([page["label"], *_admin_cells(page)]) + " |")
    return lines


def _row(document: dict[str, Any], table: str, key: str) -> dict[str, Any] | None:
    row = next((r for r in document.get(table, []) if r["key"] == key), None)
    return None if row is None or "skipped" in row else row


def _counted(row: dict[str, Any] | None) -> tuple[float, float] | None:
    if row is None or row.get("sql_per_op") is None:
        return None
    return row["sql_per_op"], row["redis_round_trips_per_op"]


def budgets(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's count budgets, checked against this run's counting passes.
    ``passed`` is None where the run did not measure it (e.g. Redis missing)."""
    out: list[dict[str, Any]] = []

    def add(budget: str, measured: str, passed: bool | None) -> None:
        out.append({"budget": budget, "measured": measured, "passed": passed})

    for key, where in (("op-refresh", "RefreshView"), ("svc-refresh", "rotate_refresh_token()")):
        c = _counted(_row(document, "operations", key))
        add(
            f"successful refresh ({where}): 1 SQL statement, 0 cache round trips",
            "not measured" if c is None else f"{_fmt_count(c[0])} SQL, {_fmt_count(c[1])} RT",
            None if c is None else (c[0] == 1 and c[1] == 0),
        )
    cache, stock = _counted(_row(document, "requests", "cache")), None
    stock = _counted(_row(document, "requests", "stock"))
    add(
        "authenticated request (cache mode): simplejwt's user query + exactly 1 cache round "
        "trip, 0 extra queries",
        "not measured"
        if cache is None or stock is None
        else f"{_fmt_count(cache[0])} SQL (simplejwt: {_fmt_count(stock[0])}), "
        f"{_fmt_count(cache[1])} RT",
        None if cache is None or stock is None else (cache[0] == stock[0] and cache[1] == 1),
    )
    logout = {
        key.split("-")[2]: _counted(_row(document, "operations", key))
        for key in ("op-logout-10", "op-logout-1000", "op-logout-10000")
    }
    measured = {size: c for size, c in logout.items() if c is not None}
    add(
        "logout-everywhere: O(1) SQL statements and cache writes, whatever the number of sessions",
        "; ".join(
            f"{int(size):,}: {_fmt_count(c[0])} SQL, {_fmt_count(c[1])} RT"
            for size, c in measured.items()
        )
        or "not measured",
        None if len(measured) < 2 else len({c for c in measured.values()}) == 1,
    )
    lists = {
        size: _counted(_row(document, "operations", f"op-sessions-{size}")) for size in (1, 50)
    }
    user_query = stock[0] if stock is not None else 1
    add(
        "session list: 1 query for the list whatever the number of sessions (+ the "
        "authentication's user query)",
        "; ".join(
            f"{size} session(s): {_fmt_count(c[0] - user_query)} + {_fmt_count(user_query)} SQL"
            for size, c in lists.items()
            if c is not None
        )
        or "not measured",
        None
        if None in lists.values()
        else all(c is not None and c[0] - user_query == 1 for c in lists.values()),
    )
    admin = document.get("admin") or {}
    pages = admin.get("pages") or []
    if pages:
        queries = sorted({page["queries"] for page in pages})
        full = sum(len(page["full_counts"]) for page in pages)
        constant = len(pages) > 1 and pages[0]["queries"] == pages[1]["queries"]  # p1, deep
        add(
            f"admin changelist on {admin['rows']:,} rows: constant query count, no full-table "
            "COUNT(*)",
            f"{'-'.join(str(q) for q in (queries[0], queries[-1]) if q is not None)} queries "
            f"per page over {len(pages)} pages (page 1 = deep page: {constant}); "
            f"{full} unbounded COUNT",
            constant and full == 0,
        )
    else:
        add("admin changelist: constant query count, no full-table COUNT(*)", "not run", None)
    return out


TARGETS = (
    ("refresh", "refresh through the view ≥ 4x simplejwt's throughput (PostgreSQL)"),
    ("request", "authenticated request within 1.25x of simplejwt JWTAuthentication"),
    ("logout", "logout-everywhere, 1,000 sessions ≥ 100x faster"),
)


def targets(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's throughput targets, as ratios against simplejwt in this run."""
    out = [_speedup(document, "op-refresh", TARGETS[0][1], 4, "{:.2f}x simplejwt's ops/s")]
    for key, mode in (("cache", "cache mode, Redis"), ("db", "db mode, no Redis")):
        row = _row(document, "requests", key)
        ratio = None if row is None else row.get("ratio")
        out.append(
            {
                "target": f"{TARGETS[1][1]} ({mode})",
                "measured": None if not ratio else f"{ratio:.2f}x its time per request",
                "value": ratio,
                "met": None if not ratio else ratio <= 1.25,
            }
        )
    out.append(_speedup(document, "op-logout-1000", TARGETS[2][1], 100, "{:,.0f}x faster"))
    return out


def _speedup(
    document: dict[str, Any], key: str, target: str, minimum: float, measured: str
) -> dict[str, Any]:
    """A "ours at least ``minimum`` times simplejwt's speed" target (ratio = time/time)."""
    row = _row(document, "operations", key)
    ratio = None if row is None else row.get("ratio")
    speedup = None if not ratio else 1 / ratio
    return {
        "target": target,
        "measured": None if speedup is None else measured.format(speedup),
        "value": speedup,
        "met": None if speedup is None else speedup >= minimum,
    }


def _verdict(value: bool | None, yes: str, no: str) -> str:
    return "-" if value is None else (yes if value else no)


def budget_text_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["Budgets (counts, from the counting passes of this run)", ""]
    for row in rows:
        lines.append(f"  [{_verdict(row['passed'], 'pass', 'FAIL'):>4}] {row['budget']}")
        lines.append(f"         measured: {row['measured']}")
    return lines


def target_text_table(rows: list[dict[str, Any]], db: str) -> list[str]:
    lines = [f"Targets (ratios against simplejwt in this run, {db})", ""]
    for row in rows:
        lines.append(
            f"  [{_verdict(row['met'], 'met', 'MISSED'):>6}] {row['target']}: "
            f"{row['measured'] or 'not measured'}"
        )
    return lines


def budget_markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["**Budgets (counts)**", "", "| budget | measured | |", "|---|---|---|"]
    for row in rows:
        verdict = _verdict(row["passed"], "pass", "**FAIL**")
        lines.append(f"| {row['budget']} | {row['measured']} | {verdict} |")
    return lines


def target_markdown_table(rows: list[dict[str, Any]], db: str) -> list[str]:
    lines = [f"**Targets ({db})**", "", "| target | measured | |", "|---|---|---|"]
    for row in rows:
        verdict = _verdict(row["met"], "met", "**missed**")
        lines.append(f"| {row['target']} | {row['measured'] or 'not measured'} | {verdict} |")
    return lines
