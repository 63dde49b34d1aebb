"""Adopting plain simplejwt tokens: the contrib app ``django_token_sessions.contrib.legacy``.

The migration guide, with the app installed (the test settings have it): every legacy token
here is minted by simplejwt itself (``RefreshToken.for_user``), as the project did before
installing this package. The test settings install simplejwt's ``token_blacklist`` app too,
so its ``RefreshToken`` checks and writes the blacklist; the "without token_blacklist"
behaviour is reproduced by removing the class's ``blacklist``. A project without the app:
test_legacy_absent.py.
"""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.checks.registry import registry
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import path
from django.utils import timezone
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import BlacklistMixin, RefreshToken
from rest_framework_simplejwt.utils import aware_utcnow, datetime_from_epoch, get_md5_hash_password

import tests.urls
from django_token_sessions import checks, services, signals
from django_token_sessions.authentication import SessionJWTAuthentication
from django_token_sessions.contrib.legacy import checks as legacy_checks
from django_token_sessions.contrib.legacy import exchange
from django_token_sessions.contrib.legacy.authentication import LegacyJWTAuthentication
from django_token_sessions.contrib.legacy.models import LegacyTokenExchange
from django_token_sessions.contrib.legacy.tokens import is_legacy_token
from django_token_sessions.exceptions import TokenExpired, TokenInvalid, TokenReused
from django_token_sessions.models import DeviceSession
from django_token_sessions.tokens import decode_access, decode_refresh
from django_token_sessions.views import RefreshView
from tests.support.clients import FIREFOX_LINUX, PASSWORD, bearer, refresh
from tests.support.signals import catch_signal

APP = "django_token_sessions.contrib.legacy"
LEGACY_AUTH = f"{APP}.authentication.LegacyJWTAuthentication"
SESSION_AUTH = "django_token_sessions.authentication.SessionJWTAuthentication"
SIMPLEJWT_AUTH = "rest_framework_simplejwt.authentication.JWTAuthentication"


@pytest.fixture
def app_removed(settings: Any) -> None:
    """The app taken out of ``INSTALLED_APPS``, with the rest of the settings unchanged."""
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != APP]


def mint(user: Any) -> RefreshToken:
    """A refresh token exactly as plain simplejwt issued it (no ``sid``)."""
    token = RefreshToken.for_user(user)
    assert "sid" not in token.payload
    return token


def code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json().get("code")


def sessions_of(user: Any) -> Any:
    return DeviceSession.objects.for_user(user)


# --- the refresh endpoint ----------------------------------------------------------------


def test_legacy_refresh_token_is_exchanged_for_a_device_session(
    user, django_capture_on_commit_callbacks
):
    legacy_token = mint(user)
    jti = legacy_token["jti"]

    # The exchange is one transaction; its signals go out when it commits.
    with (
        catch_signal(signals.session_created) as created,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = APIClient().post(
            "/api/auth/refresh/",
            {"refresh": str(legacy_token)},
            format="json",
            HTTP_USER_AGENT=FIREFOX_LINUX,
        )

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh", "access_expires_at"}
    # Asked in the body, answered in the body, as for any native client: no cookie.
    assert not response.cookies
    new_refresh = decode_refresh(body["refresh"])
    (session,) = sessions_of(user)
    assert new_refresh.session_id == decode_access(body["access"]).session_id == session.pk
    assert session.refresh_jti == new_refresh.jti != jti
    assert session.device_label == "Firefox on Linux"
    assert session.is_active()
    assert [s["session"].pk for s in created] == [session.pk]
    record = LegacyTokenExchange.objects.get()
    assert (record.jti, record.user_id, record.session_id) == (jti, user.pk, session.pk)
    assert record.expires_at == datetime_from_epoch(legacy_token["exp"])

    # The new pair is an ordinary session pair: it authenticates and rotates.
    me = bearer(body["access"]).get("/api/me/")
    assert me.status_code == 200
    assert me.json() == {"username": user.get_username(), "session": str(session.pk)}
    rotated = refresh(body["refresh"])
    assert rotated.status_code == 200
    session.refresh_from_db()
    assert session.previous_jti == new_refresh.jti
    assert session.refresh_jti == decode_refresh(rotated.json()["refresh"]).jti


def test_second_use_is_refused_and_changes_nothing(user):
    raw = str(mint(user))
    first = refresh(raw).json()
    (session,) = sessions_of(user)

    second = refresh(raw)

    assert code(second) == (401, "token_reused")
    assert "already exchanged" in second.json()["detail"]
    assert sessions_of(user).count() == 1
    assert LegacyTokenExchange.objects.count() == 1
    # Nothing was revoked: the session the first exchange created carries on.
    session.refresh_from_db()
    assert session.revoked_at is None
    assert bearer(first["access"]).get("/api/me/").status_code == 200
    assert refresh(first["refresh"]).status_code == 200
    assert code(refresh(raw)) == (401, "token_reused")


def test_each_legacy_token_of_a_user_starts_its_own_session(user):
    # Two devices, each holding its own simplejwt refresh token.
    assert refresh(str(mint(user))).status_code == 200
    assert refresh(str(mint(user))).status_code == 200
    assert sessions_of(user).count() == 2


def test_without_the_exchange_legacy_tokens_stay_invalid(user, without_legacy_exchange):
    raw = str(mint(user))

    assert code(refresh(raw)) == (401, "token_invalid")
    assert not sessions_of(user).exists()
    assert not LegacyTokenExchange.objects.exists()
    # Nothing recorded: registered again, the same token is still exchanged once.
    services.register_refresh_token_exchange(exchange.adopt_legacy_refresh_token)
    assert refresh(raw).status_code == 200
    assert code(refresh(raw)) == (401, "token_reused")


def test_the_app_registers_its_exchange_with_the_core(user):
    # What LegacyConfig.ready() did: registering again is a no-op, so one exchange, once.
    services.register_refresh_token_exchange(exchange.adopt_legacy_refresh_token)
    raw = str(mint(user))

    assert services.rotate_refresh_token(raw).session_id == sessions_of(user).get().pk
    assert LegacyTokenExchange.objects.count() == 1


def test_inactive_user_is_refused(make_user):
    user = make_user("bob")
    raw = str(mint(user))
    user.is_active = False
    user.save()

    assert code(refresh(raw)) == (401, "user_inactive")
    assert not sessions_of(user).exists()
    assert not LegacyTokenExchange.objects.exists()


def test_deleted_user_is_refused(user):
    raw = str(mint(user))
    user.delete()

    assert code(refresh(raw)) == (401, "user_not_found")
    assert not DeviceSession.objects.exists()
    assert not LegacyTokenExchange.objects.exists()


def test_expired_legacy_token_is_refused(user):
    token = mint(user)
    token.set_exp(from_time=aware_utcnow() - timedelta(days=30))  # re-signed by str()

    assert code(refresh(str(token))) == (401, "token_expired")
    assert not sessions_of(user).exists()


def test_legacy_access_token_is_not_a_refresh_token(user):
    access = str(mint(user).access_token)

    response = refresh(access)

    assert code(response) == (401, "token_invalid")
    assert response.json()["detail"] == "Token has wrong type"
    assert not sessions_of(user).exists()
    assert not LegacyTokenExchange.objects.exists()


def test_token_signed_with_another_key_is_refused(user):
    payload = dict(mint(user).payload)
    forged = TokenBackend("HS256", "not-our-signing-key-0123456789abcdef").encode(payload)

    assert code(refresh(forged)) == (401, "token_invalid")
    assert not LegacyTokenExchange.objects.exists()


@pytest.mark.parametrize(
    "sid", ["not-a-uuid", "5b0c6f4e-8a3b-4b0e-9d55-3c1f3f3f3f3f", None, ""], ids=repr
)
def test_a_token_with_a_sid_is_never_adopted(user, sid):
    # Signed with our key and otherwise a fine simplejwt refresh token, but it names a
    # session (badly): it is refused as invalid, never exchanged.
    token = mint(user)
    token["sid"] = sid

    assert code(refresh(str(token))) == (401, "token_invalid")
    assert not sessions_of(user).exists()
    assert not LegacyTokenExchange.objects.exists()


def test_session_token_errors_are_unchanged(user, login):
    # Reuse of a rotated session token is still reuse, not a legacy exchange.
    first = login(user)
    assert refresh(first["refresh"]).status_code == 200
    with override_settings(TOKEN_SESSIONS={"ROTATION_GRACE_PERIOD": 0}):
        assert code(refresh(first["refresh"])) == (401, "token_reused")
    assert not LegacyTokenExchange.objects.exists()


# --- simplejwt's token_blacklist app ------------------------------------------------------


def test_exchanged_token_is_blacklisted_by_simplejwt(user):
    token = mint(user)

    assert refresh(str(token)).status_code == 200

    assert BlacklistedToken.objects.filter(token__jti=token["jti"]).exists()
    # simplejwt itself now refuses it, e.g. at its own refresh view if still mounted.
    with pytest.raises(TokenError, match="blacklisted"):
        RefreshToken(str(token))


def test_token_blacklisted_beforehand_is_refused(user):
    token = mint(user)
    token.blacklist()  # e.g. simplejwt's logout (TokenBlacklistView) before the migration

    response = refresh(str(token))

    assert code(response) == (401, "token_invalid")
    assert response.json()["detail"] == "Token is blacklisted"
    assert not sessions_of(user).exists()
    assert not LegacyTokenExchange.objects.exists()


def test_token_minted_before_token_blacklist_was_installed(user):
    token = mint(user)
    OutstandingToken.objects.filter(jti=token["jti"]).delete()  # never registered

    assert refresh(str(token)).status_code == 200
    assert BlacklistedToken.objects.filter(token__jti=token["jti"]).exists()


def test_without_token_blacklist_the_unique_jti_alone_refuses_a_second_use(user, monkeypatch):
    # simplejwt's RefreshToken has no blacklist() when its app is not installed: nothing
    # but the INSERT of the JTI refuses the second use.
    monkeypatch.delattr(BlacklistMixin, "blacklist")
    raw = str(mint(user))

    assert refresh(raw).status_code == 200
    assert code(refresh(raw)) == (401, "token_reused")

    assert sessions_of(user).count() == 1
    assert LegacyTokenExchange.objects.count() == 1
    assert not BlacklistedToken.objects.exists()


# --- CHECK_REVOKE_TOKEN -------------------------------------------------------------------


def test_check_revoke_token_is_honoured(user, settings):
    settings.SIMPLE_JWT = {"CHECK_REVOKE_TOKEN": True}
    stale = mint(user)
    stale["hash_password"] = get_md5_hash_password(user.password)
    user.set_password("a brand new password")
    user.save()
    current = mint(user)
    current["hash_password"] = get_md5_hash_password(user.password)

    response = refresh(str(stale))
    assert code(response) == (401, "token_invalid")
    assert "password" in response.json()["detail"]
    assert refresh(str(current)).status_code == 200
    assert LegacyTokenExchange.objects.get().jti == current["jti"]


# --- the service functions ----------------------------------------------------------------


def test_exchange_is_usable_without_http(user):
    issued = exchange.exchange_legacy_refresh_token(str(mint(user)).encode())

    assert isinstance(issued, services.IssuedSession)
    assert issued.session is not None
    assert issued.session.user_id == user.pk
    assert decode_refresh(issued.tokens.refresh).session_id == issued.session_id


def test_exchange_refuses_what_is_not_a_live_legacy_refresh_token(user):
    expired = mint(user)
    expired.set_exp(from_time=aware_utcnow() - timedelta(days=30))
    no_user = mint(user)
    del no_user["user_id"]
    with pytest.raises(TokenExpired):
        exchange.exchange_legacy_refresh_token(str(expired))
    with pytest.raises(TokenInvalid, match="not a legacy token"):
        exchange.exchange_legacy_refresh_token(services.create_session(user).tokens.refresh)
    with pytest.raises(TokenInvalid, match="user identification"):
        exchange.exchange_legacy_refresh_token(str(no_user))
    assert not LegacyTokenExchange.objects.exists()


def test_session_tokens_are_rotated_not_exchanged(user):
    issued = services.create_session(user)

    rotated = services.rotate_refresh_token(issued.tokens.refresh)

    assert rotated.session_id == issued.session_id
    assert not LegacyTokenExchange.objects.exists()


@pytest.mark.parametrize("raw", ["", "garbage", b"\xff", None, 42])
def test_garbage_is_invalid(raw, db):
    with pytest.raises(TokenInvalid):
        services.rotate_refresh_token(raw)
    assert is_legacy_token(raw) is False
    assert exchange.adopt_legacy_refresh_token(raw) is None


def test_purge_exchanges_deletes_expired_records(user):
    old = exchange.exchange_legacy_refresh_token(str(mint(user)))
    exchange.exchange_legacy_refresh_token(str(mint(user)))
    LegacyTokenExchange.objects.filter(session=old.session_id).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    assert exchange.purge_exchanges() == 1
    assert LegacyTokenExchange.objects.count() == 1


def test_purge_command_drops_expired_records(user):
    now = timezone.now()
    LegacyTokenExchange.objects.create(
        jti="old",
        user=user,
        exchanged_at=now - timedelta(days=9),
        expires_at=now - timedelta(days=2),
    )
    LegacyTokenExchange.objects.create(
        jti="live", user=user, exchanged_at=now, expires_at=now + timedelta(days=2)
    )
    out = io.StringIO()

    call_command("tokensessions_legacy_purge", stdout=out)

    assert list(LegacyTokenExchange.objects.values_list("jti", flat=True)) == ["live"]
    assert out.getvalue() == "Deleted 1 expired legacy token record(s).\n"


def test_purging_a_session_keeps_the_record(user):
    issued = exchange.exchange_legacy_refresh_token(str(mint(user)))
    DeviceSession.objects.filter(pk=issued.session_id).delete()

    record = LegacyTokenExchange.objects.get()
    assert record.session_id is None


# --- legacy access tokens -----------------------------------------------------------------


def _view(*classes: Any) -> Any:
    @api_view(["GET"])
    @authentication_classes(list(classes))
    @permission_classes([IsAuthenticated])
    def whoami(request: Any) -> Response:
        sid = getattr(request.auth, "session_id", None)  # simplejwt's tokens have none
        return Response({"user": request.user.get_username(), "sid": sid})

    return whoami


def _get(view: Any, access: str) -> Any:
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {access}")
    return view(request)


TRANSITION = _view(LegacyJWTAuthentication, SessionJWTAuthentication)


def test_our_class_refuses_legacy_access_tokens_and_drf_tries_no_other(user):
    # What simplejwt's JWTAuthentication listed AFTER ours would have to rescue: ours
    # raises on a token without sid, and DRF stops at the first class that raises.
    view = _view(SessionJWTAuthentication, JWTAuthentication)
    response = _get(view, str(mint(user).access_token))
    assert response.status_code == 401
    assert response.data["code"] == "token_invalid"


def test_simplejwt_class_listed_first_bypasses_revocation(user, login):
    # ...and listed BEFORE ours it accepts session tokens of a revoked session.
    access = login(user)["access"]
    services.revoke_session(decode_access(access).session_id, reason="admin")
    assert _get(_view(JWTAuthentication, SessionJWTAuthentication), access).status_code == 200
    assert _get(TRANSITION, access).status_code == 401


def test_legacy_access_token_accepted_during_transition(user):
    response = _get(TRANSITION, str(mint(user).access_token))

    assert response.status_code == 200
    assert response.data == {"user": user.get_username(), "sid": None}


def test_legacy_access_token_refused_once_the_app_is_removed(user, app_removed):
    # Still listed, as a project may forget to: the class lets nothing in by itself.
    response = _get(TRANSITION, str(mint(user).access_token))

    assert response.status_code == 401
    assert response.data["code"] == "token_invalid"


def test_session_tokens_still_go_through_the_session_class(user, login):
    access = login(user)["access"]
    response = _get(TRANSITION, access)
    assert response.status_code == 200
    assert response.data["sid"] == decode_access(access).session_id

    services.revoke_session(decode_access(access).session_id, reason="admin")
    response = _get(TRANSITION, access)
    assert response.status_code == 401
    assert response.data["code"] == "session_revoked"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda user: str(mint(user)), "token_invalid"),  # a refresh token as bearer
        (lambda user: str(mint(user).access_token)[:-3] + "AAA", "token_invalid"),
    ],
)
def test_other_bearer_tokens_are_left_to_the_session_class(user, make, expected):
    response = _get(TRANSITION, make(user))
    assert response.status_code == 401
    assert response.data["code"] == expected


@pytest.mark.parametrize("header", [None, "Basic Zm9vOmJhcg==", "Bearer", "Bearer a b"])
def test_other_authorization_headers_are_left_to_the_next_class(user, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    request = APIRequestFactory().get("/", **extra)
    assert LegacyJWTAuthentication().authenticate(Request(request)) is None


def test_legacy_access_token_of_inactive_user(make_user):
    user = make_user("bob")
    access = str(mint(user).access_token)
    user.is_active = False
    user.save()

    response = _get(TRANSITION, access)

    assert response.status_code == 401
    assert response.data["code"] == "user_inactive"


def test_client_journey_through_the_migration(user):
    """A client holding simplejwt tokens when the app is deployed, refreshing on a 401."""
    legacy_token = mint(user)
    me = bearer(str(legacy_token.access_token)).get("/api/me/")  # SessionJWTAuthentication only
    assert me.status_code == 401

    pair = refresh(str(legacy_token)).json()
    assert bearer(pair["access"]).get("/api/me/").status_code == 200

    # Logging in afresh works as always, and is a second device session.
    assert (
        APIClient()
        .post(
            "/api/auth/login/",
            {"username": user.get_username(), "password": PASSWORD},
            format="json",
            HTTP_X_TOKEN_TRANSPORT="body",
        )
        .status_code
        == 200
    )
    assert sessions_of(user).count() == 2


# --- system checks ------------------------------------------------------------------------


def check_ids(*classes: str) -> set[str]:
    with override_settings(REST_FRAMEWORK={"DEFAULT_AUTHENTICATION_CLASSES": list(classes)}):
        messages = [
            *checks.check_authentication_classes(),
            *legacy_checks.check_authentication_classes(),
        ]
    return {m.id for m in messages if m.id}


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        ([SESSION_AUTH], set()),
        ([LEGACY_AUTH, SESSION_AUTH], set()),
        ([SIMPLEJWT_AUTH, SESSION_AUTH], {"token_sessions.W008"}),
        ([SESSION_AUTH, SIMPLEJWT_AUTH], {"token_sessions.W008"}),
        ([SESSION_AUTH, LEGACY_AUTH], {"token_sessions_legacy.W001"}),
        ([LEGACY_AUTH], {"token_sessions_legacy.W001"}),
        (["rest_framework.authentication.SessionAuthentication"], set()),
    ],
)
def test_authentication_class_checks(classes, expected):
    assert check_ids(*classes) == expected


def test_the_apps_checks_are_registered_by_its_ready():
    assert legacy_checks.check_authentication_classes in registry.get_checks()


def test_a_leftover_accept_setting_points_to_the_app(settings):
    settings.TOKEN_SESSIONS = {"ACCEPT_LEGACY_REFRESH_TOKENS": True}

    (warning,) = [m for m in checks.check_settings() if m.id == "token_sessions.W001"]

    assert "ACCEPT_LEGACY_REFRESH_TOKENS" in warning.msg
    assert APP in warning.hint


# --- concurrency --------------------------------------------------------------------------


@pytest.mark.concurrent_db
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("k", [2, 8])
def test_concurrent_exchanges_of_one_token_create_one_session(k):
    user = get_user_model().objects.create_user(username="alice", password=PASSWORD)
    for _ in range(5):
        token = mint(user)
        raw, jti = str(token), token["jti"]
        gate = threading.Barrier(k, timeout=60)
        outcomes: list[Any] = [None] * k

        def work(
            i: int, raw: str = raw, gate: threading.Barrier = gate, outcomes: list = outcomes
        ) -> None:
            try:
                connection.ensure_connection()
                gate.wait()
                outcomes[i] = exchange.exchange_legacy_refresh_token(raw)
            except BaseException as exc:
                outcomes[i] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=work, args=(i,)) for i in range(k)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        winners = [o for o in outcomes if isinstance(o, services.IssuedSession)]
        losers = [o for o in outcomes if not isinstance(o, services.IssuedSession)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, TokenReused) for o in losers), outcomes
        (winner,) = winners
        assert LegacyTokenExchange.objects.get(jti=jti).session_id == winner.session_id
        assert BlacklistedToken.objects.filter(token__jti=jti).count() == 1
    assert sessions_of(user).count() == 5


# --- the old simplejwt refresh URL, routed to this app's view -----------------------------

urlpatterns = [path("api/token/refresh/", RefreshView.as_view()), *tests.urls.urlpatterns]


@override_settings(ROOT_URLCONF=__name__)
def test_old_refresh_url_routed_to_refresh_view(user):
    raw = str(mint(user))

    response = APIClient().post("/api/token/refresh/", {"refresh": raw}, format="json")

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh", "access_expires_at"}
    assert not response.cookies
    assert bearer(response.json()["access"]).get("/api/me/").status_code == 200
    assert code(APIClient().post("/api/token/refresh/", {"refresh": raw}, format="json")) == (
        401,
        "token_reused",
    )


# --- the OpenAPI schema -------------------------------------------------------------------


def test_the_transition_class_has_a_bearer_scheme_of_its_own():
    pytest.importorskip("drf_spectacular")
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    spectacular = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
    with override_settings(REST_FRAMEWORK=spectacular):
        view = _view(LegacyJWTAuthentication, SessionJWTAuthentication)
        patterns = [path("api/transition-me/", view)]
        GENERATOR_STATS.reset()
        schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
        problems = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
        GENERATOR_STATS.reset()

    # Only the view's own body is left to guess (a bare test view, no serializer).
    assert [p for p in problems if "serializer" not in p] == []
    security = schema["paths"]["/api/transition-me/"]["get"]["security"]
    assert security == [{"legacyJWT": []}, {"sessionJWT": []}]  # either one lets a client in
    bearer_jwt = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schema["components"]["securitySchemes"] == {
        "legacyJWT": bearer_jwt,
        "sessionJWT": bearer_jwt,
    }
