"""App configuration."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TokenSessionsConfig(AppConfig):
    """Registers the system checks."""

    name = "django_token_sessions"
    label = "token_sessions"
    verbose_name = _("Token sessions")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register system checks (token_sessions.E001…)."""
        from . import checks  # noqa: F401
