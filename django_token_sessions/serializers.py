"""Request validation and response shapes of the JSON endpoints."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from .models import DeviceSession


class AppDeviceSerializer(serializers.Serializer):
    """``{"name": "Anna's Pixel 8", "platform": "android"}``: how an app names its device."""

    name = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, trim_whitespace=False
    )
    platform = serializers.CharField(
        required=False, allow_blank=True, max_length=100, trim_whitespace=False
    )


class LoginSerializer(serializers.Serializer):
    """``{"username": ..., "password": ..., "device": {"name", "platform"}}``; the user
    model's ``USERNAME_FIELD`` works too. ``device`` is optional: an app names the device
    the session list shows (else it is guessed from the user agent)."""

    username = serializers.CharField(required=False, max_length=254, trim_whitespace=False)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    device = AppDeviceSerializer(required=False)

    def to_internal_value(self, data: Any) -> Any:
        field = get_user_model().USERNAME_FIELD
        if isinstance(data, dict) and "username" not in data and field in data:
            data = {**data, "username": data[field]}
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("username"):
            raise serializers.ValidationError({"username": ["This field is required."]})
        return attrs


class RefreshSerializer(serializers.Serializer):
    """``{"refresh": "<token>"}``."""

    refresh = serializers.CharField(max_length=8192, trim_whitespace=True)


class LogoutAllSerializer(serializers.Serializer):
    """``{"scope": "all" | "others"}`` (default ``"all"``)."""

    scope = serializers.ChoiceField(choices=["all", "others"], default="all")


class RenameSessionSerializer(serializers.Serializer):
    """``{"name": "..."}``; an empty name restores the label parsed from the user agent."""

    name = serializers.CharField(max_length=100, allow_blank=True, trim_whitespace=True)


class DeviceSessionSerializer(serializers.ModelSerializer):
    """A device as the session list and login show it."""

    name = serializers.CharField(source="display_name", read_only=True)
    custom_name = serializers.CharField(source="name", read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    current = serializers.SerializerMethodField()

    class Meta:
        model = DeviceSession
        fields = (
            "id",
            "name",
            "custom_name",
            "device_label",
            "ip_address",
            "created_at",
            "last_seen_at",
            "expires_at",
            "current",
        )
        read_only_fields = fields

    def get_current(self, obj: DeviceSession) -> bool:
        """True for the session the request was made with."""
        return bool(obj.pk == self.context.get("current_session_id"))


class TokenResponseSerializer(serializers.Serializer):
    """The body of a successful refresh: a new access token and, for native clients, refresh.

    Documentation only (the OpenAPI schema): the views build this body themselves.
    """

    access = serializers.CharField(help_text="Access token (JWT), sent as `Bearer <access>`.")
    refresh = serializers.CharField(
        required=False,
        help_text=(
            "Refresh token (JWT), in the body only with the body transport "
            "(`X-Token-Transport: body`); with the cookie transport it is in the "
            "HttpOnly refresh cookie instead and this field is absent."
        ),
    )
    access_expires_at = serializers.DateTimeField(help_text="When the access token expires.")


class LoginResponseSerializer(TokenResponseSerializer):
    """The body of a successful login: the tokens and the new device session."""

    session = DeviceSessionSerializer(help_text="The device session this login created.")
