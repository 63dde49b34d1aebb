"""The example's Content-Security-Policy: one policy, ``SECURE_CSP`` in settings.py.

On Django 6.0+ Django's own ``ContentSecurityPolicyMiddleware`` serves it. Below 6.0 the
middleware here does the same with the same setting, so the example needs no extra
package on Django 4.2-5.2 and a project on 6.0 drops this module and keeps the setting.
It does what Django's does for a policy without nonces: the header on every response,
unless the view set one itself (Swagger UI's page, when its files come from a CDN).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"


def build_policy(config: Mapping[str, Sequence[str]]) -> str:
    """``{"default-src": ["'self'"], ...}`` → ``"default-src 'self'; ..."``."""
    return "; ".join(
        f"{directive} {' '.join(sources)}".rstrip() for directive, sources in config.items()
    )


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """``settings.SECURE_CSP`` as the ``Content-Security-Policy`` header (Django < 6.0)."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if settings.SECURE_CSP and HEADER not in response:
            response[HEADER] = build_policy(settings.SECURE_CSP)
        return response
