"""The device-session table: one row per signed-in device."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, router, transaction
from django.db.models import Q
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
    USER_ID_CHANGED = "user_id_changed", _("User identifier changed")


def ended_before(cutoff: datetime) -> Q:
    """Sessions whose end — revocation, idle or absolute expiry — came before ``cutoff``.

    ``revoked_at`` and ``idle_expires_at`` are indexed. The absolute expiry needs no term
    of its own: the services never set ``idle_expires_at`` past ``absolute_expires_at``,
    so a session past its absolute expiry is past its idle one too. (Were that ever not
    so, such a session would only be taken for ended later, never a live one sooner.)
    """
    return Q(revoked_at__lt=cutoff) | Q(idle_expires_at__lt=cutoff)


def active_at(now: datetime) -> Q:
    """Sessions that, at ``now``, are neither revoked nor past their idle or absolute expiry.

    The one definition of an active session in SQL (:meth:`DeviceSession.is_active` is
    its twin on a loaded row); :meth:`DeviceSessionQuerySet.active` filters with it.
    """
    return Q(revoked_at__isnull=True, idle_expires_at__gt=now, absolute_expires_at__gt=now)


class DeviceSessionQuerySet(models.QuerySet["DeviceSession"]):
    """Queries the services and views need, each served by an index."""

    def active(self, now: datetime | None = None) -> DeviceSessionQuerySet:
        """Sessions that are neither revoked nor past their idle or absolute expiry."""
        return self.filter(active_at(now or timezone.now()))

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

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the sessions, leaving a :class:`RevocationRecord` for each whose access
        tokens may still be presented, in the same transaction.

        The record is what refuses those tokens once the revocation cache has lost its
        markers: in cache mode a session without a marker reads as alive, and a deleted
        row is nothing a rebuild can read. Sessions that ended longer than a marker
        lifetime ago (what ``tokensessions_purge`` deletes) need none.
        """
        query = self.query
        values = getattr(self, "_fields", None) is not None  # .values() / .values_list()
        if query.is_sliced or query.distinct_fields or query.combinator or values:
            return super().delete()  # refused by Django, with its own message
        horizon = _record_horizon()
        with transaction.atomic(using=self.db, savepoint=False):
            # Recorded rows go by primary key, so exactly the recorded ones are deleted even
            # if a row changes in between; the rest ended long ago and cannot change back.
            recent = _record_deleted(self.exclude(ended_before(horizon)))
            deleted = Counter(_delete(self.filter(ended_before(horizon))))
            for start in range(0, len(recent), _DELETE_BATCH):
                batch = recent[start : start + _DELETE_BATCH]
                deleted.update(
                    _delete(self.model._base_manager.using(self.db).filter(pk__in=batch))
                )
        self._result_cache = None
        return sum(deleted.values()), dict(deleted)


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
    #: SHA-256 (hex) of the ``Idempotency-Key`` the client sent with the refresh that
    #: replaced ``previous_jti``; empty if it sent none. A retry of that refresh with the
    #: same key gets the current pair back instead of being taken for a replay.
    rotation_key = models.CharField(
        _("rotation retry key (SHA-256)"), max_length=64, blank=True, default="", editable=False
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

    def delete(self, using: Any = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        """Delete the row (the admin's delete view, ``session.delete()``), recording it
        first as :meth:`DeviceSessionQuerySet.delete` does."""
        using = using or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            _record_deleted(
                DeviceSession.objects.using(using)
                .filter(pk=self.pk)
                .exclude(ended_before(_record_horizon()))
            )
            return super().delete(using=using, keep_parents=keep_parents)


class RevocationRecord(models.Model):
    """An end of sessions that left no revoked row behind: a deleted session row, or a
    deleted user (whose sessions the database cascade deleted).

    The revocation cache's rebuild writes the markers of these records as it writes
    those of revoked rows, so the loss of the cache (a Redis restart) does not bring such
    sessions back to life. Written only when sessions end this way, never on a login,
    refresh or request; useless after a marker lifetime, when ``tokensessions_purge``
    deletes them.
    """

    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    #: A deleted session: its marker refuses all its access tokens.
    session_id = models.UUIDField(_("session"), null=True, blank=True, editable=False)
    #: A deleted user: the token user id claim (``SIMPLE_JWT["USER_ID_FIELD"]`` of the user,
    #: as text) and the "not before" time in epoch milliseconds of the user's marker.
    user_claim = models.TextField(_("user id claim"), blank=True, default="", editable=False)
    not_before_ms = models.BigIntegerField(
        _("refuses tokens issued before (epoch ms)"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("revocation record")
        verbose_name_plural = _("revocation records")
        # The rebuild reads the newest, the purge deletes the oldest.
        indexes = [models.Index(fields=["created_at"], name="tokensess_record_created_idx")]

    def __str__(self) -> str:
        return str(self.session_id or self.user_claim)


#: Primary keys per DELETE of recorded sessions (SQLite allows 999 parameters on old builds).
_DELETE_BATCH = 500


def _record_horizon() -> datetime:
    """Sessions that ended before this have no access token left to refuse."""
    from .revocation import marker_lifetime  # the backends import this module

    return timezone.now() - timedelta(seconds=marker_lifetime())


def _delete(sessions: models.QuerySet[Any]) -> dict[str, int]:
    """Django's own delete of ``sessions`` (with the ``on_delete`` of the models that point
    at them), without the recording of :meth:`DeviceSessionQuerySet.delete`."""
    return models.QuerySet.delete(sessions)[1]


def _record_deleted(sessions: DeviceSessionQuerySet) -> list[uuid.UUID]:
    """In the deleting transaction: a record per session of ``sessions``, and after commit
    the markers of those still live (a revoked one has had its marker since its
    revocation). Returns their ids."""
    from .revocation import get_revocation_backend  # the backends import this module

    rows = list(sessions.values_list("pk", "revoked_at"))
    if not rows:
        return []
    now = timezone.now()
    RevocationRecord.objects.using(sessions.db).bulk_create(
        RevocationRecord(created_at=now, session_id=pk) for pk, _revoked_at in rows
    )
    live = [pk for pk, revoked_at in rows if revoked_at is None]
    if live:
        transaction.on_commit(
            lambda: get_revocation_backend().sessions_revoked(live), using=sessions.db
        )
    return [pk for pk, _revoked_at in rows]
