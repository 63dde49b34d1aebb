"""``django_token_sessions.device``: the label of a user agent or of what an app says it is,
the client's address (``NUM_PROXIES``), and the ``ClientInfo`` stored on a session.

How the address keeps a forged header from buying a fresh login budget is tested through
HTTP in tests/test_throttle_identity.py; here the functions themselves.
"""

from __future__ import annotations

import dataclasses

import pytest
from django.test import RequestFactory, override_settings
from hypothesis import given
from hypothesis import strategies as st

from django_token_sessions.device import (
    DEVICE_LABEL_MAX_LENGTH,
    ClientInfo,
    app_device_label,
    client_info,
    client_ip,
    device_label,
)
from django_token_sessions.models import DeviceSession
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


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        # Browsers whose ua-parser family carries the platform in its name.
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            "Chrome on iOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) FxiOS/120.0 Mobile/15E148 Safari/605.1.15",
            "Firefox on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36 EdgA/120.0.0.0",
            "Edge on Android",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/116.0.0.0 Mobile Safari/537.36 OPR/77.0.0.0",
            "Opera on Android",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            "Samsung Internet on Android",
        ),
        # An app that ua-parser knows keeps its name.
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/400.0]",
            "Facebook on iOS",
        ),
        ("HTTPie/3.2.2", "HTTPie"),
        ("Wget/1.21.4", "Wget"),
    ],
)
def test_browser_labels_are_unchanged_by_the_app_table(agent, label):
    assert device_label(agent) == label


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        # Android: OkHttp (alone, after the app's own token, inside gRPC), Dalvik, an app's
        # own agent that ua-parser calls "Android on Android", an in-app web view.
        ("okhttp/4.12.0", "Android app"),
        ("MyApp/2.0 (Android 14; Pixel 8) okhttp/4.12.0", "Android app"),
        ("grpc-java-okhttp/1.60.0", "Android app"),
        ("Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A.240205.004)", "Android app"),
        ("GenClient/1.0 (Linux; Android 14)", "Android app"),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Version/4.0 Chrome/120.0.0.0 Mobile Safari/537.36",
            "Android app",
        ),
        # Apple: URLSession's CFNetwork agent, an app's own agent, an in-app web view.
        ("MyApp/1 CFNetwork/1494.0.7 Darwin/23.4.0", "Apple app"),
        ("Expo/2.30 CFNetwork/1494.0.7 Darwin/23.4.0", "Apple app"),
        ("MyApp/1 (iPhone; iOS 17.4) CFNetwork/1494.0.7 Darwin/23.4.0", "iOS app"),
        ("MyApp/1 CFNetwork/1494.0.7 Darwin/23.4.0 (iPad)", "iOS app"),
        ("MyApp/1 CFNetwork/1494.0.7 Darwin/23.4.0 (Macintosh; macOS 14.4)", "macOS app"),
        ("MyApp/3.2 (iPhone; iOS 17.4; Scale/3.00)", "iOS app"),
        ("MyApp/3.2 (iPad; iOS 17.4; Scale/2.00)", "iOS app"),
        ("MyApp/3 (com.example.app; build:12; iOS 17.4.0) Alamofire/5.8.0", "iOS app"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148",
            "iOS app",
        ),
        # Cross-platform runtimes.
        ("Dart/3.3 (dart:io)", "Dart app"),
        ("Dart/3.3 (dart:io) Flutter/3.19", "Flutter app"),
        ("MyApp/1.0 Flutter (dart:io)", "Flutter app"),
        ("Ktor client", "Ktor app"),
        ("ktor-client", "Ktor app"),
        ("Ktor/2.3.7", "Ktor app"),
        # Scripts and tools.
        ("python-requests/2.31.0", "Python script"),
        ("python-httpx/0.28.1", "Python script"),
        ("Python/3.12 aiohttp/3.9.3", "Python script"),
        ("Python-urllib/3.12", "Python script"),
        ("python-urllib3/2.2.1", "Python script"),
        ("curl/8.5.0", "curl"),
        ("libcurl/8.5.0", "curl"),
        ("Go-http-client/2.0", "Go program"),
        ("Go-http-client/1.1", "Go program"),
        ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "Node.js script"),
        ("node-fetch", "Node.js script"),
        ("undici", "Node.js script"),
        ("node", "Node.js script"),
        ("axios/1.6.7", "Node.js script"),
        ("Java-http-client/17.0.2", "Java program"),
        ("Java/17.0.2", "Java program"),
        ("Apache-HttpClient/4.5.14 (Java/17.0.2)", "Java program"),
        ("PostmanRuntime/7.36.3", "Postman"),
        # Still nothing to say.
        ("MyApp/1.0", ""),
        ("nodejs-is-not-node", ""),
    ],
)
def test_app_and_script_labels(agent, label):
    assert device_label(agent) == label


@given(st.text(max_size=600))
def test_device_label_never_raises_and_stays_short(agent):
    label = device_label(agent)
    assert isinstance(label, str)
    assert len(label) <= DEVICE_LABEL_MAX_LENGTH


@given(
    st.lists(
        st.sampled_from(
            [
                "okhttp/",
                "CFNetwork/",
                "Dart/",
                "iPhone",
                "Android ",
                "(",
                ";",
                " ",
                "\x00",
                "\ud800",
                "Mozilla/5.0",
                "python-",
                "/1.0",
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_device_label_never_raises_on_agent_like_garbage(agent):
    assert len(device_label(agent)) <= DEVICE_LABEL_MAX_LENGTH


def test_the_label_limit_is_the_model_field_length():
    assert DeviceSession._meta.get_field("device_label").max_length == DEVICE_LABEL_MAX_LENGTH


@pytest.mark.parametrize(
    ("name", "platform", "label"),
    [
        ("Anna's Pixel 8", "Android", "Anna's Pixel 8 (Android)"),
        ("Anna's iPhone", "ios", "Anna's iPhone (iOS)"),  # the usual spelling of the platform
        ("Mac mini", "macos", "Mac mini (macOS)"),
        ("Anna's Android tablet", "android", "Anna's Android tablet"),  # said once
        ("Webster's laptop", "web", "Webster's laptop (web)"),  # a word, not a substring
        ("Anna's Pixel 8", None, "Anna's Pixel 8"),
        ("Anna's Pixel 8", "   ", "Anna's Pixel 8"),
        (None, "Android", "Android app"),
        ("", "iPadOS", "iPadOS app"),
        (None, None, ""),
        ("", "", ""),
        # Unicode names are kept, composed (NFC) so one name has one spelling.
        ("Jürgens Handy", "Android", "Jürgens Handy (Android)"),
        ("Ju\u0308rgens Handy", None, "Jürgens Handy"),
        ("张伟的手机", "HarmonyOS", "张伟的手机 (HarmonyOS)"),
        ("Anna\u2019s 📱 👩\u200d💻", None, "Anna\u2019s 📱 👩\u200d💻"),  # ZWJ kept: one emoji
    ],
)
def test_app_device_label(name, platform, label):
    assert app_device_label(name, platform) == label


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("  Anna's\n\tPixel   8  ", "Anna's Pixel 8"),  # one line, single spaces
        ("Anna\u2028Pixel\u00a0\u3000 8", "Anna Pixel 8"),  # Unicode spaces too
        ("Anna\x00's\x1b[31m Pixel\x7f\x9b", "Anna's[31m Pixel"),  # control characters
        ("Anna\ud800's \udfffPixel", "Anna's Pixel"),  # lone surrogates
        ("Anna\u202e8 lexiP\u202c \u200bx\ufeff", "Anna8 lexiP x"),  # bidi and invisibles
        (" \t\n\u3000 ", ""),
        ("\x00\x01\ud800\u202e", ""),
    ],
)
def test_app_device_label_cleans_the_name(name, label):
    assert app_device_label(name, None) == label


def test_app_device_label_caps_a_huge_name():
    label = app_device_label("x" * 10_240, None)
    assert len(label) == DEVICE_LABEL_MAX_LENGTH
    assert label.endswith("x\u2026")
    label = app_device_label("Pixel " * 2_000, "Android")
    assert len(label) <= DEVICE_LABEL_MAX_LENGTH
    assert label.startswith("Pixel Pixel")
    assert label.endswith("\u2026 (Android)")
    # The platform is a short word, never most of the label.
    assert len(app_device_label("Pixel", "A" * 10_240)) <= len("Pixel ()") + 30


def test_app_device_label_ignores_what_is_not_text():
    assert app_device_label(42, ["Android"]) == ""  # type: ignore[arg-type]


@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_app_device_label_is_always_storable(name, platform):
    label = app_device_label(name, platform)
    assert len(label) <= DEVICE_LABEL_MAX_LENGTH
    assert label == label.strip()
    assert not any(char in label for char in "\x00\n\r\t")
    label.encode("utf-8")  # no lone surrogate left for the database to refuse


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
