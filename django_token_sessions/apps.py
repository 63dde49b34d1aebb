"""App configuration."""

from importlib.util import find_spec

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TokenSessionsConfig(AppConfig):
    """Registers the system checks and the logout-everywhere triggers."""

    name = "django_token_sessions"
    label = "token_sessions"
    verbose_name = _("Token sessions")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register system checks (token_sessions.E001…) and signal receivers."""
        from django.conf import settings
        from django.core.signals import request_started
        from django.db.models.signals import post_delete, post_save, pre_save

        from . import checks  # noqa: F401
        from .context import reset_current_session
        from .receivers import user_removed, user_saved, user_saving

        pre_save.connect(
            user_saving,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="token_sessions_user_saving",
        )
        post_save.connect(
            user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="token_sessions_user_saved"
        )
        post_delete.connect(
            user_removed,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="token_sessions_user_deleted",
        )
        request_started.connect(reset_current_session, dispatch_uid="token_sessions_reset")
        # The OpenAPI extensions, with the optional "schema" extra (drf-spectacular) only.
        if find_spec("drf_spectacular") is not None:
            from . import schema  # noqa: F401
