"""Django configured for the benchmark, and the services behind it.

- SQLite: a database file in a temporary directory, removed at the end.
- PostgreSQL: a scratch database ``tokensessions_bench_<pid>`` created on the server named by
  ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD`` (default 127.0.0.1:5432, ``postgres``, no
  password) and dropped at the end.
- Redis: the cache alias ``revocation`` (django-redis) on a dedicated database (default
  ``redis://127.0.0.1:6379/13``) under the key prefix ``tokensessions-bench``; our keys are
  deleted at the start and at the end. If Redis or django-redis is missing, the Redis rows are
  skipped and the reason printed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
KEY_PREFIX = "tokensessions-bench"
REVOCATION_CACHE = "revocation"
SIGNING_KEY = "benchmarks-only-not-secret-0123456789abcdef0123456789abcdef"


class SetupError(RuntimeError):
    """A service the user asked for is not usable (exit status 2)."""


@dataclass
class Services:
    """What the run is configured against, and how to undo it."""

    db: str
    db_name: str
    redis_url: str
    redis_ok: bool
    redis_reason: str = ""
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Undo the setup, last step first; every step runs even if one fails."""
        errors: list[str] = []
        while self.cleanups:
            step = self.cleanups.pop()
            try:
                step()
            except Exception as exc:
                errors.append(repr(exc))
        if errors:
            print("cleanup problems: " + "; ".join(errors))


def _probe_redis(url: str) -> str:
    """Empty if Redis at ``url`` answers through redis-py and django-redis is installed."""
    try:
        import django_redis  # noqa: F401
        import redis
    except ImportError as exc:
        return f"django-redis is not installed ({exc}); pip install -e '.[redis]'"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:
        return f"Redis at {url} is unreachable ({type(exc).__name__}: {exc})"
    return ""


def _pg_params() -> dict[str, str]:
    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
        "password": os.environ.get("PGPASSWORD", ""),
    }


def _pg_admin(sql: str) -> str:
    """Run ``sql`` on the server's ``postgres`` database in autocommit; the first cell, if any."""
    import psycopg

    with psycopg.connect(
        dbname="postgres", autocommit=True, connect_timeout=5, **_pg_params()
    ) as c:
        cursor = c.execute(sql)  # type: ignore[arg-type]
        row = cursor.fetchone() if cursor.description else None
        return "" if row is None else str(row[0])


def _create_pg_database(services: Services) -> dict[str, Any]:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise SetupError(
            f"--db postgres needs psycopg: pip install 'psycopg[binary]' ({exc})"
        ) from exc
    name = f"tokensessions_bench_{os.getpid()}"
    params = _pg_params()
    try:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')
        _pg_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        raise SetupError(
            f"cannot create a scratch database on PostgreSQL at "
            f"{params['host']}:{params['port']} as {params['user']}: {exc}"
        ) from exc

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        try:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception:  # PostgreSQL < 13 has no FORCE
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')

    services.cleanups.append(drop)
    services.db_name = name
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "HOST": params["host"],
        "PORT": params["port"],
        "USER": params["user"],
        "PASSWORD": params["password"],
    }


def _create_sqlite_database(services: Services) -> dict[str, Any]:
    directory = tempfile.mkdtemp(prefix="tokensessions-bench-")
    services.cleanups.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    path = os.path.join(directory, "bench.sqlite3")
    services.db_name = path
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}


def django_settings(database: dict[str, Any], redis_url: str, redis_ok: bool) -> dict[str, Any]:
    """The settings ``settings.configure()`` receives."""
    if redis_ok:
        revocation_cache: dict[str, Any] = {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": KEY_PREFIX,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    else:
        # Never measured (the Redis rows are skipped); keeps the settings valid.
        revocation_cache = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    return {
        "DEBUG": False,
        "SECRET_KEY": "benchmarks-only-not-secret-fedcba9876543210fedcba9876543210",
        "ALLOWED_HOSTS": ["testserver"],
        "USE_TZ": True,
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        "INSTALLED_APPS": [
            # The admin and what it needs: for the admin changelist table only.
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "rest_framework",
            # For the operations table: simplejwt's rotation with blacklisting.
            "rest_framework_simplejwt.token_blacklist",
            "django_token_sessions",
        ],
        # Not on the measured path of the API rows (their views are called directly); the
        # admin changelist goes through all of it, with the test client.
        "MIDDLEWARE": [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django_token_sessions.middleware.RefreshTokenCookieMiddleware",
        ],
        "ROOT_URLCONF": "benchmarks.urls",
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "DATABASES": {"default": database},
        "CACHES": {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            REVOCATION_CACHE: revocation_cache,
        },
        "REST_FRAMEWORK": {
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
            "DEFAULT_THROTTLE_CLASSES": [],
        },
        "SIMPLE_JWT": {
            "ALGORITHM": "HS256",
            "SIGNING_KEY": SIGNING_KEY,
            # Long enough for any run; not over an hour (check token_sessions.W004).
            "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),
            # simplejwt's own rotation, for its refresh row in the operations table (our
            # package ignores these two; its tokens are never in simplejwt's tables).
            "ROTATE_REFRESH_TOKENS": True,
            "BLACKLIST_AFTER_ROTATION": True,
        },
        "TOKEN_SESSIONS": {
            "REVOCATION_BACKEND": "django_token_sessions.revocation.redis.RedisBackend",
            "REVOCATION_CACHE": REVOCATION_CACHE,
        },
        "LOGGING_CONFIG": None,
    }


def set_up(db: str, redis_url: str) -> Services:
    """Configure Django, create the database and migrate it; probe and clear Redis."""
    reason = _probe_redis(redis_url)
    services = Services(db=db, db_name="", redis_url=redis_url, redis_ok=not reason)
    services.redis_reason = reason
    try:
        if db == "postgres":
            database = _create_pg_database(services)
        else:
            database = _create_sqlite_database(services)

        import django
        from django.conf import settings

        settings.configure(**django_settings(database, redis_url, services.redis_ok))
        django.setup()

        from django.core.checks import ERROR, run_checks
        from django.core.management import call_command

        problems = [m for m in run_checks() if m.level >= ERROR]
        if problems:
            raise SetupError("system checks failed: " + "; ".join(str(m) for m in problems))
        call_command("migrate", verbosity=0, skip_checks=True)

        from django.db import connections

        services.cleanups.append(connections.close_all)
        if services.redis_ok:
            clear_redis()
            services.cleanups.append(clear_redis)
    except BaseException:
        services.close()
        raise
    return services


def clear_redis() -> None:
    """Delete every key under our prefix (nothing else in the Redis database is touched)."""
    from django.core.cache import caches

    caches[REVOCATION_CACHE].delete_pattern("*")
