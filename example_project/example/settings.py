"""Example project: django-token-sessions mounted at /api/auth/ on SQLite, no other service.

With no configuration it is the demo: DEBUG on, on http://127.0.0.1. With
``DJANGO_DEBUG=0`` it runs as a deployment, and then needs ``DJANGO_SECRET_KEY``.
"""

import os
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import unquote, urlsplit

import django
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
# SECRET_KEY signs every access and refresh token (SIMPLE_JWT's SIGNING_KEY defaults to
# it): whoever knows it can sign in as anyone. The demo's fallback is in this public
# repository, so with DEBUG off the example refuses to start rather than use it. The
# "django-insecure-" prefix is the one `manage.py check --deploy` warns about.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or (
    "django-insecure-example-demo-only-0123456789abcdefghijklmnopqrstuvwxyz" if DEBUG else ""
)
if not DEBUG and (not SECRET_KEY or SECRET_KEY.startswith("django-insecure-")):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a secret of your own when DEBUG is off "
        "(DJANGO_DEBUG=0), for example the output of: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_token_sessions",
    "example",
    "demo",
]
# The OpenAPI schema (/api/schema/, /api/docs/) needs the "schema" extra; without it the
# example runs without those two pages. The sidecar serves Swagger UI's files locally (no CDN).
SCHEMA_ENABLED = find_spec("drf_spectacular") is not None
if SCHEMA_ENABLED:
    INSTALLED_APPS.append("drf_spectacular")
    if find_spec("drf_spectacular_sidecar") is not None:
        INSTALLED_APPS.append("drf_spectacular_sidecar")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # SECURE_CSP below: Django's own middleware from 6.0, the example's stand-in before.
    "django.middleware.csp.ContentSecurityPolicyMiddleware"
    if django.VERSION >= (6, 0)
    else "example.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_token_sessions.middleware.RefreshTokenCookieMiddleware",
]

ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# SQLite and a per-process cache by default, so the demo needs no service. With
# DATABASE_URL (postgres://user:password@host:port/name) and REDIS_URL
# (redis://host:port/db) it runs as a production deployment would: several worker
# processes sharing PostgreSQL and the Redis that carries revocation markers.
if os.environ.get("DATABASE_URL"):
    _db = urlsplit(os.environ["DATABASE_URL"])
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _db.path.lstrip("/"),
            "USER": unquote(_db.username or ""),
            "PASSWORD": unquote(_db.password or ""),
            "HOST": _db.hostname or "",
            "PORT": str(_db.port or ""),
            # Persistent connections, as a production deployment runs (a new PostgreSQL
            # connection costs ~4 ms); health checks reconnect after a dropped one.
            "CONN_MAX_AGE": int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
            "CONN_HEALTH_CHECKS": True,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("EXAMPLE_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        }
    }
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cookies are Secure unless DEMO_COOKIE_SECURE=0; the demo (DEBUG on, plain http on
# 127.0.0.1) defaults to 0. One switch for all three: the csrftoken that guards the
# refresh cookie must not travel in the clear where the refresh cookie never does.
_cookies_secure = os.environ.get("DEMO_COOKIE_SECURE", "0" if DEBUG else "1") == "1"
CSRF_COOKIE_SECURE = _cookies_secure
SESSION_COOKIE_SECURE = _cookies_secure

# Content-Security-Policy of every page (Django 6.0's setting, served by the middleware
# above). The pages load their scripts and styles from /static/ and run no inline code,
# so no 'unsafe-inline'; Swagger UI's icons are data: images. The values are the strings
# django.utils.csp.CSP.SELF / CSP.NONE stand for, so this also loads on Django < 6.0.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

# tests/test_multiprocess.py: each response names the gunicorn worker that sent it.
if os.environ.get("DEMO_WORKER_PID_HEADER") == "1":
    MIDDLEWARE.insert(0, "example.middleware.WorkerPidMiddleware")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "django_token_sessions.authentication.SessionJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # /api/me/ answers errors as the app's endpoints do: {"detail", "code"}.
    "EXCEPTION_HANDLER": "django_token_sessions.views.exception_handler",
}
if SCHEMA_ENABLED:
    REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
    SPECTACULAR_SETTINGS = {
        "TITLE": "django-token-sessions example API",
        "DESCRIPTION": "Device sessions with rotating refresh tokens (django-token-sessions).",
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        # Only the API: the admin and the demo page are not part of it.
        "SCHEMA_PATH_PREFIX": "/api/",
    }
    if "drf_spectacular_sidecar" in INSTALLED_APPS:
        SPECTACULAR_SETTINGS.update(
            SWAGGER_UI_DIST="SIDECAR",
            SWAGGER_UI_FAVICON_HREF="SIDECAR",
            REDOC_DIST="SIDECAR",
        )

# Short lifetimes so a visitor sees rotation happen; a real project keeps the defaults
# (15 minutes / 7 days).
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("DEMO_ACCESS_MINUTES", "1"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
}
TOKEN_SESSIONS = {
    # The browser tests shorten the grace window to replay a rotated token quickly, and
    # lift the login limits (they sign in many times, from 127.0.0.1, as the demo user).
    "ROTATION_GRACE_PERIOD": timedelta(
        seconds=float(os.environ.get("DEMO_ROTATION_GRACE_SECONDS", "10"))
    ),
    "LOGIN_THROTTLE_RATE": os.environ.get("DEMO_LOGIN_THROTTLE_RATE", "10/min") or None,
    "LOGIN_USERNAME_THROTTLE_RATE": (
        os.environ.get("DEMO_LOGIN_USERNAME_THROTTLE_RATE", "20/hour") or None
    ),
    "SESSION_ABSOLUTE_LIFETIME": timedelta(days=7),
    # Secure, as csrftoken and sessionid are, unless DEMO_COOKIE_SECURE=0 (see above).
    "REFRESH_COOKIE_SECURE": _cookies_secure,
    # "db" (answer from the database while the cache is down) or "deny" (refuse with 401
    # revocation_unavailable): tests/test_faults.py stops Redis under both.
    "REVOCATION_CACHE_FAILURE": os.environ.get("DEMO_REVOCATION_CACHE_FAILURE", "db"),
    # With Redis, the backend that overlaps its round trip with the user query; without,
    # the cache backend on the process's own memory (one process: runserver).
    "REVOCATION_BACKEND": (
        "django_token_sessions.revocation.redis.RedisBackend"
        if os.environ.get("REDIS_URL")
        else "django_token_sessions.revocation.cache.CacheBackend"
    ),
}
