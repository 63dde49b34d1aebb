"""``django_token_sessions.device``: the label of a user agent, the client's address
(``NUM_PROXIES``), and the ``ClientInfo`` stored on a session.

How the address keeps a forged header from buying a fresh login budget is tested through
HTTP in tests/test_throttle_identity.py; here the functions themselves.
"""

from __future__ import annotations

import dataclasses

import pytest
from django.test import RequestFactory, override_settings

from django_token_sessions.device import ClientInfo, client_info, client_ip, device_label
from tests.support.clients import FIREFOX_LINUX

SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) Gecko/20100101 Firefox/120.0",
            "Firefox on macOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "Chrome on Windows",
        ),
        ("", ""),
        ("\x00\xff garbage", ""),
    ],
)
def test_device_labels(agent, label):
    assert device_label(agent) == label


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (SAFARI_IPHONE, "Safari on iOS"),  # not "Mobile Safari on iOS"
        (CHROME_ANDROID, "Chrome on Android"),  # not "Chrome Mobile"
        (FIREFOX_LINUX, "Firefox on Linux"),
        ("curl/8.5.0", "curl"),  # a browser without a system
        ("MyApp/1.0 (Windows NT 10.0)", "Windows"),  # a system without a browser
    ],
)
def test_labels_use_the_names_people_know(agent, label):
    assert device_label(agent) == label


def request(remote: str | None = "198.51.100.7", forwarded: str | None = None, **meta: str):
    req = RequestFactory().get("/")
    if remote is None:
        del req.META["REMOTE_ADDR"]
    else:
        req.META["REMOTE_ADDR"] = remote
    if forwarded is not None:
        req.META["HTTP_X_FORWARDED_FOR"] = forwarded
    req.META.update(meta)
    return req


def test_without_proxies_only_the_socket_address_counts():
    req = request(forwarded="203.0.113.1", HTTP_X_REAL_IP="203.0.113.2")
    assert client_ip(req) == "198.51.100.7"


@pytest.mark.parametrize(
    ("num_proxies", "forwarded", "expected"),
    [
        (1, "203.0.113.1", "203.0.113.1"),
        # Entries a client prepends are never read: the n-th from the right is.
        (1, "6.6.6.6, 203.0.113.1", "203.0.113.1"),
        (2, "6.6.6.6, 203.0.113.1, 10.0.0.2", "203.0.113.1"),
        # Fewer entries than proxies: the leftmost.
        (3, "203.0.113.1, 10.0.0.2", "203.0.113.1"),
        # Not an address: the proxy's own.
        (1, "unknown", "198.51.100.7"),
        # Spellings of one address are one address.
        (1, "203.0.113.1:4711", "203.0.113.1"),
        (1, "[2001:db8::1]:443", "2001:db8::1"),
        (1, "::ffff:203.0.113.1", "203.0.113.1"),
    ],
)
def test_behind_proxies_the_entry_the_outermost_proxy_wrote(num_proxies, forwarded, expected):
    with override_settings(TOKEN_SESSIONS={"NUM_PROXIES": num_proxies}):
        assert client_ip(request(forwarded=forwarded)) == expected


def test_no_usable_address_is_none():
    assert client_ip(request(remote=None)) is None
    assert client_ip(request(remote="unix:/run/app.sock")) is None


def test_client_info_from_a_request():
    req = request(HTTP_USER_AGENT=FIREFOX_LINUX)
    assert client_info(req) == ClientInfo(ip_address="198.51.100.7", user_agent=FIREFOX_LINUX)


@pytest.mark.parametrize(
    ("storage", "remote", "stored"),
    [
        ("full", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"),
        ("truncated", "198.51.100.7", "198.51.100.0"),
        ("truncated", "2001:db8:1:2:3:4:5:6", "2001:db8:1::"),
        ("none", "198.51.100.7", None),
    ],
)
def test_client_info_stores_the_address_as_configured(storage, remote, stored):
    with override_settings(TOKEN_SESSIONS={"IP_ADDRESS_STORAGE": storage}):
        assert client_info(request(remote=remote)).ip_address == stored


def test_client_info_user_agent_is_cut_to_the_limit_and_without_nul():
    req = request(HTTP_USER_AGENT="a\x00b" + "c" * 600)
    assert client_info(req).user_agent == "ab" + "c" * 510
    with override_settings(TOKEN_SESSIONS={"USER_AGENT_MAX_LENGTH": 3}):
        assert client_info(req).user_agent == "abc"


def test_client_info_defaults_and_is_immutable():
    info = ClientInfo()
    assert (info.ip_address, info.user_agent) == (None, "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.user_agent = "changed"  # type: ignore[misc]
