from django.contrib import admin
from django.urls import include, path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from django_token_sessions.authentication import SessionJWTAuthentication


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


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/", include("django_token_sessions.urls")),
    path("api/me/", me),
    path("api/change-password/", change_password),
]
