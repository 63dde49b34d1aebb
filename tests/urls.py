from datetime import timedelta

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.urls import include, path
from django.utils import timezone
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from django_token_sessions import transport
from django_token_sessions.authentication import SessionJWTAuthentication
from django_token_sessions.views import RefreshView


@api_view(["GET"])
@authentication_classes([SessionJWTAuthentication])
@permission_classes([IsAuthenticated])
def me(request):
    return Response(
        {"username": request.user.get_username(), "session": str(request.auth.session_id)}
    )


@api_view(["POST"])
@authentication_classes([SessionJWTAuthentication])
@permission_classes([IsAuthenticated])
def change_password(request):
    # What a project's own "change my password" endpoint does.
    request.user.set_password(request.data["new_password"])
    request.user.save()
    return Response(status=204)


class TokenInDataRefreshView(RefreshView):
    """A project's subclass that puts the issued refresh token back into its data."""

    def post(self, request):
        response = super().post(request)
        response.data["refresh"] = transport.issued_token(response)[0]
        return response


def streamed_token(request):
    """A view that issues a token in a body nothing can inspect before it is sent."""
    response = StreamingHttpResponse(iter([b"{}"]), content_type="application/json")
    transport.attach_refresh_token(response, "a.b.c", timezone.now() + timedelta(hours=1))
    return response


urlpatterns = [
    path("admin/", admin.site.urls),
    # Under the same prefix as the app, so the refresh cookie's path reaches them.
    path("api/auth/token-in-data/", TokenInDataRefreshView.as_view()),
    path("api/auth/streamed-token/", streamed_token),
    path("api/auth/", include("django_token_sessions.urls")),
    path("api/me/", me),
    path("api/change-password/", change_password),
]
