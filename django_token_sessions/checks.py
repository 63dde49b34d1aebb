"""System checks: misconfiguration is reported by ``manage.py check``, not at first request.

Each id is stable and documented, with its fix, in docs/checks.md.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Info, Tags, Warning, register
from django.utils.module_loading import import_string

from .conf import (
    DEFAULTS,
    IP_ADDRESS_STORAGE_CHOICES,
    REVOCATION_CACHE_FAILURE_CHOICES,
    SAMESITE_CHOICES,
    TRANSPORT_CHOICES,
    access_token_lifetime,
    jwt_settings,
    refresh_token_lifetime,
)
from .tokens import reserved_claim_names


def _duration_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, timedelta):
        return value >= timedelta(0)
    return isinstance(value, (int, float)) and value >= 0


@register(Tags.security, "token_sessions")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate ``TOKEN_SESSIONS`` and how it fits with ``SIMPLE_JWT``."""
    raw = getattr(settings, "TOKEN_SESSIONS", {})
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return [
            Error(
                "TOKEN_SESSIONS must be a dict.",
                hint="Set TOKEN_SESSIONS = {...} with the keys in docs/reference/settings.md.",
                id="token_sessions.E001",
            )
        ]
    errors: list[CheckMessage] = []
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        hint = "Check the spelling; unknown keys are ignored."
        if "ACCEPT_LEGACY_REFRESH_TOKENS" in unknown:
            hint += (
                " Plain simplejwt tokens are adopted by the app "
                "django_token_sessions.contrib.legacy: add it to INSTALLED_APPS (it has no "
                "setting)."
            )
        errors.append(
            Warning(
                f"Unknown TOKEN_SESSIONS keys: {', '.join(unknown)}.",
                hint=hint,
                id="token_sessions.W001",
            )
        )
    conf = {**DEFAULTS, **raw}
    for key in ("ROTATION_GRACE_PERIOD", "SESSION_ABSOLUTE_LIFETIME"):
        if not _duration_ok(conf[key]):
            errors.append(
                Error(
                    f"TOKEN_SESSIONS['{key}'] must be a non-negative timedelta or seconds.",
                    id="token_sessions.E002",
                )
            )
    if not _duration_ok(conf["PURGE_RETENTION"]):
        errors.append(
            Error(
                "TOKEN_SESSIONS['PURGE_RETENTION'] must be a non-negative timedelta or seconds.",
                hint="How long ended sessions are kept before tokensessions_purge deletes "
                "them, e.g. timedelta(days=30).",
                id="token_sessions.E017",
            )
        )
    cap = conf["MAX_SESSIONS_PER_USER"]
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        errors.append(
            Error(
                "TOKEN_SESSIONS['MAX_SESSIONS_PER_USER'] must be None or a positive integer.",
                id="token_sessions.E003",
            )
        )
    if conf["IP_ADDRESS_STORAGE"] not in IP_ADDRESS_STORAGE_CHOICES:
        errors.append(
            Error(
                "TOKEN_SESSIONS['IP_ADDRESS_STORAGE'] must be one of "
                + ", ".join(repr(c) for c in IP_ADDRESS_STORAGE_CHOICES)
                + ".",
                id="token_sessions.E004",
            )
        )
    proxies = conf["NUM_PROXIES"]
    proxies_ok = not isinstance(proxies, bool) and isinstance(proxies, int) and proxies >= 0
    if not proxies_ok:
        errors.append(
            Error(
                "TOKEN_SESSIONS['NUM_PROXIES'] must be an integer >= 0.", id="token_sessions.E005"
            )
        )
    rate = conf["LOGIN_THROTTLE_RATE"]
    if rate is not None and not _rate_ok(rate):
        errors.append(
            Error(
                "TOKEN_SESSIONS['LOGIN_THROTTLE_RATE'] must be None or a DRF rate like '10/min'.",
                id="token_sessions.E006",
            )
        )
    rate = conf["LOGIN_USERNAME_THROTTLE_RATE"]
    if rate is not None and not _rate_ok(rate):
        errors.append(
            Error(
                "TOKEN_SESSIONS['LOGIN_USERNAME_THROTTLE_RATE'] must be None or a DRF rate "
                "like '20/hour'.",
                hint="Login attempts per username, from any address; None turns it off.",
                id="token_sessions.E018",
            )
        )
    claim = conf["SESSION_ID_CLAIM"]
    api = jwt_settings()
    if not isinstance(claim, str) or not claim or claim in reserved_claim_names():
        errors.append(
            Error(
                "TOKEN_SESSIONS['SESSION_ID_CLAIM'] must be a non-empty string that no other "
                "claim uses.",
                id="token_sessions.E007",
            )
        )
    errors.extend(_check_transport(conf))
    errors.extend(_check_revocation(conf))
    if not errors:
        errors.extend(_check_lifetimes(conf, api))
    if proxies_ok:
        errors.extend(_check_proxies(proxies))
    return errors


_PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


_DJANGO_REDIS = "django_redis.cache.RedisCache"


def _check_revocation(conf: dict[str, Any]) -> list[CheckMessage]:
    from .revocation import NoRevocationBackend, RevocationBackend
    from .revocation.cache import CacheBackend

    messages: list[CheckMessage] = []
    path = conf["REVOCATION_BACKEND"]
    try:
        backend_class = import_string(path) if isinstance(path, str) else None
    except ImportError:
        backend_class = None
    if not (isinstance(backend_class, type) and issubclass(backend_class, RevocationBackend)):
        messages.append(
            Error(
                f"TOKEN_SESSIONS['REVOCATION_BACKEND'] is {path!r}, which is not the dotted "
                "path of a RevocationBackend subclass.",
                hint="Use django_token_sessions.revocation.redis.RedisBackend (Redis), "
                "...cache.CacheBackend (another shared cache) or ...db.DatabaseBackend.",
                id="token_sessions.E014",
            )
        )
        backend_class = None
    if conf["REVOCATION_CACHE_FAILURE"] not in REVOCATION_CACHE_FAILURE_CHOICES:
        messages.append(
            Error(
                "TOKEN_SESSIONS['REVOCATION_CACHE_FAILURE'] must be 'db' or 'deny'.",
                id="token_sessions.E016",
            )
        )
    checks_nothing = backend_class is not None and issubclass(backend_class, NoRevocationBackend)
    if checks_nothing and not settings.DEBUG:
        messages.append(
            Warning(
                "TOKEN_SESSIONS['REVOCATION_BACKEND'] checks nothing: access tokens of "
                "revoked sessions stay valid until they expire.",
                hint="Use django_token_sessions.revocation.redis.RedisBackend (with "
                "Redis) or ...db.DatabaseBackend.",
                id="token_sessions.W007",
            )
        )
    if backend_class is None or not issubclass(backend_class, CacheBackend):
        return messages
    alias = conf["REVOCATION_CACHE"]
    caches_setting = getattr(settings, "CACHES", {}) or {}
    if alias not in caches_setting:
        messages.append(
            Error(
                f"TOKEN_SESSIONS['REVOCATION_CACHE'] names the cache alias {alias!r}, which is "
                "not in CACHES.",
                id="token_sessions.E015",
            )
        )
    elif caches_setting[alias].get("BACKEND") in _PER_PROCESS_CACHES and not settings.DEBUG:
        messages.append(
            Warning(
                f"The revocation cache {alias!r} is a per-process backend "
                f"({caches_setting[alias].get('BACKEND')}): a revocation made in one worker "
                "process does not reach the others until the access token expires.",
                hint="Point REVOCATION_CACHE at a shared cache (django-redis), or use "
                "django_token_sessions.revocation.db.DatabaseBackend.",
                id="token_sessions.W006",
            )
        )
    elif caches_setting[alias].get("BACKEND") == _DJANGO_REDIS and backend_class is CacheBackend:
        messages.append(
            Info(
                f"The revocation cache {alias!r} is django-redis: RedisBackend sends the "
                "check's round trip before the user query and reads it after, so the two "
                "waits overlap instead of adding up.",
                hint="Set TOKEN_SESSIONS['REVOCATION_BACKEND'] to "
                "'django_token_sessions.revocation.redis.RedisBackend'.",
                id="token_sessions.I002",
            )
        )
    return messages


def _check_transport(conf: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if conf["REFRESH_TOKEN_TRANSPORT"] not in TRANSPORT_CHOICES:
        messages.append(
            Error(
                "TOKEN_SESSIONS['REFRESH_TOKEN_TRANSPORT'] must be 'cookie' or 'body'.",
                id="token_sessions.E011",
            )
        )
    if conf["REFRESH_COOKIE_HTTPONLY"] is not True:
        messages.append(
            Error(
                "TOKEN_SESSIONS['REFRESH_COOKIE_HTTPONLY'] cannot be turned off: a refresh "
                "token readable by scripts is stolen by the first XSS.",
                hint="Remove the key; native clients use the body transport instead.",
                id="token_sessions.E008",
            )
        )
    samesite = conf["REFRESH_COOKIE_SAMESITE"]
    if samesite not in SAMESITE_CHOICES:
        messages.append(
            Error(
                "TOKEN_SESSIONS['REFRESH_COOKIE_SAMESITE'] must be 'Lax', 'Strict' or 'None'.",
                id="token_sessions.E009",
            )
        )
    elif samesite == "None" and not conf["REFRESH_COOKIE_SECURE"]:
        messages.append(
            Error(
                "REFRESH_COOKIE_SAMESITE = 'None' requires REFRESH_COOKIE_SECURE = True "
                "(browsers drop such cookies otherwise).",
                id="token_sessions.E010",
            )
        )
    if not conf["REFRESH_COOKIE_SECURE"] and not settings.DEBUG:
        messages.append(
            Warning(
                "TOKEN_SESSIONS['REFRESH_COOKIE_SECURE'] is False while DEBUG is False: the "
                "refresh cookie can travel over plain HTTP.",
                hint="Serve the site over HTTPS and remove the key.",
                id="token_sessions.W005",
            )
        )
    if conf["REFRESH_TOKEN_TRANSPORT"] == "cookie":
        middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
        if "django_token_sessions.middleware.RefreshTokenCookieMiddleware" not in middleware:
            messages.append(
                Error(
                    "REFRESH_TOKEN_TRANSPORT is 'cookie' but RefreshTokenCookieMiddleware is "
                    "not in MIDDLEWARE: refresh tokens would be sent in JSON bodies.",
                    hint="Add 'django_token_sessions.middleware.RefreshTokenCookieMiddleware' "
                    "to MIDDLEWARE, or set REFRESH_TOKEN_TRANSPORT = 'body'.",
                    id="token_sessions.E012",
                )
            )
        if "django.middleware.csrf.CsrfViewMiddleware" not in middleware:
            messages.append(
                Error(
                    "REFRESH_TOKEN_TRANSPORT is 'cookie' but CsrfViewMiddleware is not in "
                    "MIDDLEWARE: login cannot hand the page the CSRF cookie its refresh and "
                    "logout calls need.",
                    id="token_sessions.E013",
                )
            )
    return messages


def _rate_ok(rate: Any) -> bool:
    # Exactly what DRF's SimpleRateThrottle.parse_rate() accepts (one "/", an integer, a
    # period starting s/m/h/d), or a bad rate passes here and fails on the first login.
    if not isinstance(rate, str) or rate.count("/") != 1:
        return False
    num, period = rate.split("/")
    return num.isascii() and num.isdigit() and period[:1] in {"s", "m", "h", "d"}


def _check_proxies(num_proxies: int) -> list[CheckMessage]:
    # The login throttle reads TOKEN_SESSIONS["NUM_PROXIES"], not DRF's: a project that
    # set only DRF's would count every client as its proxy, one login budget for everybody.
    drf = getattr(settings, "REST_FRAMEWORK", None) or {}
    theirs = drf.get("NUM_PROXIES") if isinstance(drf, dict) else None
    if theirs is None or theirs == num_proxies:
        return []
    return [
        Warning(
            f"REST_FRAMEWORK['NUM_PROXIES'] is {theirs!r} but TOKEN_SESSIONS['NUM_PROXIES'] "
            f"is {num_proxies!r}. The login throttle and the address stored on each session "
            "follow TOKEN_SESSIONS['NUM_PROXIES'] only; DRF's throttles follow the other.",
            hint="Set TOKEN_SESSIONS['NUM_PROXIES'] to the number of trusted reverse proxies "
            "in front of Django (behind a proxy, 0 counts every client as the proxy: one "
            "login budget for everybody), and REST_FRAMEWORK['NUM_PROXIES'] to the same.",
            id="token_sessions.W010",
        )
    ]


def _check_lifetimes(conf: dict[str, Any], api: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    grace = conf["ROTATION_GRACE_PERIOD"]
    grace = grace if isinstance(grace, timedelta) else timedelta(seconds=grace)
    absolute = conf["SESSION_ABSOLUTE_LIFETIME"]
    absolute = absolute if isinstance(absolute, timedelta) else timedelta(seconds=absolute)
    if grace > timedelta(minutes=1):
        messages.append(
            Warning(
                "TOKEN_SESSIONS['ROTATION_GRACE_PERIOD'] is over a minute: a stolen refresh "
                "token can be replayed without detection for that long.",
                hint="Keep it to the seconds two tabs need to refresh at once (default 10 s).",
                id="token_sessions.W002",
            )
        )
    if refresh_token_lifetime() > absolute:
        messages.append(
            Warning(
                "SIMPLE_JWT['REFRESH_TOKEN_LIFETIME'] is longer than "
                "TOKEN_SESSIONS['SESSION_ABSOLUTE_LIFETIME']; refresh tokens are cut short.",
                id="token_sessions.W003",
            )
        )
    if access_token_lifetime() > timedelta(hours=1):
        messages.append(
            Warning(
                "SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'] is over an hour: access tokens of a "
                "revoked session stay usable where revocation is not checked.",
                hint="Use minutes (default 15).",
                id="token_sessions.W004",
            )
        )
    return messages


@register(Tags.security, "token_sessions")
def check_authentication_classes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Projects coming from simplejwt: its authentication class next to ours is a hazard."""
    import rest_framework.settings as drf_settings

    from .authentication import SessionJWTAuthentication

    try:
        classes: list[Any] = list(drf_settings.api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    except ImportError:
        return []  # DRF reports that itself, at the first request
    from rest_framework_simplejwt.authentication import JWTAuthentication

    messages: list[CheckMessage] = []
    for cls in classes:
        if issubclass(cls, JWTAuthentication) and not issubclass(cls, SessionJWTAuthentication):
            messages.append(
                Warning(
                    f"{cls.__module__}.{cls.__qualname__} is in REST_FRAMEWORK"
                    "['DEFAULT_AUTHENTICATION_CLASSES']: listed before SessionJWTAuthentication "
                    "it accepts this app's access tokens without checking that their session "
                    "is alive (revocation is bypassed); listed after, it is never reached.",
                    hint="Remove it. To accept plain simplejwt access tokens during a "
                    "migration, install django_token_sessions.contrib.legacy and list its "
                    "authentication.LegacyJWTAuthentication before SessionJWTAuthentication.",
                    id="token_sessions.W008",
                )
            )
    return messages


@register(Tags.security, "token_sessions")
def check_user_id_field(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The user id claim must name one user for good: the primary key, or a unique field
    (whose change :func:`~.services.user_id_changed` answers)."""
    from django.contrib.auth import get_user_model
    from django.core.exceptions import FieldDoesNotExist

    name = jwt_settings().USER_ID_FIELD
    user_model = get_user_model()
    try:
        field = user_model._meta.get_field(name)
    except FieldDoesNotExist:
        return []  # "pk", or simplejwt's own error at the first login
    if getattr(field, "primary_key", False) or getattr(field, "unique", False):
        return []
    return [
        Warning(
            f"SIMPLE_JWT['USER_ID_FIELD'] is {name!r}, which is not unique on "
            f"{user_model._meta.label}: a token's user id claim may name several users, "
            "and a second user given the same value answers to the first one's tokens.",
            hint="Use the primary key (simplejwt's default, 'id') or a unique field.",
            id="token_sessions.W011",
        )
    ]


@register(Tags.admin, "token_sessions")
def check_user_admin_action(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A hint for each admin site whose user admin has no "Log out everywhere" action.

    Checks run after ``django.contrib.admin`` has autodiscovered the ``admin`` modules,
    so the sites hold what the project registered.
    """
    from django.apps import apps

    if not apps.is_installed("django.contrib.admin"):
        return []
    from django.contrib.admin.sites import all_sites
    from django.contrib.auth import get_user_model

    # Only if a project imported our admin module could it have the action: importing
    # it here would register DeviceSessionAdmin on admin.site as a side effect.
    ours = sys.modules.get(f"{__package__}.admin")
    user_model = get_user_model()
    messages: list[CheckMessage] = []
    for site in sorted(all_sites, key=lambda site: site.name):
        model_admin = site._registry.get(user_model)
        if model_admin is None or (ours and ours.has_logout_everywhere_action(model_admin)):
            continue
        messages.append(
            Info(
                f"The user admin of the admin site {site.name!r} has no 'Log out everywhere' "
                "action (django_token_sessions adds it only when asked).",
                hint="Mix django_token_sessions.admin.LogoutEverywhereAdminMixin (or "
                "UserSessionsAdminMixin, which also lists the user's sessions) into the user "
                "admin, or call django_token_sessions.admin.add_logout_everywhere_action("
                "admin.site) in your admin.py. Add token_sessions.I001 to "
                "SILENCED_SYSTEM_CHECKS if the admin is not to have it.",
                obj=type(model_admin),
                id="token_sessions.I001",
            )
        )
    return messages
