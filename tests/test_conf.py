"""``django_token_sessions.conf``: defaults, live reads under ``override_settings``, and the
token lifetimes taken from ``SIMPLE_JWT``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from django_token_sessions.conf import (
    DEFAULT_ACCESS_TOKEN_LIFETIME,
    DEFAULT_REFRESH_TOKEN_LIFETIME,
    DEFAULTS,
    Settings,
    access_token_lifetime,
    app_settings,
    jwt_settings,
    refresh_token_lifetime,
)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_every_default_is_read_through_a_property(name):
    # A setting in DEFAULTS without a property (or the reverse) would be undocumented or
    # unreadable: each name is both.
    assert isinstance(getattr(Settings, name), property)
    assert getattr(app_settings, name) == DEFAULTS[name]


def test_every_property_has_a_default():
    properties = {name for name, value in vars(Settings).items() if isinstance(value, property)}
    assert properties == set(DEFAULTS)


def test_documented_defaults():
    read = app_settings
    grace, absolute = read.ROTATION_GRACE_PERIOD, read.SESSION_ABSOLUTE_LIFETIME
    assert (grace, absolute) == (timedelta(seconds=10), timedelta(days=30))
    assert read.MAX_SESSIONS_PER_USER is None
    assert read.REFRESH_TOKEN_TRANSPORT == "cookie"
    assert read.REFRESH_COOKIE_SECURE is True
    assert read.REVOCATION_BACKEND.endswith(".CacheBackend")


def test_override_settings_is_followed_live():
    assert app_settings.NUM_PROXIES == 0
    with override_settings(TOKEN_SESSIONS={"NUM_PROXIES": 2, "MAX_SESSIONS_PER_USER": 5}):
        assert app_settings.NUM_PROXIES == 2
        assert app_settings.MAX_SESSIONS_PER_USER == 5
        # Names the project leaves out keep their defaults.
        assert app_settings.REFRESH_COOKIE_NAME == "tokensessions_refresh"
    assert app_settings.NUM_PROXIES == 0


@pytest.mark.parametrize(
    "name", ["ROTATION_GRACE_PERIOD", "SESSION_ABSOLUTE_LIFETIME", "PURGE_RETENTION"]
)
def test_durations_are_a_timedelta_or_seconds(name):
    with override_settings(TOKEN_SESSIONS={name: 90}):
        assert getattr(app_settings, name) == timedelta(seconds=90)
    with override_settings(TOKEN_SESSIONS={name: 2.5}):
        assert getattr(app_settings, name) == timedelta(seconds=2.5)
    with override_settings(TOKEN_SESSIONS={name: timedelta(hours=1)}):
        assert getattr(app_settings, name) == timedelta(hours=1)


def test_a_token_sessions_setting_that_is_not_a_dict_reads_as_the_defaults():
    # The check token_sessions.E001 reports it; meanwhile nothing crashes.
    with override_settings(TOKEN_SESSIONS=["NUM_PROXIES", 3]):
        assert app_settings.NUM_PROXIES == 0
    with override_settings(TOKEN_SESSIONS=None):
        grace = app_settings.ROTATION_GRACE_PERIOD
    assert grace == DEFAULTS["ROTATION_GRACE_PERIOD"]


def test_token_lifetimes_default_to_15_minutes_and_7_days():
    with override_settings(SIMPLE_JWT={}):
        assert access_token_lifetime() == DEFAULT_ACCESS_TOKEN_LIFETIME == timedelta(minutes=15)
        assert refresh_token_lifetime() == DEFAULT_REFRESH_TOKEN_LIFETIME == timedelta(days=7)


def test_token_lifetimes_follow_simple_jwt():
    lifetimes = {
        "ACCESS_TOKEN_LIFETIME": timedelta(minutes=2),
        "REFRESH_TOKEN_LIFETIME": timedelta(hours=3),
    }
    with override_settings(SIMPLE_JWT=lifetimes):
        assert access_token_lifetime() == timedelta(minutes=2)
        assert refresh_token_lifetime() == timedelta(hours=3)
        # simplejwt's own api_settings, looked up anew: the rebound object, not a stale one.
        simplejwt_lifetime = jwt_settings().ACCESS_TOKEN_LIFETIME
        assert simplejwt_lifetime == timedelta(minutes=2)
    assert access_token_lifetime() == DEFAULT_ACCESS_TOKEN_LIFETIME
