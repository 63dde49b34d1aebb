"""System checks: each id fires on the misconfiguration it names, and only then."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings

from django_token_sessions.checks import check_settings
from tests.support.backends import BACKENDS

COOKIE_MW = "django_token_sessions.middleware.RefreshTokenCookieMiddleware"


def ids(**token_sessions):
    with override_settings(TOKEN_SESSIONS=token_sessions):
        return {message.id for message in check_settings()}


def test_defaults_are_clean():
    assert ids() == set()


def test_not_a_dict():
    with override_settings(TOKEN_SESSIONS=["nope"]):
        assert [m.id for m in check_settings()] == ["token_sessions.E001"]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"ROTATON_GRACE_PERIOD": 5}, "token_sessions.W001"),
        ({"ROTATION_GRACE_PERIOD": -1}, "token_sessions.E002"),
        ({"SESSION_ABSOLUTE_LIFETIME": "30 days"}, "token_sessions.E002"),
        ({"MAX_SESSIONS_PER_USER": 0}, "token_sessions.E003"),
        ({"MAX_SESSIONS_PER_USER": True}, "token_sessions.E003"),
        ({"IP_ADDRESS_STORAGE": "hashed"}, "token_sessions.E004"),
        ({"NUM_PROXIES": -1}, "token_sessions.E005"),
        ({"LOGIN_THROTTLE_RATE": "lots"}, "token_sessions.E006"),
        ({"LOGIN_THROTTLE_RATE": "10/min/x"}, "token_sessions.E006"),
        ({"LOGIN_USERNAME_THROTTLE_RATE": "lots"}, "token_sessions.E018"),
        ({"LOGIN_USERNAME_THROTTLE_RATE": 20}, "token_sessions.E018"),
        ({"LOGIN_USERNAME_THROTTLE_RATE": "20/"}, "token_sessions.E018"),
        ({"LOGIN_USERNAME_THROTTLE_RATE": "\u00b2/hour"}, "token_sessions.E018"),
        ({"LOGIN_USERNAME_THROTTLE_RATE": "20/hour/x"}, "token_sessions.E018"),
        ({"SESSION_ID_CLAIM": "jti"}, "token_sessions.E007"),
        ({"REFRESH_COOKIE_HTTPONLY": False}, "token_sessions.E008"),
        ({"REFRESH_COOKIE_SAMESITE": "lax-ish"}, "token_sessions.E009"),
        (
            {"REFRESH_COOKIE_SAMESITE": "None", "REFRESH_COOKIE_SECURE": False},
            "token_sessions.E010",
        ),
        ({"REFRESH_TOKEN_TRANSPORT": "header"}, "token_sessions.E011"),
        ({"REVOCATION_BACKEND": "redis"}, "token_sessions.E014"),
        ({"REVOCATION_BACKEND": "django_token_sessions.revocation.Nope"}, "token_sessions.E014"),
        ({"REVOCATION_BACKEND": "django_token_sessions.conf.Settings"}, "token_sessions.E014"),
        ({"REVOCATION_BACKEND": 42}, "token_sessions.E014"),
        ({"REVOCATION_CACHE": "nope"}, "token_sessions.E015"),
        ({"REVOCATION_CACHE_FAILURE": "open"}, "token_sessions.E016"),
        ({"ROTATION_GRACE_PERIOD": timedelta(minutes=5)}, "token_sessions.W002"),
        ({"SESSION_ABSOLUTE_LIFETIME": timedelta(days=1)}, "token_sessions.W003"),
    ],
)
def test_each_misconfiguration_has_its_id(settings, expected):
    assert expected in ids(**settings)


@override_settings(DEBUG=False)
def test_insecure_cookie_outside_debug_warns():
    assert ids(REFRESH_COOKIE_SECURE=False) == {"token_sessions.W005"}


@override_settings(DEBUG=True)
def test_insecure_cookie_in_debug_is_fine():
    assert ids(REFRESH_COOKIE_SECURE=False) == set()


@override_settings(SIMPLE_JWT={"ACCESS_TOKEN_LIFETIME": timedelta(hours=2)})
def test_long_access_tokens_warn():
    assert ids() == {"token_sessions.W004"}


def test_cookie_transport_needs_its_middleware(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != COOKIE_MW]
    assert "token_sessions.E012" in ids()
    assert "token_sessions.E012" not in ids(REFRESH_TOKEN_TRANSPORT="body")


def test_cookie_transport_needs_csrf_middleware(settings):
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "django.middleware.csrf.CsrfViewMiddleware"
    ]
    assert "token_sessions.E013" in ids()


def test_checks_run_through_manage_py_check():
    from django.core.management.base import SystemCheckError

    with (
        override_settings(TOKEN_SESSIONS={"REFRESH_COOKIE_HTTPONLY": False}),
        pytest.raises(SystemCheckError, match=r"token_sessions\.E008"),
    ):
        call_command("check")


@override_settings(DEBUG=False)
@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    ],
)
def test_per_process_revocation_cache_warns_outside_debug(backend):
    with override_settings(CACHES={"default": {"BACKEND": backend}}):
        assert ids() == {"token_sessions.W006"}
        assert ids(REVOCATION_BACKEND=BACKENDS["db"]) == set()


#: A shared Redis cache as the revocation cache, DEBUG off: what production looks like.
ON_DJANGO_REDIS = override_settings(
    DEBUG=False,
    CACHES={
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
        }
    },
)


@ON_DJANGO_REDIS
def test_shared_revocation_cache_is_fine():
    assert ids(REVOCATION_BACKEND=BACKENDS["redis"]) == set()
    assert ids(REVOCATION_BACKEND=BACKENDS["db"]) == set()


@ON_DJANGO_REDIS
def test_the_cache_backend_on_django_redis_is_pointed_at_the_redis_backend():
    assert ids() == {"token_sessions.I002"}


@override_settings(DEBUG=False)
def test_revocation_check_off_warns():
    assert ids(REVOCATION_BACKEND=BACKENDS["off"]) == {"token_sessions.W007"}


@pytest.mark.parametrize("rate", [None, "20/hour", "1/s", "100/day"])
def test_username_throttle_rates_that_drf_parses_are_fine(rate):
    assert ids(LOGIN_USERNAME_THROTTLE_RATE=rate) == set()


def test_drf_num_proxies_differing_from_ours_warns():
    # The login throttle follows TOKEN_SESSIONS["NUM_PROXIES"] only: a project that set just
    # DRF's would count every client behind its proxy as the proxy.
    with override_settings(REST_FRAMEWORK={"NUM_PROXIES": 1}):
        assert ids() == {"token_sessions.W010"}
        assert ids(NUM_PROXIES=1) == set()
        assert ids(NUM_PROXIES=-1) == {"token_sessions.E005"}
    with override_settings(REST_FRAMEWORK={"NUM_PROXIES": None}):
        assert ids(NUM_PROXIES=2) == set()


@override_settings(
    REST_FRAMEWORK={"NUM_PROXIES": 0}, SIMPLE_JWT={"ACCESS_TOKEN_LIFETIME": timedelta(hours=2)}
)
def test_the_proxy_warning_does_not_hide_the_lifetime_warnings():
    assert ids(NUM_PROXIES=1) == {"token_sessions.W010", "token_sessions.W004"}


@pytest.mark.parametrize(
    ("id_field", "expected"),
    [
        ("id", []),
        ("pk", []),
        ("username", []),
        ("email", ["token_sessions.W011"]),  # not unique on auth.User
        ("first_name", ["token_sessions.W011"]),
    ],
)
def test_the_user_id_field_must_be_unique(id_field, expected):
    from django_token_sessions.checks import check_user_id_field

    with override_settings(SIMPLE_JWT={"USER_ID_FIELD": id_field}):
        assert [message.id for message in check_user_id_field()] == expected
