"""Example URLs: the app's endpoints under /api/auth/, a protected /api/me/, the admin,
and the demo account page at /."""

from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("django_token_sessions.urls")),
    path("api/me/", views.MeView.as_view(), name="me"),
    path("", include("demo.urls")),
]
