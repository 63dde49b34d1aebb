"""What a login or refresh request tells about the device: IP address and a readable label."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .conf import app_settings

if TYPE_CHECKING:
    from django.http import HttpRequest

#: The longest label stored on a session (``DeviceSession.device_label``).
DEVICE_LABEL_MAX_LENGTH = 200

# ua-parser's family names are precise ("Mac OS X", "Mobile Safari"); people expect these.
_OS_NAMES = {"Mac OS X": "macOS", "Mac OS": "macOS"}
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
}

_APPLE_MOBILE = r"\b(?:iPhone|iPad|iPod|iOS|iPadOS)\b"
_APPLE_DESKTOP = r"\b(?:Macintosh|macOS|Mac OS X)\b"

# HTTP libraries and app runtimes, checked in order on the raw user agent before ua-parser,
# which names most of them after the library ("okhttp", "Python Requests"), labels an app's
# own agent as a browser ("Android on Android") or does not know them at all (httpx, Dart).
# People reading their device list want to know what kind of program signed in.
_CLIENT_LABELS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE | re.DOTALL), label)
    for pattern, label in (
        # OkHttp is the HTTP stack of nearly every Android app (and of Retrofit, Coil…).
        (r"\bokhttp/", "Android app"),
        (r"^Dalvik/", "Android app"),
        # CFNetwork is URLSession's default agent on every Apple system: "App/1 CFNetwork/…
        # Darwin/…". Darwin versions are shared by iOS and macOS, so only a named device
        # tells them apart.
        (rf"^(?=.*\bCFNetwork/)(?=.*{_APPLE_MOBILE})", "iOS app"),
        (rf"^(?=.*\bCFNetwork/)(?=.*{_APPLE_DESKTOP})", "macOS app"),
        (r"\bCFNetwork/", "Apple app"),
        # Flutter's dart:io client says "Dart/3.3 (dart:io)" and never "Flutter" by itself.
        (r"^(?=.*\bFlutter\b)(?=.*(?:^Dart/|\bdart:io\b))", "Flutter app"),
        (r"^Dart/|\bdart:io\b", "Dart app"),
        (r"\bKtor\b", "Ktor app"),
        (r"\bpython-[\w.]+/|\baiohttp/|^python/", "Python script"),
        (r"^(?:lib)?curl/", "curl"),
        (r"^Go-http-client/", "Go program"),
        (r"\bnode-fetch\b|\baxios/|^(?:node|undici)(?:/|$)", "Node.js script"),
        (r"^Java-http-client/|^Java/|\bApache-HttpClient/", "Java program"),
        (r"^PostmanRuntime/", "Postman"),
    )
)

# ua-parser families that are not a browser someone chose: its name for any agent that
# mentions Android without a known browser, and the in-app web views ("Mobile Safari
# UI/WKWebView" is also what an iOS app's own "App/1 (iPhone; iOS 17)" agent parses as).
_APP_FAMILIES = {
    "Android": "Android app",
    "Chrome Mobile WebView": "Android app",
    "Mobile Safari UI/WKWebView": "iOS app",
}
# A mobile system with no browser at all is an app talking for itself.
_APP_SYSTEMS = {"Android": "Android app", "iOS": "iOS app"}


@dataclass(frozen=True)
class ClientInfo:
    """The client facts stored on a device session. Build one with :func:`client_info`."""

    ip_address: str | None = None
    user_agent: str = ""
    #: The label the app gave its device at login (:func:`app_device_label`), which wins
    #: over the one guessed from the user agent; empty if it gave none.
    app_label: str = ""

    @property
    def label(self) -> str:
        """The device label to store: the app's own, else the user agent's."""
        return self.app_label or device_label(self.user_agent)


@lru_cache(maxsize=1024)
def device_label(user_agent: str) -> str:
    """A short human label for a user agent, e.g. ``"Firefox on macOS"``.

    Browsers are "<browser> on <system>"; known HTTP libraries and app runtimes name the
    kind of program ("Android app", "iOS app", "Python script", "curl"); a mobile system
    without a browser (an app's own agent, an in-app web view) is "Android app" or
    "iOS app". Unknown agents give ``""`` so the UI can show its own placeholder.
    """
    if not user_agent:
        return ""
    for pattern, label in _CLIENT_LABELS:
        if pattern.search(user_agent):
            return label
    from ua_parser import parse

    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else "Other"
    system = result.os.family if result.os else "Other"
    if browser in _APP_FAMILIES:
        return _APP_FAMILIES[browser]
    if browser == "Other" and system in _APP_SYSTEMS:
        return _APP_SYSTEMS[system]
    browser = _BROWSER_NAMES.get(browser, browser)
    system = _OS_NAMES.get(system, system)
    if browser != "Other" and system != "Other":
        return f"{browser} on {system}"[:DEVICE_LABEL_MAX_LENGTH]
    if browser != "Other":
        return browser[:DEVICE_LABEL_MAX_LENGTH]
    if system != "Other":
        return system[:DEVICE_LABEL_MAX_LENGTH]
    return ""


# What an app sends as its platform, spelled as people know it (Flutter's
# Platform.operatingSystem and React Native's Platform.OS are lower case: "ios", "macos").
_PLATFORM_NAMES = {
    name.casefold(): name
    for name in ("Android", "iOS", "iPadOS", "macOS", "watchOS", "tvOS", "Windows", "Linux")
} | {"darwin": "macOS"}
_PLATFORM_MAX_LENGTH = 30
# Invisible characters that only serve to make a name look like another or reorder the
# text around it (bidirectional overrides, "Trojan Source"); ZWJ and ZWNJ stay, emoji
# sequences and some scripts need them.
_INVISIBLE = frozenset(
    "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)


def _clean_text(value: object, max_length: int) -> str:
    """``value`` as one line of printable text, at most ``max_length`` characters."""
    if not isinstance(value, str):
        return ""
    # Bound the work on a huge value; whitespace runs are collapsed below, so keep margin.
    value = value[: max_length * 8]
    kept = []
    for char in value:
        if char.isspace():  # tabs, newlines, U+2028 and friends become one space
            kept.append(" ")
        elif char in _INVISIBLE or unicodedata.category(char) in ("Cc", "Cs"):
            continue  # control characters (NUL included) and lone surrogates
        else:
            kept.append(char)
    text = unicodedata.normalize("NFC", " ".join("".join(kept).split()))
    if len(text) > max_length:
        text = text[: max_length - 1].rstrip() + "\u2026"
    return text


def app_device_label(name: str | None, platform: str | None = None) -> str:
    """The label for a session from the device name and platform an app sends at login.

    Each part is cleaned: surrounding whitespace stripped, inner runs (newlines, tabs)
    collapsed to one space, control characters, lone surrogates and invisible
    bidirectional marks dropped, NFC-normalised; non-strings count as nothing. The
    platform's usual spellings are fixed (``"ios"`` is ``"iOS"``) and it is cut to 30
    characters.

    They combine as:

    - name and platform: ``"Anna's Pixel 8 (Android)"``, or just the name when it already
      names the platform as a word (``"Anna's Android tablet"`` with ``"android"``);
    - name only: the name;
    - platform only: ``"Android app"``, like the labels :func:`device_label` gives;
    - neither: ``""``, so the caller falls back to :func:`device_label` of the user agent.

    The result is at most :data:`DEVICE_LABEL_MAX_LENGTH` characters; a longer name is
    cut and ends with an ellipsis, the platform kept.
    """
    platform_text = _clean_text(platform, _PLATFORM_MAX_LENGTH)
    platform_text = _PLATFORM_NAMES.get(platform_text.casefold(), platform_text)
    if not platform_text:
        return _clean_text(name, DEVICE_LABEL_MAX_LENGTH)
    suffix = f" ({platform_text})"
    name_text = _clean_text(name, DEVICE_LABEL_MAX_LENGTH)
    if not name_text:
        return f"{platform_text} app"
    if re.search(rf"(?<!\w){re.escape(platform_text)}(?!\w)", name_text, re.IGNORECASE):
        return name_text
    return _clean_text(name, DEVICE_LABEL_MAX_LENGTH - len(suffix)) + suffix


def _stored_ip(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        ip = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    mode = app_settings.IP_ADDRESS_STORAGE
    if mode == "none":
        return None
    if mode == "truncated":
        # /24 for IPv4 and /48 for IPv6: enough to tell networks apart, not people.
        prefix = 24 if ip.version == 4 else 48
        return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)
    return str(ip)


def _parse_address(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a server or proxy writes it, or ``None`` if it is not one.

    Accepted: ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]`` and
    ``[2001:db8::1]:443`` (some proxies append the client's port); an IPv6 zone
    (``%eth0``) is dropped, and an IPv4-mapped address (``::ffff:1.2.3.4``, what a
    dual-stack socket reports for an IPv4 client) is its IPv4 address.
    """
    if not isinstance(text, str):  # ip_address() would also take an int or packed bytes
        return None
    text = text.strip()
    if text.startswith("["):
        text, closed, rest = text[1:].partition("]")
        if not closed or (rest and not (rest[:1] == ":" and _is_port(rest[1:]))):
            return None
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
        if not _is_port(port):
            return None
    try:
        ip = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, normalised; the one identity of a client for this package.

    The login throttle, the address stored on a device session and anything logged all
    come from here, never from DRF's ``get_ident()`` (with DRF's own ``NUM_PROXIES`` unset,
    that trusts whatever ``X-Forwarded-For`` the client sends).

    - ``NUM_PROXIES = 0`` (the default): ``REMOTE_ADDR`` only. ``X-Forwarded-For``,
      ``X-Real-IP`` and ``Forwarded`` are ignored: without a proxy anyone can write them.
    - ``NUM_PROXIES = n``: the n-th entry from the right of ``X-Forwarded-For``, the one
      the outermost trusted proxy wrote, so entries a client prepends are never read.
      With fewer entries than ``n`` (the request skipped a proxy), the leftmost; with no
      header, ``REMOTE_ADDR``. ``n`` must match every path to the application: a client
      that can reach an inner proxy directly can otherwise choose the entry read.
      ``X-Real-IP`` and ``Forwarded`` are never read.
    - The entry read is not an address (``unknown``, an obfuscated ``_hidden`` name, a
      unix socket path, garbage): ``REMOTE_ADDR`` (the proxy's) is used instead. Such a
      request is counted with everything else that came through that proxy, rather than
      getting a budget of its own for each new piece of garbage.
    - No usable address at all (no ``REMOTE_ADDR``, as under an ASGI server on a unix
      socket): ``None``.

    The result is a canonical string: ports and IPv6 zones dropped, IPv4-mapped IPv6
    addresses written as IPv4, so one client has one spelling.
    """
    num_proxies = app_settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if num_proxies > 0 and isinstance(forwarded, str) and forwarded:
        hops = forwarded.split(",")
        ip = _parse_address(hops[-min(num_proxies, len(hops))])
        if ip is not None:
            return str(ip)
    remote = _parse_address(request.META.get("REMOTE_ADDR"))
    return None if remote is None else str(remote)


def client_info(request: HttpRequest) -> ClientInfo:
    """Collect :class:`ClientInfo` from a Django (or DRF) request, applying privacy settings."""
    # A server passes a NUL byte in the header on as is; PostgreSQL text cannot store it.
    user_agent = str(request.META.get("HTTP_USER_AGENT", "")).replace("\x00", "")
    user_agent = user_agent[: app_settings.USER_AGENT_MAX_LENGTH]
    return ClientInfo(ip_address=_stored_ip(client_ip(request)), user_agent=user_agent)
