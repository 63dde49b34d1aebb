"""What a login or refresh request tells about the device: IP address and a readable label."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .conf import app_settings

if TYPE_CHECKING:
    from django.http import HttpRequest

# ua-parser's family names are precise ("Mac OS X", "Mobile Safari"); people expect these.
_OS_NAMES = {"Mac OS X": "macOS", "Mac OS": "macOS"}
_BROWSER_NAMES = {"Mobile Safari": "Safari", "Chrome Mobile": "Chrome", "Firefox Mobile": "Firefox"}


@dataclass(frozen=True)
class ClientInfo:
    """The client facts stored on a device session. Build one with :func:`client_info`."""

    ip_address: str | None = None
    user_agent: str = ""


@lru_cache(maxsize=1024)
def device_label(user_agent: str) -> str:
    """A short human label for a user agent, e.g. ``"Firefox on macOS"``.

    Unknown agents give ``""`` so the UI can show its own placeholder.
    """
    if not user_agent:
        return ""
    from ua_parser import parse

    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else "Other"
    system = result.os.family if result.os else "Other"
    browser = _BROWSER_NAMES.get(browser, browser)
    system = _OS_NAMES.get(system, system)
    if browser != "Other" and system != "Other":
        return f"{browser} on {system}"[:200]
    if browser != "Other":
        return browser[:200]
    if system != "Other":
        return system[:200]
    return ""


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
