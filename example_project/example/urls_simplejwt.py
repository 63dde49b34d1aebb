"""URLs of the plain simplejwt configuration (:mod:`example.settings_simplejwt`): simplejwt's
own views at the paths our app uses, and the same protected /api/me/."""

from typing import Any

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from .views import MeView


class PlainMeView(MeView):
    """:class:`MeView` for simplejwt's tokens: they carry no session id.

    ``MeView`` reads ``request.auth.session_id``, which only our access token has; a plain
    ``AccessToken`` would make it fail with a 500. Same body otherwise, same work.
    """

    def get(self, request: Request) -> Response:
        user: Any = request.user
        return Response(
            {
                "id": str(user.pk),
                "username": user.get_username(),
                "email": getattr(user, "email", ""),
                "session_id": None,
            }
        )


urlpatterns = [
    path("api/auth/login/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/auth/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("api/me/", PlainMeView.as_view(), name="me"),
]
