"""OpenAPI description of the example's own endpoint, /api/me/ (with the "schema" extra).

A project documents its views the same way: ``extend_schema`` on the view, or, as here,
an extension that leaves the view module free of drf-spectacular.
"""

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers


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
