"""DRF authentication: simplejwt's validation plus "the token's session is still alive"."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from .conf import app_settings, jwt_settings
from .exceptions import SessionRevoked, TokenSessionError, UserInactive, UserNotFound
from .models import LOOKUP_ERRORS, DeviceSession
from .revocation import (
    CacheRevocationStore,
    DatabaseRevocationStore,
    PendingCheck,
    get_revocation_store,
)
from .tokens import SessionAccessToken, decode_access

# The session the current request authenticated with, for receivers that have no request
# (the password-change trigger may keep it). Reset when each request starts.
_current_session: ContextVar[uuid.UUID | None] = ContextVar("token_sessions_current", default=None)
# Inside SessionJWTAuthentication.authenticate(): cache checks sent, not yet answered.
_pending_checks: ContextVar[list[tuple[PendingCheck, SessionAccessToken]] | None] = ContextVar(
    "token_sessions_pending_checks", default=None
)


def current_session_id() -> uuid.UUID | None:
    """The device session the current request authenticated with, if any."""
    return _current_session.get()


def reset_current_session(**kwargs: Any) -> None:
    """``request_started`` receiver: forget the previous request's session."""
    _current_session.set(None)


def _session_live(session_id: uuid.UUID) -> RawSQL:
    """``EXISTS (the session, of the user row being selected, not revoked)``, for the
    ``"db"`` check folded into the user query.

    Raw SQL rather than ``Exists(Subquery)``: the ORM compiles a subquery on every call,
    which cost more than the second query it saves (measured: ~200 µs per request).
    """
    alias = router.db_for_read(DeviceSession)
    connection = connections[alias]
    pk: Any = DeviceSession._meta.pk
    params = (pk.get_db_prep_value(session_id, connection),)
    # Only quoted identifiers from model metadata are in the SQL; the session id is a parameter.
    return RawSQL(_session_live_sql(alias), params, output_field=BooleanField())  # noqa: S611


_LIVE_SQL: dict[tuple[str, str], str] = {}


def _session_live_sql(alias: str) -> str:
    user_model = get_user_model()
    key = (alias, user_model._meta.label)
    sql = _LIVE_SQL.get(key)
    if sql is None:
        qn = connections[alias].ops.quote_name
        meta, user_meta = DeviceSession._meta, user_model._meta

        def column(field: Any) -> str:
            return qn(str(field.column))

        sql = (
            f"EXISTS (SELECT 1 FROM {qn(meta.db_table)}"  # noqa: S608
            f" WHERE {column(meta.pk)} = %s"
            f" AND {column(meta.get_field('user'))}"
            f" = {qn(user_meta.db_table)}.{column(user_meta.pk)}"
            f" AND {column(meta.get_field('revoked_at'))} IS NULL)"
        )
        _LIVE_SQL[key] = sql
    return sql


def _failed(error: TokenSessionError) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed({"detail": error.detail, "code": error.code})


def _verdict(is_revoked: Callable[[], bool], token: SessionAccessToken) -> None:
    """Raise the 401 for a revoked session (or an unusable cache, failing closed)."""
    try:
        revoked = is_revoked()
    except TokenSessionError as error:  # RevocationUnavailable, when failing closed
        raise _failed(error) from error
    if revoked:
        raise _failed(SessionRevoked())
    _current_session.set(token.session_id)


class SessionJWTAuthentication(JWTAuthentication):
    """Authenticate ``Authorization: Bearer <access>`` against a live device session.

    Refuses access tokens without a ``sid`` claim (plain simplejwt tokens), and tokens
    whose session has been revoked, on the very next request. ``request.auth`` is the
    validated :class:`~.tokens.SessionAccessToken`; its ``session_id`` names the device.

    With ``REVOCATION_CHECK = "db"`` the session check rides on the user query (one
    query per request, like plain simplejwt, instead of two).
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        """simplejwt's header parsing and checks; then the ``"db"`` check, if not yet done.

        In ``"cache"`` mode the check's read is sent by :meth:`get_validated_token` and
        its answer read by :meth:`get_user` after the user query, so the two round trips
        overlap instead of adding up.
        """
        pending: list[tuple[PendingCheck, SessionAccessToken]] = []
        context = _pending_checks.set(pending)
        try:
            result = super().authenticate(request)
            self._finish_revocation_check()  # in case an overriding get_user() did not
        finally:
            _pending_checks.reset(context)
            for check, _token in pending:  # an error came first: drop the unread answer
                check.cancel()
        if result is not None:
            token = result[1]
            if isinstance(token, SessionAccessToken) and token._session_check_pending:
                # get_user() was overridden and did not run the combined query: check
                # the session on its own rather than not at all.
                token._session_check_pending = False
                if DatabaseRevocationStore().is_revoked(token):
                    raise _failed(SessionRevoked())
        return result

    def get_validated_token(self, raw_token: bytes) -> SessionAccessToken:
        """Decode and verify the token, then ask the revocation store about its session."""
        try:
            token = decode_access(raw_token)
        except TokenSessionError as error:
            raise _failed(error) from error
        if app_settings.REVOCATION_CHECK == "db":
            # Checked by get_user()'s query (or, failing that, by authenticate()).
            token._session_check_pending = True
            _current_session.set(token.session_id)
            return token
        store = get_revocation_store()
        pending = _pending_checks.get()
        if pending is not None and isinstance(store, CacheRevocationStore):
            pending.append((store.begin(token), token))  # answered in get_user()
        else:
            _verdict(lambda: store.is_revoked(token), token)
        return token

    def _finish_revocation_check(self) -> None:
        pending = _pending_checks.get()
        while pending:
            check, token = pending.pop()
            _verdict(check.result, token)

    def get_user(self, validated_token: Any) -> Any:
        """Load the user named by the token; refuse deleted and inactive users."""
        api = jwt_settings()
        user_model = get_user_model()
        users = user_model._default_manager.all()
        check_session = getattr(validated_token, "_session_check_pending", False)
        if check_session:
            users = users.annotate(_token_session_live=_session_live(validated_token.session_id))
        try:
            user = users.get(**{api.USER_ID_FIELD: validated_token[api.USER_ID_CLAIM]})
        except (user_model.DoesNotExist, *LOOKUP_ERRORS) as exc:
            self._finish_revocation_check()  # a revoked session is the answer, as before
            raise _failed(UserNotFound()) from exc
        self._finish_revocation_check()
        if check_session:
            validated_token._session_check_pending = False
            live_flag = user.__dict__.pop("_token_session_live")
            if not live_flag:
                raise _failed(SessionRevoked())
        if api.CHECK_USER_IS_ACTIVE and not getattr(user, "is_active", True):
            raise _failed(UserInactive(str(_("User is inactive."))))
        return user
