"""The device-session table: one row per signed-in device."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


#: What an ORM lookup by a value of the wrong shape raises (a UUID primary key: a
#: ValidationError), besides DoesNotExist.
LOOKUP_ERRORS = (ValueError, TypeError, ValidationError)


def model_has_field(model: Any, name: str) -> bool:
    """True if ``model`` (a class or instance) has a concrete or related field ``name``."""
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


class RevokeReason(models.TextChoices):
    """Why a session ended. The values are public API (JSON, signals, admin filters)."""

    LOGOUT = "logout", _("Signed out")
    LOGOUT_ALL = "logout_all", _("Signed out everywhere")
    LOGOUT_OTHERS = "logout_others", _("Signed out from another device")
    USER_REVOKED_DEVICE = "user_revoked_device", _("Device revoked by the user")
    REUSE_DETECTED = "reuse_detected", _("Refresh token reuse detected")
    ADMIN = "admin", _("Revoked by an administrator")
    PASSWORD_CHANGED = "password_changed", _("Password changed")
    USER_DEACTIVATED = "user_deactivated", _("User deactivated")
    SESSION_LIMIT = "session_limit", _("Evicted by the per-user session limit")


class DeviceSessionQuerySet(models.QuerySet["DeviceSession"]):
    """Queries the services and views need, each served by an index."""

    def active(self, now: datetime | None = None) -> DeviceSessionQuerySet:
        """Sessions that are neither revoked nor past their idle or absolute expiry."""
        now = now or timezone.now()
        return self.filter(
            revoked_at__isnull=True, idle_expires_at__gt=now, absolute_expires_at__gt=now
        )

    def for_user(self, user: AbstractBaseUser | Any) -> DeviceSessionQuerySet:
        """Sessions of ``user`` (a user instance or a primary key)."""
        user_id = getattr(user, "pk", user)
        return self.filter(user_id=user_id)

    def revoke(self, reason: str, now: datetime | None = None) -> int:
        """Revoke every not-yet-revoked session in the queryset with one UPDATE.

        Returns the number of sessions revoked by this call. Prefer the functions in
        :mod:`django_token_sessions.services`, which also notify revocation listeners.
        """
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).update(revoked_at=now, revoke_reason=reason)


class DeviceSession(models.Model):
    """A signed-in device and the refresh-token chain it owns.

    Exactly one refresh token is valid for a session at any time: the one whose ``jti``
    equals ``refresh_jti``. ``previous_jti`` is the token it replaced, accepted again only
    inside the rotation grace window.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="device_sessions",
        verbose_name=_("user"),
        # The (user, revoked_at) index below serves every lookup by user; one index less
        # to write on each login, refresh and revocation.
        db_index=False,
    )
    refresh_jti = models.CharField(_("current refresh JTI"), max_length=64, editable=False)
    previous_jti = models.CharField(
        _("previous refresh JTI"), max_length=64, blank=True, default="", editable=False
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now, editable=False)
    rotated_at = models.DateTimeField(_("rotated"), null=True, blank=True, editable=False)
    idle_expires_at = models.DateTimeField(_("idle expiry"), editable=False)
    absolute_expires_at = models.DateTimeField(_("absolute expiry"), editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    revoke_reason = models.CharField(
        _("revoke reason"),
        max_length=32,
        choices=RevokeReason.choices,
        blank=True,
        default="",
        editable=False,
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.TextField(_("user agent"), blank=True, default="")
    device_label = models.CharField(_("device"), max_length=200, blank=True, default="")
    name = models.CharField(
        _("name"), max_length=100, blank=True, default="", help_text=_("Set by the user.")
    )

    objects = DeviceSessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("device session")
        verbose_name_plural = _("device sessions")
        ordering = ("-last_seen_at",)
        indexes = [
            # The user's session list and bulk revocations filter on both.
            models.Index(fields=["user", "revoked_at"], name="tokensess_user_revoked_idx"),
            # Housekeeping (purge) and the admin's status filters.
            models.Index(fields=["revoked_at"], name="tokensess_revoked_idx"),
            models.Index(fields=["idle_expires_at"], name="tokensess_idle_exp_idx"),
            # The admin list on large tables: its default ordering (-last_seen_at, -pk) read
            # backwards from an index, and the reason and created-date filters.
            models.Index(fields=["last_seen_at", "id"], name="tokensess_last_seen_idx"),
            models.Index(fields=["created_at"], name="tokensess_created_idx"),
            models.Index(fields=["revoke_reason"], name="tokensess_reason_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.user_id})"

    @property
    def display_name(self) -> str:
        """The user's name for the device, else the label parsed from the user agent."""
        return self.name or self.device_label or str(_("Unknown device"))

    @property
    def expires_at(self) -> datetime:
        """When the session ends if it is not refreshed (the earlier of both expiries)."""
        return min(self.idle_expires_at, self.absolute_expires_at)

    def is_active(self, now: datetime | None = None) -> bool:
        """True if not revoked and not expired at ``now``."""
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class LegacyTokenExchange(models.Model):
    """A plain simplejwt refresh token (no ``sid``) that was exchanged for a device session.

    The unique ``jti`` is what makes the exchange happen once: of two concurrent exchanges
    of one token, the second INSERT fails. Rows are useless once ``expires_at`` (the legacy
    token's own expiry) has passed; see :func:`django_token_sessions.legacy.purge_exchanges`.
    """

    jti = models.CharField(_("legacy refresh JTI"), max_length=255, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    session = models.ForeignKey(
        DeviceSession,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("device session"),
    )
    exchanged_at = models.DateTimeField(_("exchanged"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("legacy token expiry"), editable=False)

    class Meta:
        verbose_name = _("legacy token exchange")
        verbose_name_plural = _("legacy token exchanges")
        indexes = [models.Index(fields=["expires_at"], name="tokensess_legacy_exp_idx")]

    def __str__(self) -> str:
        return f"{self.jti} ({self.user_id})"
