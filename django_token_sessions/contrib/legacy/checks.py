"""System checks of the legacy-token adoption, registered by :class:`~.apps.LegacyConfig`.

Each id is stable and documented, with its fix, in docs/checks.md.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Warning


def check_authentication_classes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``LegacyJWTAuthentication`` must come before ``SessionJWTAuthentication``."""
    import rest_framework.settings as drf_settings

    from ...authentication import SessionJWTAuthentication
    from .authentication import LegacyJWTAuthentication

    try:
        classes: list[Any] = list(drf_settings.api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    except ImportError:
        return []  # DRF reports that itself, at the first request
    legacy = [i for i, cls in enumerate(classes) if issubclass(cls, LegacyJWTAuthentication)]
    session = [
        i
        for i, cls in enumerate(classes)
        if issubclass(cls, SessionJWTAuthentication)
        and not issubclass(cls, LegacyJWTAuthentication)
    ]
    if legacy and not any(i > legacy[0] for i in session):
        return [
            Warning(
                "LegacyJWTAuthentication is not followed by SessionJWTAuthentication in "
                "REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES']: listed after it, it is "
                "never reached (SessionJWTAuthentication refuses legacy access tokens first); "
                "alone, it lets no session token in.",
                hint="List LegacyJWTAuthentication, then SessionJWTAuthentication.",
                id="token_sessions_legacy.W001",
            )
        ]
    return []
