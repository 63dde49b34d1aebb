from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from django_token_sessions.admin import LogoutEverywhereAdminMixin

from .models import UUIDUser


@admin.register(UUIDUser)
class UUIDUserAdmin(LogoutEverywhereAdminMixin, UserAdmin):
    """Django's user admin for the UUID user model, with "Log out everywhere"."""
