"""What is measured: one ``Case`` per table row.

Request cases send ``GET`` with ``Authorization: Bearer <token>`` through a real DRF
``APIView`` (``IsAuthenticated``, JSON renderer, response rendered), built by
``APIRequestFactory`` before the clock starts; only ``authentication_classes`` differ. Raw
cases call one function in a loop. Imported after Django is configured.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.test import override_settings
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import (
    JWTAuthentication,
    JWTStatelessUserAuthentication,
)
from rest_framework_simplejwt.tokens import AccessToken

from django_token_sessions import services
from django_token_sessions.authentication import SessionJWTAuthentication
from django_token_sessions.revocation import get_revocation_backend
from django_token_sessions.tokens import decode_access

from .environment import REVOCATION_CACHE, SIGNING_KEY

PATH = "/bench/"
EXPECTED_BODY = b'{"ok":true}'

#: A batch: called once with the clock running, it performs its operations.
Batch = Callable[[], None]


class BenchmarkError(RuntimeError):
    """A measured operation did not do what it should (e.g. a request was refused)."""


@dataclass
class Case:
    """One row: how to build a batch of ``n`` operations, and under which settings."""

    key: str
    label: str
    group: str  # "request" or "raw"
    make_batch: Callable[[int], Batch]
    token_sessions: dict[str, Any] | None = None
    uses_redis: bool = False
    reference: bool = False  # the row ratios are taken against
    skipped: str = ""
    versus: str = ""  # operations table: the key of the simplejwt counterpart
    max_batch: int | None = None  # operations that need a fresh set-up each: 1
    every: int = 1  # measured only in every n-th round (slow set-ups)
    count_ops: int | None = None  # operations in the counting pass (default COUNT_OPS)
    sanity: bool = True  # False: too slow to run once more (the counting pass checks it)
    settings_overrides: dict[str, Any] | None = None  # other settings (e.g. SIMPLE_JWT)

    @contextlib.contextmanager
    def settings(self) -> Iterator[None]:
        """The settings the case runs under (entered and left outside the timed region)."""
        overrides = dict(self.settings_overrides or {})
        if self.token_sessions is not None:
            overrides["TOKEN_SESSIONS"] = self.token_sessions
        if not overrides:
            yield
            return
        with override_settings(**overrides):
            yield


#: The revocation backend of each mode the benchmark measures.
BACKENDS = {
    "cache": "django_token_sessions.revocation.redis.RedisBackend",
    # The same markers on the same Redis, read after the user query (no overlap): what
    # RedisBackend's early MGET is worth.
    "cache-sync": "django_token_sessions.revocation.cache.CacheBackend",
    "db": "django_token_sessions.revocation.db.DatabaseBackend",
    "off": "django_token_sessions.revocation.base.NoRevocationBackend",
}


def _ours(mode: str) -> dict[str, Any]:
    return {"REVOCATION_BACKEND": BACKENDS[mode], "REVOCATION_CACHE": REVOCATION_CACHE}


def _view(auth_classes: list[type], permission: type) -> Callable[..., Any]:
    class BenchView(APIView):
        authentication_classes = auth_classes
        permission_classes = [permission]

        def get(self, request: Any) -> Response:
            return Response({"ok": True})

    return BenchView.as_view()


def _request_batch(view: Callable[..., Any], token: str | None) -> Callable[[int], Batch]:
    factory = APIRequestFactory()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def make(n: int) -> Batch:
        requests = [factory.get(PATH, **headers) for _ in range(n)]

        def run() -> None:
            for request in requests:
                response = view(request)
                response.render()
                if response.status_code != 200:
                    raise BenchmarkError(
                        f"status {response.status_code}: {response.content[:200]!r}"
                    )

        return run

    return make


def _loop(function: Callable[[], Any]) -> Callable[[int], Batch]:
    def make(n: int) -> Batch:
        def run() -> None:
            for _ in range(n):
                function()

        return run

    return make


@dataclass
class Fixture:
    """The user and the tokens every case uses."""

    user: Any
    plain_access: str  # simplejwt AccessToken.for_user: no sid
    session_access: str  # ours, bound to a live device session
    session_id: Any


def make_fixture() -> Fixture:
    user = get_user_model().objects.create_user("bench", password="bench-password")
    issued = services.create_session(user)
    return Fixture(
        user=user,
        plain_access=str(AccessToken.for_user(user)),
        session_access=issued.tokens.access,
        session_id=issued.session_id,
    )


def _redis_client() -> Any:
    """The redis-py client behind the revocation cache (same connection pool)."""
    return caches[REVOCATION_CACHE].client.get_client(write=False)


class _PingAfterAuthentication(SessionJWTAuthentication):
    """A control, not a mode of the package: ``"off"`` plus one bare Redis round trip, to
    tell the cost of any blocking Redis call from the cost of the cache store's code."""

    def get_validated_token(self, raw_token: bytes) -> Any:
        token = super().get_validated_token(raw_token)
        _redis_client().ping()
        return token


def _unavailable(n: int) -> Batch:
    raise BenchmarkError("Redis is not available")


def _not_revoked() -> None:
    raise BenchmarkError("the benchmark session reads as revoked")


def build_cases(fixture: Fixture, redis_ok: bool, redis_reason: str) -> list[Case]:
    """Every row of both tables, in display order."""
    plain, ours = fixture.plain_access, fixture.session_access
    no_redis = "" if redis_ok else f"skipped: {redis_reason}"
    cases = [
        Case(
            "noauth",
            "no authentication (view floor)",
            "request",
            _request_batch(_view([], AllowAny), None),
        ),
        Case(
            "stock",
            "simplejwt JWTAuthentication (stock)",
            "request",
            _request_batch(_view([JWTAuthentication], IsAuthenticated), plain),
            reference=True,
        ),
        Case(
            "stateless",
            "simplejwt JWTStatelessUserAuthentication",
            "request",
            _request_batch(_view([JWTStatelessUserAuthentication], IsAuthenticated), plain),
        ),
    ]
    session_view = _view([SessionJWTAuthentication], IsAuthenticated)
    for mode, label in (
        ("cache", "ours, RedisBackend"),
        ("cache-sync", "ours, CacheBackend on Redis (no overlap)"),
        ("db", "ours, DatabaseBackend"),
        ("off", "ours, NoRevocationBackend"),
    ):
        cases.append(
            Case(
                mode,
                label,
                "request",
                _request_batch(session_view, ours),
                token_sessions=_ours(mode),
                uses_redis=mode.startswith("cache"),
                skipped=no_redis if mode.startswith("cache") else "",
            )
        )
    cases.append(
        Case(
            "off+ping",
            "control: ours off + one Redis PING",
            "request",
            _request_batch(_view([_PingAfterAuthentication], IsAuthenticated), ours)
            if redis_ok
            else _unavailable,
            token_sessions=_ours("off"),
            uses_redis=True,
            skipped=no_redis,
        )
    )

    token = decode_access(ours)

    def is_revoked() -> None:
        if get_revocation_backend().is_revoked(token):
            _not_revoked()

    def pyjwt_decode() -> None:
        jwt.decode(ours, SIGNING_KEY, algorithms=["HS256"])

    def simplejwt_decode() -> None:
        decode_access(ours)

    def ping() -> None:
        _redis_client().ping()

    cases += [
        Case(
            "raw-pyjwt",
            "jwt.decode HS256 (PyJWT, the floor)",
            "raw",
            _loop(pyjwt_decode),
            reference=True,
        ),
        Case(
            "raw-decode",
            "decode_access() (simplejwt Token + sid)",
            "raw",
            _loop(simplejwt_decode),
        ),
        Case(
            "raw-ping",
            "redis-py PING (one round trip)",
            "raw",
            _loop(ping),
            uses_redis=True,
            skipped=no_redis,
        ),
        Case(
            "raw-cache",
            "is_revoked(), cache (Redis)",
            "raw",
            _loop(is_revoked),
            token_sessions=_ours("cache"),
            uses_redis=True,
            skipped=no_redis,
        ),
        Case(
            "raw-db",
            "is_revoked(), db",
            "raw",
            _loop(is_revoked),
            token_sessions=_ours("db"),
        ),
    ]
    return cases


def sanity_check(case: Case) -> None:
    """One operation, outside the clock, checking what it returns."""
    with case.settings():
        case.make_batch(1)()


def check_request_identity(fixture: Fixture) -> None:
    """The authenticated views see the right user and token (run once, not timed)."""
    factory = APIRequestFactory()
    seen: dict[str, Any] = {}

    class Probe(APIView):
        authentication_classes = [SessionJWTAuthentication]
        permission_classes = [IsAuthenticated]

        def get(self, request: Any) -> Response:
            seen["user"] = request.user.pk
            seen["sid"] = request.auth.session_id
            return Response({"ok": True})

    for mode in BACKENDS:
        with override_settings(TOKEN_SESSIONS=_ours(mode)):
            request = factory.get(PATH, HTTP_AUTHORIZATION=f"Bearer {fixture.session_access}")
            response = Probe.as_view()(request)
            response.render()
        if response.content != EXPECTED_BODY or seen != {
            "user": fixture.user.pk,
            "sid": fixture.session_id,
        }:
            raise BenchmarkError(f"mode {mode}: {response.status_code} {response.content!r}")
