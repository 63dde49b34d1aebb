"""The user admin: Django's ``UserAdmin`` with the user's active device sessions on the
user's page and the "Log out everywhere" action. django-token-sessions adds neither by
itself; this is the project asking for both."""

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

# example.settings_simplejwt (the load test's plain simplejwt setup) leaves the app out.
if apps.is_installed("django_token_sessions"):
    from django_token_sessions.admin import UserSessionsAdminMixin

    User = get_user_model()
    admin.site.unregister(User)

    @admin.register(User)
    class ExampleUserAdmin(UserSessionsAdminMixin, UserAdmin):
        """Django's user admin, plus the sessions inline and "Log out everywhere"."""
