# drf-spectacular's OpenApiExtension.__init_subclass__ (its registry) is untyped.
# mypy: disable-error-code="no-untyped-call"
"""The OpenAPI 3 security scheme of :class:`~.authentication.LegacyJWTAuthentication`, for
drf-spectacular (the ``schema`` extra); :class:`~.apps.LegacyConfig` imports this module
only when drf-spectacular is installed.
"""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class LegacyJWTScheme(SimpleJWTScheme):
    """``Authorization: Bearer <access>``, a plain simplejwt access token (no session),
    accepted during a migration: a scheme of its own next to the core's ``sessionJWT``
    (sharing that name, drf-spectacular would report two classes behind one scheme)."""

    target_class = "django_token_sessions.contrib.legacy.authentication.LegacyJWTAuthentication"
    match_subclasses = True
    priority = 1  # before the core's scheme, which matches SessionJWTAuthentication's subclasses
    name = "legacyJWT"
