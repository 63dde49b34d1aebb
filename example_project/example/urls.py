"""Example URLs: the app's endpoints under /api/auth/, a protected /api/me/, the admin,
the OpenAPI schema at /api/schema/ and /api/docs/ (with the schema extra), and the demo
account page at /."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("django_token_sessions.urls")),
    path("api/me/", views.MeView.as_view(), name="me"),
]
if settings.SCHEMA_ENABLED:
    # The OpenAPI 3 schema of the endpoints above, and Swagger UI over it.
    from drf_spectacular.views import SpectacularAPIView

    from .schema import SwaggerUIView  # the module also documents /api/me/

    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SwaggerUIView.as_view(url_name="schema"), name="docs"),
    ]
urlpatterns.append(path("", include("demo.urls")))
