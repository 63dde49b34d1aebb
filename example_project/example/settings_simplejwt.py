"""The example project as a hand-rolled plain simplejwt setup, for the load test.

What a team writes without this app: simplejwt's views, ``JWTAuthentication`` and its
``token_blacklist`` app with rotation and blacklist-after-rotation. Same database, cache,
middleware and lifetimes as :mod:`example.settings` (including the ``DATABASE_URL`` /
``REDIS_URL`` switches), so the two differ only in the token layer.
``DJANGO_SETTINGS_MODULE=example.settings_simplejwt``; ``benchmarks/load.py`` uses it.
"""

from .settings import *  # noqa: F403
from .settings import INSTALLED_APPS, MIDDLEWARE, REST_FRAMEWORK, SIMPLE_JWT

# Our app and the demo page (which needs our endpoints) are left out, as is our cookie
# middleware: a plain simplejwt project has none of them, so it pays for none of them.
INSTALLED_APPS = [
    *(app for app in INSTALLED_APPS if app not in ("django_token_sessions", "demo")),
    "rest_framework_simplejwt.token_blacklist",
]
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("django_token_sessions.")]

ROOT_URLCONF = "example.urls_simplejwt"

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
}

SIMPLE_JWT = {
    **SIMPLE_JWT,  # the same lifetimes (DEMO_ACCESS_MINUTES, 1 day refresh)
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
