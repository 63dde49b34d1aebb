"""The record of each legacy refresh token exchanged for a device session."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ...models import DeviceSession
from ...tokens import MAX_LEGACY_JTI_LENGTH


class LegacyTokenExchange(models.Model):
    """A plain simplejwt refresh token (no ``sid``) that was exchanged for a device session.

    The unique ``jti`` is what makes the exchange happen once: of two concurrent exchanges
    of one token, the second INSERT fails. Rows are useless once ``expires_at`` (the legacy
    token's own expiry) has passed; see :func:`~.exchange.purge_exchanges`.
    """

    jti = models.CharField(
        _("legacy refresh JTI"), max_length=MAX_LEGACY_JTI_LENGTH, unique=True, editable=False
    )
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
