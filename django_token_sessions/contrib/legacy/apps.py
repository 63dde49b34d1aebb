"""App configuration of the legacy-token adoption."""

from importlib.util import find_spec

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LegacyConfig(AppConfig):
    """Registers the exchange of plain simplejwt refresh tokens and the system checks."""

    name = "django_token_sessions.contrib.legacy"
    label = "token_sessions_legacy"
    verbose_name = _("Token sessions: legacy simplejwt tokens")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register :func:`~.exchange.adopt_legacy_refresh_token` with the core's refresh
        (:func:`~django_token_sessions.services.register_refresh_token_exchange`) and the
        checks ``token_sessions_legacy.W001``…"""
        from django.core.checks import Tags, register

        from ... import services
        from .checks import check_authentication_classes
        from .exchange import adopt_legacy_refresh_token

        services.register_refresh_token_exchange(adopt_legacy_refresh_token)
        register(check_authentication_classes, Tags.security)
        # The OpenAPI extension, with the optional "schema" extra (drf-spectacular) only.
        if find_spec("drf_spectacular") is not None:
            from . import schema  # noqa: F401
