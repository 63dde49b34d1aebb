"""The ``db`` backend: the session row is asked on every request, inside the user query."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from ..models import DeviceSession
from ..storage import session_alive
from ..tokens import SessionAccessToken
from .base import PendingCheck, RevocationBackend

#: The annotation the check adds to the user query.
_ALIVE = "_token_session_alive"


class _UserQueryCheck(PendingCheck):
    """Read from the user query when it ran with this check's annotation; asked of the
    database on its own otherwise (an authentication class whose ``get_user`` loads the
    user its own way)."""

    def __init__(self, backend: DatabaseBackend, token: SessionAccessToken) -> None:
        super().__init__(lambda: backend.is_revoked(token))
        self._session_id = token.session_id
        self._prepared = False

    def prepare_user_query(self, users: QuerySet[Any]) -> QuerySet[Any]:
        self._prepared = True
        annotated: QuerySet[Any] = users.annotate(**{_ALIVE: session_alive(self._session_id)})
        return annotated

    def result(self, user: Any = None) -> bool:
        if user is not None and _ALIVE in user.__dict__:
            return not user.__dict__.pop(_ALIVE)  # not left behind on request.user
        if user is None and self._prepared:
            return False  # no such user: the user check refuses the token
        return super().result(user)


class DatabaseBackend(RevocationBackend):
    """For deployments without a shared cache: the session row is the truth, read on
    every request. :class:`~django_token_sessions.authentication.SessionJWTAuthentication`
    adds the check to its user query as an ``EXISTS``, so it costs no query of its own.
    """

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """True unless the session row exists and is not revoked (one indexed lookup)."""
        return not DeviceSession.objects.filter(
            pk=token.session_id, revoked_at__isnull=True
        ).exists()

    def begin(self, token: SessionAccessToken) -> PendingCheck:
        """A check answered by the user query, if it is given the chance."""
        return _UserQueryCheck(self, token)
