"""What a login or refresh request tells about the device: IP address and a readable label."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

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


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or ``X-Forwarded-For`` behind trusted proxies.

    With ``NUM_PROXIES = n`` the n-th address from the right of ``X-Forwarded-For`` is
    taken, so a client cannot spoof its address by prepending entries.
    """
    num_proxies = app_settings.NUM_PROXIES
    forwarded: str = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if num_proxies > 0 and forwarded:
        hops = [part.strip() for part in forwarded.split(",") if part.strip()]
        if hops:
            return hops[-min(num_proxies, len(hops))]
    remote: str | None = request.META.get("REMOTE_ADDR")
    return remote


def client_info(request: HttpRequest) -> ClientInfo:
    """Collect :class:`ClientInfo` from a Django (or DRF) request, applying privacy settings."""
    # A server passes a NUL byte in the header on as is; PostgreSQL text cannot store it.
    user_agent = str(request.META.get("HTTP_USER_AGENT", "")).replace("\x00", "")
    user_agent = user_agent[: app_settings.USER_AGENT_MAX_LENGTH]
    return ClientInfo(ip_address=_stored_ip(client_ip(request)), user_agent=user_agent)
