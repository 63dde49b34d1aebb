"""A protected endpoint, as a project using the app would write it."""

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class MeView(APIView):
    """GET /api/me/ with ``Authorization: Bearer <access>``: who am I, on which device."""

    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            {
                "id": str(user.pk),
                "username": user.get_username(),
                "email": getattr(user, "email", ""),
                # None for a token without a device session (a plain simplejwt token
                # accepted by LegacyJWTAuthentication during a migration).
                "session_id": str(getattr(request.auth, "session_id", None)),
            }
        )
