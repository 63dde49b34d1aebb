"""The device session the current request authenticated with.

Set by :class:`~.authentication.SessionJWTAuthentication`, forgotten when the next request
starts, and read by code that has no request: the password-change receiver, which may
keep the session that changed the password.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any

_current_session: ContextVar[uuid.UUID | None] = ContextVar("token_sessions_current", default=None)


def current_session_id() -> uuid.UUID | None:
    """The device session the current request authenticated with, if any."""
    return _current_session.get()


def set_current_session(session_id: uuid.UUID | None) -> None:
    """Record the session the current request authenticated with."""
    _current_session.set(session_id)


def reset_current_session(**kwargs: Any) -> None:
    """``request_started`` receiver: forget the previous request's session."""
    _current_session.set(None)
