"""Triggers that log a user out everywhere: password change, deactivation and deletion.

Connected in ``AppConfig.ready()`` to ``post_save`` of ``AUTH_USER_MODEL``, so every path
that saves the user counts: ``set_password()`` + ``save()``, the admin,
``PasswordChangeForm``, ``SetPasswordForm``, ``changepassword``, and any code that sets
``is_active = False`` and saves. ``QuerySet.update()`` sends no signal and so is not seen
(the README says what still protects such users). ``post_delete`` of the user writes the
revocation marker the database cascade does not, and the record a rebuild of the
revocation cache writes it again from.
"""

from __future__ import annotations

from typing import Any

from .authentication import current_session_id
from .conf import app_settings
from .models import RevokeReason
from .services import logout_everywhere, user_deleted


def user_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """Revoke the user's sessions if this save changed the password or deactivated them."""
    if created or kwargs.get("raw"):
        return
    if not getattr(instance, "is_active", True):
        # Saving an inactive user revokes whatever is still live: one UPDATE that matches
        # nothing when the user was already inactive, so no query to learn the old value.
        if app_settings.LOGOUT_ON_DEACTIVATION:
            logout_everywhere(instance, reason=RevokeReason.USER_DEACTIVATED)
        return
    # AbstractBaseUser.set_password() keeps the raw password in _password until save()
    # has written the new hash: its presence here means "the password was just changed".
    if getattr(instance, "_password", None) is not None and app_settings.LOGOUT_ON_PASSWORD_CHANGE:
        keep = current_session_id() if app_settings.PASSWORD_CHANGE_KEEPS_CURRENT_SESSION else None
        logout_everywhere(instance, reason=RevokeReason.PASSWORD_CHANGED, keep_session_id=keep)


def user_removed(sender: Any, instance: Any, using: str | None = None, **kwargs: Any) -> None:
    """``post_delete`` of the user: their access tokens stop working at once.

    One record for the user, in the deleting transaction, whatever the number of their
    sessions: no receiver on the session model, whose deletion by the cascade stays
    Django's plain batched ``DELETE``.
    """
    user_deleted(instance, using=using)
