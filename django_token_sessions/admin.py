"""Read-only admin for device sessions, with a revoke action that goes through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import ngettext

from . import services
from .models import DeviceSession, RevokeReason


@admin.register(DeviceSession)
class DeviceSessionAdmin(admin.ModelAdmin):
    """Support staff see and revoke sessions; nothing here can forge or edit a token."""

    list_display = (
        "display_name",
        "user",
        "ip_address",
        "created_at",
        "last_seen_at",
        "revoked_at",
        "revoke_reason",
    )
    list_filter = ("revoke_reason", "created_at")
    list_select_related = ("user",)
    readonly_fields = tuple(f.name for f in DeviceSession._meta.fields)
    actions = ["revoke_selected"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Sessions are created by logins only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Viewable, never editable."""
        return False

    @admin.action(description="Revoke selected sessions", permissions=["delete"])
    def revoke_selected(self, request: HttpRequest, queryset: Any) -> None:
        """Revoke through the service layer so the access tokens stop working too."""
        count = services.revoke_sessions(queryset, RevokeReason.ADMIN)
        self.message_user(
            request,
            ngettext("%(count)d session was revoked.", "%(count)d sessions were revoked.", count)
            % {"count": count},
            messages.SUCCESS,
        )
