"""The only code that creates, rotates and ends device sessions.

No HTTP here: a DRF view, a plain Django view or a django-ninja endpoint calls these
functions and maps :mod:`.exceptions` to responses, and gets identical behaviour.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.db import transaction
from django.db.models.manager import BaseManager
from django.dispatch import Signal
from django.utils import timezone
from rest_framework_simplejwt.authentication import default_user_authentication_rule

from . import signals
from .conf import app_settings, jwt_settings, refresh_token_lifetime
from .device import ClientInfo
from .exceptions import (
    SessionExpired,
    SessionNotFound,
    SessionRevoked,
    TokenInvalid,
    TokenReused,
    UserInactive,
    UserNotFound,
)
from .models import LOOKUP_ERRORS, DeviceSession, RevocationRecord, RevokeReason, model_has_field
from .revocation import get_revocation_backend
from .storage import UserCondition, swap_refresh_jti
from .tokens import SessionRefreshToken, TokenPair, decode_refresh, mint_pair, new_jti

logger = logging.getLogger("django_token_sessions")

__all__ = [
    "IssuedSession",
    "create_session",
    "logout",
    "logout_everywhere",
    "register_refresh_token_exchange",
    "rename_session",
    "retry_key_digest",
    "revoke_session",
    "revoke_sessions",
    "rotate_refresh_token",
    "unregister_refresh_token_exchange",
    "user_deleted",
    "user_for_claim",
    "user_id_changed",
    "user_may_authenticate",
]


@dataclass(frozen=True)
class IssuedSession:
    """What login and rotation hand back: the session id, its user and a token pair."""

    session_id: uuid.UUID
    user_id: Any
    tokens: TokenPair
    session: DeviceSession | None = None


def _send(signal: Signal, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits (at once in autocommit)."""

    def send() -> None:
        # A failing receiver (say, an alert e-mail) must not turn a done logout into a 500.
        for receiver, result in signal.send_robust(sender=DeviceSession, **kwargs):
            if isinstance(result, Exception):
                logger.error("token_sessions: signal receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)


def _notify_revoked(session_ids: Iterable[uuid.UUID], reason: str) -> None:
    ids = list(session_ids)
    if not ids:
        return
    # After commit: a rolled-back revocation must not leave a live session locked out.
    transaction.on_commit(lambda: get_revocation_backend().sessions_revoked(ids))
    _send(signals.session_revoked, session_ids=ids, reason=reason)


def create_session(user: Any, *, client: ClientInfo | None = None, name: str = "") -> IssuedSession:
    """Start a device session for an already authenticated ``user`` and mint its tokens.

    With ``MAX_SESSIONS_PER_USER`` set, the user's oldest active sessions are revoked
    (reason ``session_limit``) so the new login always succeeds.
    """
    client = client or ClientInfo()
    now = timezone.now()
    absolute = now + app_settings.SESSION_ABSOLUTE_LIFETIME
    jti = new_jti()
    cap = app_settings.MAX_SESSIONS_PER_USER
    evict: list[uuid.UUID] = []
    update_login = jwt_settings().UPDATE_LAST_LOGIN
    # One INSERT needs no transaction of its own (BEGIN and COMMIT would double a login's
    # statements); the session cap and last_login make it several writes, which must agree.
    with transaction.atomic() if cap or update_login else contextlib.nullcontext():
        if cap:
            evict = list(
                DeviceSession.objects.for_user(user)
                .active(now)
                .order_by("-created_at")
                .values_list("pk", flat=True)[cap - 1 :]
            )
            if evict:
                DeviceSession.objects.filter(pk__in=evict).revoke(RevokeReason.SESSION_LIMIT, now)
        session = DeviceSession.objects.create(
            user=user,
            refresh_jti=jti,
            created_at=now,
            last_seen_at=now,
            idle_expires_at=min(now + refresh_token_lifetime(), absolute),
            absolute_expires_at=absolute,
            ip_address=client.ip_address,
            user_agent=client.user_agent,
            device_label=client.label,
            name=name[:100],
        )
        if update_login:
            update_last_login(type(user), user)
    _notify_revoked(evict, RevokeReason.SESSION_LIMIT)
    _send(signals.session_created, session=session, user=user)
    tokens = mint_pair(
        user_id=getattr(user, jwt_settings().USER_ID_FIELD),
        session_id=session.pk,
        jti=jti,
        now=now,
        absolute_expires_at=absolute,
    )
    return IssuedSession(session.pk, user.pk, tokens, session)


def _uses_default_user_rule() -> bool:
    return jwt_settings().USER_AUTHENTICATION_RULE is default_user_authentication_rule


def user_for_claim(user_id: Any) -> Any:
    """The user a token's user id claim names (``SIMPLE_JWT["USER_ID_FIELD"]``), or None
    if there is none, or the claim cannot name one (a value of the wrong shape)."""
    user_model = get_user_model()
    try:
        return user_model._default_manager.get(**{jwt_settings().USER_ID_FIELD: user_id})
    except (user_model.DoesNotExist, *LOOKUP_ERRORS):
        return None


def _is_users_session(session: DeviceSession, token: SessionRefreshToken) -> bool:
    """True if the token's user claim names the session's user."""
    return str(getattr(session.user, jwt_settings().USER_ID_FIELD)) == str(token.user_id)


def user_may_authenticate(user: Any) -> bool:
    """``SIMPLE_JWT["USER_AUTHENTICATION_RULE"]`` for ``user`` (by default: is active)."""
    return bool(jwt_settings().USER_AUTHENTICATION_RULE(user))


#: A refresh-token exchange: given a refresh token that carries no session (no ``sid``
#: claim), a new session for it, or None if the token is not one this exchange adopts.
RefreshTokenExchange = Callable[..., "IssuedSession | None"]

_exchanges: list[RefreshTokenExchange] = []


def register_refresh_token_exchange(exchange: RefreshTokenExchange) -> None:
    """Let ``exchange`` adopt refresh tokens that :func:`rotate_refresh_token` refuses for
    having no session id: it is called as ``exchange(raw_token, client=client)`` and
    returns an :class:`IssuedSession` for a token it adopts, None for any other (which is
    then refused as ``token_invalid``). It may raise a
    :class:`~.exceptions.TokenSessionError` of its own. Registering twice is a no-op.

    The extension point of ``django_token_sessions.contrib.legacy``, which registers its
    exchange of plain simplejwt tokens from its ``AppConfig.ready()``. Without a
    registered exchange the refresh path has no code of it.
    """
    if exchange not in _exchanges:
        _exchanges.append(exchange)


def unregister_refresh_token_exchange(exchange: RefreshTokenExchange) -> None:
    """Undo :func:`register_refresh_token_exchange` (a no-op if not registered)."""
    if exchange in _exchanges:
        _exchanges.remove(exchange)


def retry_key_digest(retry_key: str | None) -> str:
    """What a session row keeps of a refresh's retry key: its SHA-256, hex ("" for none)."""
    if not retry_key:
        return ""
    return hashlib.sha256(retry_key.encode("ascii")).hexdigest()


def rotate_refresh_token(
    raw_token: Any, *, client: ClientInfo | None = None, retry_key: str | None = None
) -> IssuedSession:
    """Exchange a refresh token for a new pair, invalidating the old one.

    The swap is a single conditional UPDATE (compare-and-swap on the current JTI), so of
    any number of concurrent callers exactly one rotates. The others, and a second tab
    presenting the token just replaced, get a pair for the session's *current* JTI if the
    rotation happened inside ``ROTATION_GRACE_PERIOD``: they converge on one token
    instead of forking the chain. Any other JTI of the session is a replayed token: the
    session is revoked and :class:`~.exceptions.TokenReused` raised.

    ``retry_key`` (the request's ``Idempotency-Key``, checked by the caller: see
    :func:`~.transport.retry_key`) makes a lost response recoverable after the grace
    window: the rotation records its digest, and the token it replaced, presented again
    with the same key while the session's current token has not been rotated since, gets
    the current pair back. Without the key, or with another one, that is a replay.

    A token without a session id goes to the exchanges registered with
    :func:`register_refresh_token_exchange`, if any.

    Raises a :class:`~.exceptions.TokenSessionError` subclass for every refusal.
    """
    try:
        token = decode_refresh(raw_token)
    except TokenInvalid:
        for exchange in _exchanges:
            issued = exchange(raw_token, client=client)
            if issued is not None:
                return issued
        raise
    return _rotate(token, client, retry_key_digest(retry_key), retry=True)


def _rotate(
    token: SessionRefreshToken, client: ClientInfo | None, key_digest: str, *, retry: bool
) -> IssuedSession:
    now = timezone.now()
    api = jwt_settings()
    if _user_rule_fits_in_the_swap():
        # The user is matched by the token's claim inside the UPDATE: a signed token whose
        # sid points at someone else's session never rotates it.
        owner = UserCondition(
            user_claim=token.user_id,
            id_field=api.USER_ID_FIELD,
            require_active=api.CHECK_USER_IS_ACTIVE
            and model_has_field(get_user_model(), "is_active"),
        )
    else:
        user = user_for_claim(token.user_id)
        if user is None:
            raise UserNotFound()
        if not user_may_authenticate(user):
            raise UserInactive()
        owner = UserCondition(user_pk=user.pk)
    jti = new_jti()
    try:
        swapped = swap_refresh_jti(
            token.session_id,
            token.jti,
            user=owner,
            values={
                "refresh_jti": jti,
                "previous_jti": token.jti,
                "rotated_at": now,
                "last_seen_at": now,
                "idle_expires_at": min(now + refresh_token_lifetime(), token.session_expires_at),
                "rotation_key": key_digest,
                **({} if client is None else {"ip_address": client.ip_address}),
            },
            now=now,
        )
    except LOOKUP_ERRORS as exc:  # a user claim of the wrong shape for the user table
        raise TokenInvalid() from exc
    if swapped:
        _send(signals.session_rotated, session_id=token.session_id, user_id=token.user_id)
        tokens = mint_pair(
            user_id=token.user_id,
            session_id=token.session_id,
            jti=jti,
            now=now,
            absolute_expires_at=token.session_expires_at,
        )
        return IssuedSession(token.session_id, token.user_id, tokens)
    return _grace_or_refuse(token, now, client, key_digest, retry=retry)


def _user_rule_fits_in_the_swap() -> bool:
    """True if the user rule can be checked inside the rotation UPDATE: simplejwt's default
    rule ("exists and is active"), and a default user manager that filters nothing (else
    its own query decides which users exist)."""
    manager = type(get_user_model()._default_manager)
    return _uses_default_user_rule() and manager.get_queryset is BaseManager.get_queryset


def _replaced_within_grace(session: DeviceSession, jti: str, now: datetime) -> bool:
    """True if ``jti`` is the token the session's last rotation replaced, inside
    ``ROTATION_GRACE_PERIOD``."""
    grace = app_settings.ROTATION_GRACE_PERIOD
    return (
        jti == session.previous_jti
        and session.rotated_at is not None
        and grace.total_seconds() > 0
        and now - session.rotated_at <= grace
    )


def _retried_with_its_key(session: DeviceSession, jti: str, key_digest: str) -> bool:
    """True if ``jti`` is the token the session's last rotation replaced and the request
    carries the retry key that rotation was made with: its response was lost."""
    return bool(key_digest) and jti == session.previous_jti and session.rotation_key == key_digest


def _grace_or_refuse(
    token: SessionRefreshToken,
    now: datetime,
    client: ClientInfo | None,
    key_digest: str,
    *,
    retry: bool,
) -> IssuedSession:
    """After a swap that matched no row: the session's current pair again for a token
    replaced inside the grace window, or retried with the key of the rotation that
    replaced it; otherwise the refusal that explains why (a replay revokes the session)."""
    session = DeviceSession.objects.select_related("user").filter(pk=token.session_id).first()
    if session is None:
        if user_for_claim(token.user_id) is None:
            raise UserNotFound()
        raise SessionNotFound()
    if not _is_users_session(session, token):
        raise TokenInvalid()
    if session.revoked_at is not None:
        raise SessionRevoked()
    if not session.is_active(now):
        raise SessionExpired()
    if not user_may_authenticate(session.user):
        raise UserInactive()

    if _replaced_within_grace(session, token.jti, now) or _retried_with_its_key(
        session, token.jti, key_digest
    ):
        # Two tabs refreshed with the same token, or a client retries a refresh whose
        # response it never got: hand out the session's current JTI again. Both end up
        # holding the one valid token, so no second chain is born. The grace window is
        # short so a thief cannot rely on it; past it, only the retry key, which the
        # client holds only while its refresh is in flight, opens this door.
        tokens = mint_pair(
            user_id=token.user_id,
            session_id=session.pk,
            jti=session.refresh_jti,
            now=now,
            absolute_expires_at=session.absolute_expires_at,
        )
        return IssuedSession(session.pk, token.user_id, tokens)

    if token.jti == session.refresh_jti:
        # The row changed between our UPDATE and this read (a boundary of an expiry, a
        # revoke rolled back): it is current and live now, so try the swap once more.
        if retry:
            return _rotate(token, client, key_digest, retry=False)
        raise SessionExpired()

    # A token that is neither current nor just replaced was rotated earlier: someone is
    # replaying it. Treat the whole session as compromised.
    if _revoke_for_reuse(session.pk, token, now):
        raise TokenReused()
    raise SessionRevoked()


def _revoke_for_reuse(session_id: uuid.UUID, token: SessionRefreshToken, now: datetime) -> bool:
    revoked = revoke_sessions(
        DeviceSession.objects.filter(pk=session_id), RevokeReason.REUSE_DETECTED, now=now
    )
    if revoked:
        _send(
            signals.refresh_token_reused,
            session_id=session_id,
            user_id=token.user_id,
            jti=token.jti,
        )
    return bool(revoked)


def revoke_sessions(sessions: Any, reason: str, *, now: datetime | None = None) -> int:
    """Revoke every not-yet-revoked session of a queryset with one UPDATE.

    Returns how many were revoked by this call. Revocation listeners (the access-token
    check) are told after the transaction commits.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(sessions.filter(revoked_at__isnull=True).values_list("pk", flat=True))
        if not ids:
            return 0
        count: int = DeviceSession.objects.filter(pk__in=ids, revoked_at__isnull=True).revoke(
            reason, now
        )
    _notify_revoked(ids, reason)
    return count


def revoke_session(session_id: uuid.UUID | str, *, reason: str, user: Any = None) -> bool:
    """Revoke one session, optionally only if it belongs to ``user``.

    Returns False if there was no such live session (already revoked, or another user's).
    """
    sessions = DeviceSession.objects.filter(pk=session_id)
    if user is not None:
        sessions = sessions.for_user(user)
    return revoke_sessions(sessions, reason) == 1


def logout(raw_refresh: Any) -> bool:
    """End the session a refresh token belongs to (reason ``logout``).

    A token that is current, or just replaced inside the grace window, ends its
    session. An older token of the session is a replay: the session is revoked as
    ``reuse_detected`` and :class:`~.exceptions.TokenReused` raised. Returns False if the
    session had already ended.
    """
    token = decode_refresh(raw_refresh)
    now = timezone.now()
    session = DeviceSession.objects.select_related("user").filter(pk=token.session_id).first()
    if session is None or not session.is_active(now):
        return False
    if not _is_users_session(session, token):
        # A token naming another user's session must not end it, nor revoke it as a replay.
        raise TokenInvalid()
    if token.jti == session.refresh_jti or _replaced_within_grace(session, token.jti, now):
        return revoke_session(session.pk, reason=RevokeReason.LOGOUT)
    if _revoke_for_reuse(session.pk, token, now):
        raise TokenReused()
    return False


def _mark_user_revoked(user: Any, keep_session_id: Any = None) -> None:
    """After commit, refuse every access token of ``user`` minted until then (but those of
    ``keep_session_id``): one "not before" marker by the token's user claim."""
    user_claim = getattr(user, jwt_settings().USER_ID_FIELD)

    def mark() -> None:
        # Taken at commit, after the UPDATE: every token minted before it (iat_ms is set
        # before a session's row is written or swapped) is older than the marker.
        before_ms = int(time.time() * 1000)
        get_revocation_backend().user_revoked(user_claim, before_ms, keep_session_id)

    transaction.on_commit(mark)


def user_deleted(user: Any, *, using: str | None = None) -> None:
    """Refuse the access tokens of a deleted user, at once and after a cache loss.

    The database cascade deletes the user's sessions without revoking them, and the
    user's id claim (a username, say) may be taken by someone else next: the user marker
    keeps the old tokens from authenticating the newcomer. With no session row left to
    rebuild that marker from, a :class:`~.models.RevocationRecord` is written in the
    deleting transaction (``using``: its database). Called by a ``post_delete`` receiver;
    nothing to call from your code.
    """
    # Taken after the cascade's DELETE, inside its transaction: a token of the user is
    # minted before its session row is written or swapped, and no row of this user can be
    # written or swapped any more.
    _record_claim_revoked(getattr(user, jwt_settings().USER_ID_FIELD), using=using)


def user_id_changed(user: Any, old_claim: Any, *, using: str | None = None) -> int:
    """End every session of ``user``, whose user id claim (``SIMPLE_JWT["USER_ID_FIELD"]``:
    a username, an e-mail address) was ``old_claim`` until this save.

    Every token of the user carries the old claim, which the next holder of that name
    would answer to: in cache mode the check reads markers by claim and never ties the
    session to the user the claim now names. So all the user's sessions are revoked
    (reason ``user_id_changed``; none is kept, the current one's tokens name the old
    claim too), and a "not before" marker is written under the old claim, with a
    :class:`~.models.RevocationRecord` that a rebuild of the cache writes it again from.
    Called by a ``post_save`` receiver; nothing to call from your code unless you change
    the field with ``QuerySet.update()``. Returns the number of sessions revoked.
    """
    count = logout_everywhere(user, reason=RevokeReason.USER_ID_CHANGED)
    # Taken after the UPDATE of the user row, inside its transaction, as for a deletion.
    # (A login that read the old row just before can still mint a token under the old
    # claim just after: the race of any logout everywhere with a login. That token lives
    # one access-token lifetime at most: its refresh is refused, the rotation checks the
    # claim against the session's user.)
    _record_claim_revoked(old_claim, using=using)
    return count


def _record_claim_revoked(user_claim: Any, *, using: str | None) -> None:
    """In the current transaction, a record refusing every token of ``user_claim`` minted
    until now, and its "not before" marker once it commits.

    The record and the live marker carry the same time, so a rebuild of the cache writes
    back exactly what the live write wrote.
    """
    before_ms = int(time.time() * 1000)
    RevocationRecord.objects.using(using).create(
        user_claim=str(user_claim), not_before_ms=before_ms
    )
    transaction.on_commit(
        lambda: get_revocation_backend().user_revoked(user_claim, before_ms, None), using=using
    )


def logout_everywhere(
    user: Any, *, reason: str = RevokeReason.LOGOUT_ALL, keep_session_id: Any = None
) -> int:
    """Revoke all of ``user``'s live sessions, except ``keep_session_id`` if given.

    One UPDATE and, after commit, one "not before" marker for the user, however many
    sessions there are. Returns the number of sessions revoked.
    """
    if not hasattr(user, "_meta"):
        user = get_user_model()._default_manager.get(pk=user)
    sessions = DeviceSession.objects.for_user(user).filter(revoked_at__isnull=True)
    if keep_session_id is not None:
        sessions = sessions.exclude(pk=keep_session_id)
    count: int = sessions.revoke(reason)
    _mark_user_revoked(user, keep_session_id)
    if count:
        _send(
            signals.user_logged_out_everywhere,
            user=user,
            reason=reason,
            count=count,
            kept_session_id=keep_session_id,
        )
    return count


def rename_session(user: Any, session_id: uuid.UUID | str, name: str) -> DeviceSession | None:
    """Set the user's own name for one of their live devices; ``""`` restores the label.

    Returns the session, or None if ``user`` has no such live session.
    """
    session = DeviceSession.objects.for_user(user).active().filter(pk=session_id).first()
    if session is None:
        return None
    session.name = name.strip()[:100]
    session.save(update_fields=["name"])
    return session
