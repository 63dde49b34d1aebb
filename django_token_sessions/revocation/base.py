"""The protocol of a revocation backend, and how long a revocation must be remembered."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from ..conf import access_token_lifetime, jwt_settings
from ..tokens import SessionAccessToken


def marker_lifetime() -> int:
    """Seconds a revocation must be remembered: the longest an access token issued before
    it can still be presented (its lifetime plus simplejwt's leeway), and one more."""
    leeway = jwt_settings().LEEWAY or 0
    if isinstance(leeway, timedelta):
        leeway = leeway.total_seconds()
    return int(access_token_lifetime().total_seconds() + float(leeway)) + 1


class PendingCheck:
    """A revocation check under way, begun by :meth:`RevocationBackend.begin`.

    The authentication class begins the check before it loads the user, lets it
    :meth:`prepare_user_query` (a backend that can answer from the user query adds to
    it), loads the user, and asks for the :meth:`result`. If it fails for another reason
    first, it calls :meth:`cancel`. Exactly one of :meth:`result` and :meth:`cancel` is
    called, once.

    This class answers with a callable when asked; backends subclass it to do more.
    """

    def __init__(self, answer: Callable[[], bool]) -> None:
        self._answer = answer

    def prepare_user_query(self, users: QuerySet[Any]) -> QuerySet[Any]:
        """The user query, with whatever this check reads from it (by default nothing)."""
        return users

    def result(self, user: Any = None) -> bool:
        """True if the token's session is revoked and the token must be refused.

        ``user`` is the row the user query returned (None if it found none). May raise
        :class:`~django_token_sessions.exceptions.RevocationUnavailable` to refuse the
        request when the backend cannot answer and is configured to fail closed.
        """
        return self._answer()

    def cancel(self) -> None:
        """Give up the answer and free what the check holds (by default nothing)."""


class RevocationBackend:
    """Where revocations are recorded for the access-token check, and how it is asked.

    Named by a dotted path in ``TOKEN_SESSIONS["REVOCATION_BACKEND"]``; one instance per
    process (:func:`~django_token_sessions.revocation.get_revocation_backend`), created
    again when ``TOKEN_SESSIONS`` or ``CACHES`` changes. Subclasses implement
    :meth:`is_revoked` and the two notifications; the database already holds every
    revocation when they are called (after the revoking transaction commits), so a
    backend is a faster way to read what the database says, never the only record.

    State a backend keeps between requests (rate limits, rebuild gates, a suspicion that
    a write was lost) lives on the instance; :meth:`reset` forgets it.
    """

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """True if the token's session has ended and the token must be refused."""
        raise NotImplementedError

    def begin(self, token: SessionAccessToken) -> PendingCheck:
        """Start checking ``token``; the authentication class reads the answer from the
        returned check after its user query. By default the check runs when asked."""
        return PendingCheck(lambda: self.is_revoked(token))

    def sessions_revoked(self, session_ids: Iterable[UUID]) -> None:
        """Called after a transaction that revoked (or deleted) these sessions committed."""

    def user_revoked(self, user_claim: Any, before_ms: int, keep_session_id: Any) -> None:
        """Called after a transaction ended every session of a user (but
        ``keep_session_id``) committed: refuse the user's access tokens issued before
        ``before_ms`` (epoch milliseconds), except those of ``keep_session_id``."""

    def reset(self) -> None:
        """Forget what this instance learned between requests (for tests)."""


class NoRevocationBackend(RevocationBackend):
    """No check: access tokens live until they expire, as plain stateless JWTs do.

    Logout and revocation still end sessions (their refresh tokens are refused), but an
    access token already issued stays usable for its lifetime. The system check
    ``token_sessions.W001`` says so at startup.
    """

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """Never revoked."""
        return False
