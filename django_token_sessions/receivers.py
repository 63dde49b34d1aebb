"""Triggers that log a user out everywhere: password change, deactivation, a change of the
user id claim, and deletion.

Connected in ``AppConfig.ready()`` to ``post_save`` of ``AUTH_USER_MODEL``, so every path
that saves the user counts: ``set_password()`` + ``save()``, the admin,
``PasswordChangeForm``, ``SetPasswordForm``, ``changepassword``, and any code that sets
``is_active = False`` or a new username and saves. ``QuerySet.update()`` sends no signal
and so is not seen (docs/logout-everywhere.md says what still protects such users).
``pre_save`` of the user reads the old user id claim when the save may change it.
``post_delete`` of the user writes the revocation marker the database cascade does not,
and the record a rebuild of the revocation cache writes it again from.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist

from .conf import app_settings, jwt_settings
from .context import current_session_id
from .models import RevokeReason
from .services import logout_everywhere, user_deleted, user_id_changed

#: Where :func:`user_saving` leaves the old user id claim for :func:`user_saved`.
_OLD_CLAIM = "_token_sessions_old_user_claim"


def user_saving(
    sender: Any,
    instance: Any,
    raw: bool = False,
    using: str | None = None,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """``pre_save`` of the user: if this save may change the user id claim
    (``SIMPLE_JWT["USER_ID_FIELD"]`` when it is not the primary key), remember the
    claim the tokens carry until now, for :func:`user_saved`.

    One query, only for a save that writes that field: a save of other fields
    (``update_last_login``'s ``update_fields=["last_login"]``) and every save with the
    default ``USER_ID_FIELD`` (the primary key, which never changes) cost nothing.
    """
    instance.__dict__.pop(_OLD_CLAIM, None)  # left by a save that failed after pre_save
    if raw or instance._state.adding or instance.pk is None:
        return
    name = jwt_settings().USER_ID_FIELD
    try:
        field = sender._meta.get_field(name)
    except FieldDoesNotExist:
        return  # "pk", or a property: the primary key or nothing a save can change
    if field.primary_key:
        return
    if update_fields is not None and not {field.name, field.attname} & set(update_fields):
        return
    old = (
        sender._base_manager.using(using)
        .filter(pk=instance.pk)
        .values_list(field.attname, flat=True)
        .first()
    )
    # Tokens carry the claim as text (or an int, whose text is the same): compare that.
    if old is not None and str(old) != str(getattr(instance, field.attname)):
        instance.__dict__[_OLD_CLAIM] = old


def user_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """Revoke the user's sessions if this save changed the password or the user id
    claim, or deactivated them."""
    old_claim = instance.__dict__.pop(_OLD_CLAIM, None)
    if created or kwargs.get("raw"):
        return
    if old_claim is not None:
        # Before the other triggers, and instead of them: every session ends, none kept,
        # and the old claim needs its own marker whatever else changed.
        user_id_changed(instance, old_claim, using=kwargs.get("using"))
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
