"""The example's drf-spectacular pieces (with the "schema" extra): the OpenAPI description
of its own endpoint, /api/me/, and the Swagger UI page at /api/docs/.

A project documents its views the same way: ``extend_schema`` on the view, or, as here,
an extension that leaves the view module free of drf-spectacular.
"""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from .csp import HEADER, build_policy


class MeViewSchema(OpenApiViewExtension):
    target_class = "example.views.MeView"

    def view_replacement(self):
        @extend_schema_view(
            get=extend_schema(
                operation_id="me",
                summary="Who am I, on which device",
                tags=["example"],
                responses={
                    200: inline_serializer(
                        "Me",
                        fields={
                            "id": serializers.CharField(),
                            "username": serializers.CharField(),
                            "email": serializers.CharField(),
                            "session_id": serializers.UUIDField(),
                        },
                    ),
                    # This view keeps DRF's default error handler: "code" only where DRF sets one.
                    401: OpenApiResponse(
                        response={
                            "type": "object",
                            "properties": {
                                "detail": {"type": "string"},
                                "code": {"type": "string"},
                            },
                            "required": ["detail"],
                        },
                        description="No, or a refused, bearer access token.",
                    ),
                },
            )
        )
        class MeView(self.target_class):
            pass

        return MeView


class SwaggerUIView(SpectacularSwaggerSplitView):
    """Swagger UI under the site's Content-Security-Policy (``SECURE_CSP``).

    The split view serves the init script from a URL instead of inline, and our template
    moves the page's inline style to a static file, so with drf-spectacular-sidecar the
    page runs under the site's policy unchanged. Without the sidecar, Swagger UI's files
    come from drf-spectacular's CDN: this page alone (not the site) also allows that origin.
    """

    template_name = "example/swagger_ui.html"

    @extend_schema(exclude=True)  # as on the parent: the page is not part of the API
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        dist = urlsplit(str(spectacular_settings.SWAGGER_UI_DIST))
        if dist.scheme == "https" and request.GET.get("script") is None:
            origin = f"https://{dist.netloc}"
            policy = dict(settings.SECURE_CSP)
            for directive in ("script-src", "style-src", "img-src"):
                policy[directive] = [*policy.get(directive, policy["default-src"]), origin]
            # Both CSP middlewares keep a header the view set itself.
            response[HEADER] = build_policy(policy)
        return response
