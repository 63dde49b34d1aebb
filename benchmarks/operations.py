"""The operations table: our endpoints and services next to plain simplejwt's.

Every row goes through the real view (``APIRequestFactory`` → ``View.as_view()``, response
rendered) or, for logout-everywhere, the real service function. What an operation consumes
(a refresh token, a set of live sessions) is made in ``make_batch``, before the clock starts.
simplejwt runs with ``ROTATE_REFRESH_TOKENS`` and ``BLACKLIST_AFTER_ROTATION`` and its
``token_blacklist`` app installed: the configuration that gives it rotation and a logout.
Imported after Django is configured.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from django_token_sessions import services
from django_token_sessions.models import DeviceSession
from django_token_sessions.views import LoginView, RefreshView, SessionListView

from .cases import Batch, BenchmarkError, Case
from .environment import REVOCATION_CACHE

PASSWORD = "bench-password"
LIST_SESSIONS = 50
#: Sessions per logout-everywhere row, and the rounds it is measured in (1 in ``every``;
#: ``None``: in 2 rounds of the run, the first and the middle one). simplejwt's loop takes
#: ~1.5 s per 1,000 tokens on SQLite (a commit per get_or_create), so one 10,000-token
#: operation is ~15 s: measured twice, counted once, never sanity-checked (the counting
#: pass checks it), and left out of --quick for simplejwt.
LOGOUT_SIZES_QUICK = ((10, 1), (1_000, 5), (10_000, None))
LOGOUT_SIZES = ((10, 1), (1_000, 20), (10_000, None))
#: Above this, simplejwt's logout-everywhere is skipped with --quick.
QUICK_SJ_LOGOUT_MAX = 1_000

_login_view = LoginView.as_view()
_refresh_view = RefreshView.as_view()
_list_view = SessionListView.as_view()
_sj_login_view = TokenObtainPairView.as_view()
_sj_refresh_view = TokenRefreshView.as_view()


def _ours(redis_ok: bool) -> dict[str, Any]:
    # Login throttling (10/min by default) would refuse the benchmark: off, as for simplejwt.
    return {
        "REVOCATION_BACKEND": (
            "django_token_sessions.revocation.redis.RedisBackend"
            if redis_ok
            else "django_token_sessions.revocation.db.DatabaseBackend"
        ),
        "REVOCATION_CACHE": REVOCATION_CACHE,
        "LOGIN_THROTTLE_RATE": None,
        "LOGIN_USERNAME_THROTTLE_RATE": None,
    }


def _call(view: Callable[..., Any], request: Any, expected: int = 200) -> Any:
    response = view(request)
    response.render()
    if response.status_code != expected:
        raise BenchmarkError(f"status {response.status_code}: {response.content[:200]!r}")
    return response


def _requests_batch(
    view: Callable[..., Any], make_requests: Callable[[int], list[Any]]
) -> Callable[[int], Batch]:
    def make(n: int) -> Batch:
        requests = make_requests(n)

        def run() -> None:
            for request in requests:
                _call(view, request)

        return run

    return make


def _user(name: str) -> Any:
    return get_user_model().objects.create_user(name, password=PASSWORD)


def _reset_sessions(user: Any, count: int) -> None:
    """``count`` live device sessions for ``user`` (and none other), in bulk."""
    # A raw DELETE: Django's delete() would load 10,000 rows to look for cascades (none
    # here: nothing in the benchmark points at these sessions).
    DeviceSession.objects.filter(user=user)._raw_delete(DeviceSession.objects.db)
    now = timezone.now()
    DeviceSession.objects.bulk_create(
        DeviceSession(
            user=user,
            refresh_jti=uuid.uuid4().hex,
            created_at=now,
            last_seen_at=now,
            idle_expires_at=now + timedelta(days=1),
            absolute_expires_at=now + timedelta(days=30),
            device_label="Firefox on Linux",
        )
        for _ in range(count)
    )


def _reset_outstanding(user: Any, count: int, token_text: str) -> None:
    """``count`` outstanding (not blacklisted) simplejwt refresh tokens for ``user``."""
    BlacklistedToken.objects.filter(token__user=user)._raw_delete(BlacklistedToken.objects.db)
    OutstandingToken.objects.filter(user=user)._raw_delete(OutstandingToken.objects.db)
    now = timezone.now()
    OutstandingToken.objects.bulk_create(
        OutstandingToken(
            user=user,
            jti=uuid.uuid4().hex,
            token=token_text,
            created_at=now,
            expires_at=now + timedelta(days=1),
        )
        for _ in range(count)
    )


def simplejwt_logout_everywhere(user: Any) -> int:
    """What a hand-written logout-all does with simplejwt's blacklist app."""
    done = 0
    for token in OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True):
        BlacklistedToken.objects.get_or_create(token=token)
        done += 1
    return done


def _logout_batch(reset: Callable[[], None], logout: Callable[[], int], size: int):
    def make(n: int) -> Batch:
        reset()  # one operation per batch (max_batch=1): the set-up is not timed

        def run() -> None:
            done = logout()
            if done != size:
                raise BenchmarkError(f"logout-everywhere ended {done} of {size} sessions")

        return run

    return make


def build_operation_cases(redis_ok: bool, quick: bool, rounds: int) -> list[Case]:
    """The rows of the operations table, ours first in each pair."""
    factory = APIRequestFactory()
    ours = _ours(redis_ok)
    cases: list[Case] = []

    # 1. Login.
    login_user = _user("bench-login")
    credentials = {"username": login_user.username, "password": PASSWORD}

    def login_requests(n: int) -> list[Any]:
        return [
            factory.post("/login/", credentials, format="json", HTTP_X_TOKEN_TRANSPORT="body")
            for _ in range(n)
        ]

    def sj_login_requests(n: int) -> list[Any]:
        return [factory.post("/token/", credentials, format="json") for _ in range(n)]

    cases += [
        Case(
            "op-login",
            "login: ours LoginView (body transport)",
            "ops",
            _requests_batch(_login_view, login_requests),
            token_sessions=ours,
            uses_redis=redis_ok,
            versus="op-login-sj",
        ),
        Case(
            "op-login-sj",
            "login: simplejwt TokenObtainPairView",
            "ops",
            _requests_batch(_sj_login_view, sj_login_requests),
        ),
    ]

    # 2. Refresh with rotation: a pool of fresh refresh tokens minted per batch, untimed.
    refresh_user = _user("bench-refresh")

    def refresh_requests(n: int) -> list[Any]:
        tokens = [services.create_session(refresh_user).tokens.refresh for _ in range(n)]
        return [factory.post("/refresh/", {"refresh": t}, format="json") for t in tokens]

    def sj_refresh_requests(n: int) -> list[Any]:
        tokens = [str(RefreshToken.for_user(refresh_user)) for _ in range(n)]
        return [factory.post("/token/refresh/", {"refresh": t}, format="json") for t in tokens]

    cases += [
        Case(
            "op-refresh",
            "refresh + rotation: ours RefreshView",
            "ops",
            _requests_batch(_refresh_view, refresh_requests),
            token_sessions=ours,
            uses_redis=redis_ok,
            versus="op-refresh-sj",
        ),
        Case(
            "op-refresh-sj",
            "refresh + rotation: simplejwt TokenRefreshView (blacklist)",
            "ops",
            _requests_batch(_sj_refresh_view, sj_refresh_requests),
        ),
    ]

    # 3. Logout everywhere, one operation per batch; sessions re-created before each. It is
    # the service on both sides (simplejwt has no logout-all view).
    token_text = str(RefreshToken.for_user(refresh_user))
    for size, every in LOGOUT_SIZES_QUICK if quick else LOGOUT_SIZES:
        if every is None:  # rounds 0 and rounds/2: 2 samples (quick: 1)
            every = rounds if quick else max(1, -(-rounds // 2))
        user = _user(f"bench-logout-{size}")
        measured = -(-rounds // every)
        shown = "" if every == 1 else f", {measured} round{'s' if measured > 1 else ''}"
        slow = size > QUICK_SJ_LOGOUT_MAX
        cases += [
            Case(
                f"op-logout-{size}",
                f"logout everywhere, {size:,} sessions: ours (service){shown}",
                "ops",
                _logout_batch(
                    lambda u=user, s=size: _reset_sessions(u, s),
                    lambda u=user: services.logout_everywhere(u),
                    size,
                ),
                token_sessions=ours,
                uses_redis=redis_ok,
                versus=f"op-logout-{size}-sj",
                max_batch=1,
                every=every,
                count_ops=1,
                sanity=size < QUICK_SJ_LOGOUT_MAX,
            ),
            Case(
                f"op-logout-{size}-sj",
                f"logout everywhere, {size:,} tokens: simplejwt blacklist loop{shown}",
                "ops",
                _logout_batch(
                    lambda u=user, s=size: _reset_outstanding(u, s, token_text),
                    lambda u=user: simplejwt_logout_everywhere(u),
                    size,
                ),
                max_batch=1,
                every=every,
                count_ops=1,
                sanity=size < QUICK_SJ_LOGOUT_MAX,  # >= 1,000: the counting pass checks it
                skipped="skipped: --quick (one operation takes ~15 s)" if quick and slow else "",
            ),
        ]

    # 4. Session list: no simplejwt counterpart. 1 and 50 sessions: the same statements.
    for size in (1, LIST_SESSIONS):
        list_user = _user(f"bench-list-{size}")
        access = services.create_session(list_user).tokens.access
        for _ in range(size - 1):
            services.create_session(list_user)

        def list_requests(n: int, access: str = access) -> list[Any]:
            return [
                factory.get("/sessions/", HTTP_AUTHORIZATION=f"Bearer {access}") for _ in range(n)
            ]

        cases.append(
            Case(
                f"op-sessions-{size}",
                f"GET sessions/, {size} session{'s' if size > 1 else ''}: ours",
                "ops",
                _requests_batch(_list_view, list_requests),
                token_sessions=ours,
                uses_redis=redis_ok,
            )
        )

    cases += _service_cases(ours, redis_ok, refresh_user)
    return cases


def _service_cases(ours: dict[str, Any], redis_ok: bool, user: Any) -> list[Case]:
    """Login and refresh through the service layer, without DRF: what another framework's
    view (plain Django, django-ninja) would call."""

    def login_batch(n: int) -> Batch:
        def run() -> None:
            for _ in range(n):
                services.create_session(user)

        return run

    def sj_login_batch(n: int) -> Batch:
        # What TokenObtainPairSerializer does after authenticate(): a pair for the user
        # (for_user also writes the OutstandingToken row, the blacklist app being installed).
        def run() -> None:
            for _ in range(n):
                refresh = RefreshToken.for_user(user)
                str(refresh.access_token)
                str(refresh)

        return run

    def refresh_batch(n: int) -> Batch:
        tokens = [services.create_session(user).tokens.refresh for _ in range(n)]

        def run() -> None:
            for token in tokens:
                services.rotate_refresh_token(token)

        return run

    def sj_refresh_batch(n: int) -> Batch:
        tokens = [str(RefreshToken.for_user(user)) for _ in range(n)]

        def run() -> None:
            for token in tokens:
                serializer = TokenRefreshSerializer(data={"refresh": token})
                if not serializer.is_valid():
                    raise BenchmarkError(f"simplejwt refused a refresh: {serializer.errors}")
                if "refresh" not in serializer.validated_data:
                    raise BenchmarkError("simplejwt did not rotate")

        return run

    return [
        Case(
            "svc-login",
            "login (service): ours create_session()",
            "ops",
            login_batch,
            token_sessions=ours,
            uses_redis=redis_ok,
            versus="svc-login-sj",
        ),
        Case(
            "svc-login-sj",
            "login (service): simplejwt RefreshToken.for_user()",
            "ops",
            sj_login_batch,
        ),
        Case(
            "svc-refresh",
            "refresh + rotation (service): ours rotate_refresh_token()",
            "ops",
            refresh_batch,
            token_sessions=ours,
            uses_redis=redis_ok,
            versus="svc-refresh-sj",
        ),
        Case(
            "svc-refresh-sj",
            "refresh + rotation (service): simplejwt TokenRefreshSerializer",
            "ops",
            sj_refresh_batch,
        ),
    ]
