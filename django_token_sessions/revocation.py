"""Whether an access token's session is still alive.

The authentication class asks :func:`get_revocation_store` on every request, and the
services tell it about revocations after they commit. This release checks the
database (one indexed primary-key query); the interface leaves room for a cache-backed
store that answers without a query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol
from uuid import UUID

from .models import DeviceSession
from .tokens import SessionAccessToken


class RevocationStore(Protocol):
    """What the authentication class and the services need from a revocation store."""

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """True if the token's session has ended and the token must be refused."""

    def sessions_revoked(self, session_ids: Iterable[UUID], user_id: Any) -> None:
        """Called after a transaction that revoked these sessions committed."""


class DatabaseRevocationStore:
    """Strict store: one primary-key query per check, nothing to do on revoke."""

    def is_revoked(self, token: SessionAccessToken) -> bool:
        """True unless the session row exists and is not revoked."""
        return not DeviceSession.objects.filter(
            pk=token.session_id, revoked_at__isnull=True
        ).exists()

    def sessions_revoked(self, session_ids: Iterable[UUID], user_id: Any) -> None:
        """Nothing to do: the database row is the truth."""


_database_store = DatabaseRevocationStore()


def get_revocation_store() -> RevocationStore:
    """The store in use for this process."""
    return _database_store
