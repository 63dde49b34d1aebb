"""Hostile tokens through HTTP: every one is refused with a stable code and changes nothing.

Each case presents a forged or damaged token on every channel it can travel by: the refresh
endpoint's body and its cookie, the logout endpoint's body and cookie, and an access token
on a protected view (``/api/me/``), the session list, logout and logout-everywhere. Every
test asserts the exact ``code`` of the ``{detail, code}`` error, that no ``DeviceSession``
row changed (a bystander user's row included), and that the legitimate session still
refreshes and authenticates afterwards. Tokens are built with PyJWT from a real token's claims.

A refused cookie on the *logout* endpoint is answered 204 by design (a stale cookie never
blocks a logout, see test_transport.py); there the test asserts 204 and no change.

Covered elsewhere, so not repeated here:

- test_rotation.py::test_expired_refresh_token: expired refresh token in the body.
- test_rotation.py::test_bad_refresh_tokens_are_token_invalid: body refresh token with a
  tampered signature, garbage, ``a.b.c``, non-ASCII text, 8,000 characters, another HS256
  key, ``sid`` not a UUID, no ``sid``, ``alg: none``.
- test_rotation.py::test_access_token_used_as_refresh_token and
  ::test_refresh_token_used_as_access_token: wrong ``token_type`` in the body and on
  ``/api/me/``.
- test_rotation.py::test_plain_simplejwt_refresh_token_is_refused and
  ::test_plain_simplejwt_access_token_is_refused: tokens without ``sid``.
- test_rotation.py::test_deleted_user: a deleted user's refresh token in the body.
- test_rotation.py::test_malformed_refresh_bodies_are_4xx_json, ::test_non_json_refresh_body.
- test_views.py::test_bad_authorization_headers: ``Bearer``, ``Bearer a b``, garbage,
  ``Basic``, a Latin-1 character.
- test_views.py::test_logout_with_garbage_body_token.
- test_transport.py::test_a_stale_cookie_never_blocks_logout,
  ::test_refused_cookie_is_deleted,
  ::test_cookie_refresh_without_csrf_token_is_403_and_changes_nothing.
- test_claim_characters.py: the characters of the claims (NUL, lone surrogates, control
  characters, over-long values) in session and legacy tokens, on every database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import path
from django.utils import timezone
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIClient

import tests.urls
from django_token_sessions.authentication import SessionJWTAuthentication
from django_token_sessions.contrib.legacy.authentication import LegacyJWTAuthentication
from django_token_sessions.models import DeviceSession
from tests.support.backends import BACKENDS
from tests.support.clients import bearer, refresh

pytestmark = pytest.mark.django_db

COOKIE = "tokensessions_refresh"
CSRF = "a" * 32  # a well-formed CSRF secret, echoed in the header as a page would
MISSING = object()
HUGE = "x" * 4000  # under the body limit (8192), so it reaches the token checks
ONE_MB = 1024 * 1024

# -- the channels a token can be presented by -------------------------------------------


def _cookie_client() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF
    return client


def via_body(raw: str) -> Any:
    return refresh(raw)


def via_cookie(raw: str) -> Any:
    client = _cookie_client()
    client.cookies[COOKIE] = raw
    return client.post("/api/auth/refresh/", HTTP_X_CSRFTOKEN=CSRF)


def via_logout(raw: str) -> Any:
    return APIClient().post("/api/auth/logout/", {"refresh": raw}, format="json")


def via_logout_cookie(raw: str) -> Any:
    client = _cookie_client()
    client.cookies[COOKIE] = raw
    return client.post("/api/auth/logout/", HTTP_X_CSRFTOKEN=CSRF)


def via_bearer(raw: str) -> Any:
    return bearer(raw).get("/api/me/")


def via_bearer_logout(raw: str) -> Any:
    return bearer(raw).post("/api/auth/logout/")


def via_bearer_logout_all(raw: str) -> Any:
    return bearer(raw).post("/api/auth/logout-all/", {"scope": "all"}, format="json")


def via_bearer_sessions(raw: str) -> Any:
    return bearer(raw).get("/api/auth/sessions/")


#: name -> (send, kind of token it carries)
CHANNELS: dict[str, tuple[Callable[[str], Any], str]] = {
    "refresh-body": (via_body, "refresh"),
    "refresh-cookie": (via_cookie, "refresh"),
    "logout-body": (via_logout, "refresh"),
    "logout-cookie": (via_logout_cookie, "refresh"),
    "me-bearer": (via_bearer, "access"),
    "logout-bearer": (via_bearer_logout, "access"),
    "logout-all-bearer": (via_bearer_logout_all, "access"),
    "sessions-bearer": (via_bearer_sessions, "access"),
}

# -- helpers ------------------------------------------------------------------------------


def claims(raw: str) -> dict[str, Any]:
    return dict(jwt.decode(raw, options={"verify_signature": False}))


def sign(payload: dict[str, Any], key: Any = None, algorithm: str = "HS256", **kw: Any) -> str:
    return jwt.encode(payload, django_settings.SECRET_KEY if key is None else key, algorithm, **kw)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: str, payload: dict[str, Any], hmac_key: bytes | None) -> str:
    """A JWS built by hand: PyJWT refuses to produce some of these (PEM as HMAC secret)."""
    signing_input = f"{b64(header.encode())}.{b64(json.dumps(payload).encode())}"
    if hmac_key is None:
        return signing_input + "."
    mac = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def now_s() -> int:
    return int(timezone.now().timestamp())


def snapshot() -> list[tuple[Any, ...]]:
    """Every session's security state, for a before/after comparison."""
    return list(
        DeviceSession.objects.order_by("pk").values_list(
            "pk",
            "refresh_jti",
            "previous_jti",
            "rotated_at",
            "revoked_at",
            "revoke_reason",
            "last_seen_at",
            "idle_expires_at",
        )
    )


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str)
    assert set(body) <= {"detail", "code", "errors"}


def assert_still_works(tokens: dict[str, Any]) -> None:
    assert via_bearer(tokens["access"]).status_code == 200
    assert via_body(tokens["refresh"]).status_code == 200


def assert_refused(channel: str, raw: str, status: int, code: str) -> None:
    """Present ``raw`` on ``channel``; it must be refused and leave every row as it was."""
    send, _kind = CHANNELS[channel]
    before = snapshot()
    response = send(raw)
    if channel == "logout-cookie":
        # A refused cookie never blocks a logout: 204, the cookie dropped, nothing revoked.
        assert response.status_code == 204, response.content
        assert response.cookies[COOKIE].value == ""
    else:
        assert_error(response, status, code)
    assert snapshot() == before


@pytest.fixture
def alice(user: Any, login: Any, make_user: Any) -> dict[str, Any]:
    """Alice's login body; Bob, a bystander, is signed in too (his row must not change)."""
    login(make_user("bob"))
    return login(user)


# -- the matrix: forged from a real token's claims, on every channel ------------------------


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], str]:
    def forge(c: dict[str, Any]) -> str:
        if value is MISSING:
            c.pop(name, None)
        else:
            c[name] = value
        return sign(c)

    return forge


def _expired(c: dict[str, Any]) -> str:
    c["exp"] = now_s() - 10
    return sign(c)


def _nbf_future(c: dict[str, Any]) -> str:
    c["nbf"] = now_s() + 3600
    return sign(c)


def _iat_future(c: dict[str, Any]) -> str:
    c["iat"] = now_s() + 3600
    return sign(c)


def _other_key(c: dict[str, Any]) -> str:
    return sign(c, "another-secret-key-of-32-bytes-or-more")


def _alg_none(c: dict[str, Any]) -> str:
    return jwt.encode(c, None, "none")


def _alg_none_capitalised(c: dict[str, Any]) -> str:
    return hand_signed('{"alg":"None","typ":"JWT"}', c, None)


def _rs256_token(c: dict[str, Any]) -> str:
    return sign(c, _attacker_pem(), "RS256")


def _duplicate_alg_header(c: dict[str, Any]) -> str:
    # Parsers disagree on duplicate keys; PyJWT keeps the last, so this is "none".
    return hand_signed('{"alg":"HS256","typ":"JWT","alg":"none"}', c, None)


def _signature_dropped(c: dict[str, Any]) -> str:
    return sign(c).rsplit(".", 1)[0] + "."


def _whitespace_inside(c: dict[str, Any]) -> str:
    head, payload, sig = sign(c).split(".")
    return f"{head}.{payload[:10]}\n{payload[10:]}.{sig}"


def _one_megabyte(c: dict[str, Any]) -> str:
    return sign(c) + "A" * ONE_MB


def _wrong_type(c: dict[str, Any]) -> str:
    c["token_type"] = {"access": "refresh", "refresh": "access"}[c["token_type"]]
    return sign(c)


# (id, forge, expected code, channels it does not apply to or that are covered elsewhere)
CASES: list[tuple[str, Callable[[dict[str, Any]], str], str | dict[str, str], set[str]]] = [
    ("expired", _expired, "token_expired", {"refresh-body"}),
    ("nbf-in-future", _nbf_future, "token_invalid", set()),
    ("iat-in-future", _iat_future, "token_invalid", set()),
    ("other-hs256-key", _other_key, "token_invalid", {"refresh-body"}),
    ("alg-none", _alg_none, "token_invalid", {"refresh-body"}),
    ("alg-None-by-hand", _alg_none_capitalised, "token_invalid", set()),
    ("rs256-on-hs256-server", _rs256_token, "token_invalid", set()),
    ("duplicate-alg-header", _duplicate_alg_header, "token_invalid", set()),
    ("signature-dropped", _signature_dropped, "token_invalid", set()),
    (
        "whitespace-in-payload",
        _whitespace_inside,
        {"refresh": "token_invalid", "access": "bad_authorization_header"},
        set(),
    ),
    ("wrong-token-type", _wrong_type, "token_invalid", {"refresh-body", "me-bearer"}),
    ("no-token-type", _set("token_type", MISSING), "token_invalid", set()),
    # sid: missing, wrong JSON types, not a UUID, 100 kB
    ("sid-missing", _set("sid", MISSING), "token_invalid", {"refresh-body"}),
    ("sid-null", _set("sid", None), "token_invalid", set()),
    ("sid-int", _set("sid", 42), "token_invalid", set()),
    ("sid-list", _set("sid", ["x"]), "token_invalid", set()),
    ("sid-dict", _set("sid", {"id": 1}), "token_invalid", set()),
    ("sid-not-uuid", _set("sid", "not-a-uuid"), "token_invalid", {"refresh-body"}),
    ("sid-huge", _set("sid", HUGE), "token_invalid", set()),
    # jti: a validly signed token of the session with a jti that was never issued must not
    # be taken for a replay (which would revoke the session)
    ("jti-missing", _set("jti", MISSING), "token_invalid", set()),
    ("jti-null", _set("jti", None), "token_invalid", set()),
    ("jti-int", _set("jti", 42), "token_invalid", set()),
    ("jti-list", _set("jti", ["x"]), "token_invalid", set()),
    ("jti-dict", _set("jti", {"x": 1}), "token_invalid", set()),
    ("jti-empty", _set("jti", ""), "token_invalid", set()),
    ("jti-huge", _set("jti", HUGE), "token_invalid", set()),
    # user id claim: types that a lookup would coerce (True -> 1, 1.5 -> 1) or choke on
    ("user-missing", _set("user_id", MISSING), "token_invalid", set()),
    ("user-null", _set("user_id", None), "token_invalid", set()),
    ("user-bool", _set("user_id", True), "token_invalid", set()),
    ("user-float", _set("user_id", 1.5), "token_invalid", set()),
    ("user-list", _set("user_id", [1]), "token_invalid", set()),
    ("user-dict", _set("user_id", {"id": 1}), "token_invalid", set()),
    # a well-formed id of nobody: the refresh token no longer matches its session's user
    (
        "user-nobody",
        _set("user_id", "nobody"),
        {"refresh": "token_invalid", "access": "user_not_found"},
        set(),
    ),
    # longer than any username or e-mail column (characters: test_claim_characters.py)
    ("user-huge-string", _set("user_id", HUGE), "token_invalid", set()),
    # an int no 64-bit column holds (Django 4.2 raised OverflowError on SQLite: a 500)
    ("user-huge-int", _set("user_id", 10**40), "token_invalid", set()),
    # time claims of the wrong type or out of datetime's range
    ("exp-numeric-string", _set("exp", "99999999999"), "token_invalid", set()),
    ("exp-year-3e12", _set("exp", 10**20), "token_invalid", set()),
    ("iat-string", _set("iat", "yesterday"), "token_invalid", set()),
]

REFRESH_ONLY_CASES = [
    ("session-exp-missing", _set("session_exp", MISSING), "token_invalid"),
    ("session-exp-string", _set("session_exp", "2099-01-01"), "token_invalid"),
    ("session-exp-bool", _set("session_exp", True), "token_invalid"),
    ("session-exp-year-3e12", _set("session_exp", 10**20), "token_invalid"),
]

# The millisecond issue time a logout-everywhere marker is compared with.
ACCESS_ONLY_CASES = [
    ("iat-ms-missing", _set("iat_ms", MISSING), "token_invalid"),
    ("iat-ms-string", _set("iat_ms", "1700000000000"), "token_invalid"),
    ("iat-ms-float", _set("iat_ms", 1.7e12), "token_invalid"),
    ("iat-ms-bool", _set("iat_ms", True), "token_invalid"),
]


def _params() -> list[Any]:
    params = []
    for name, forge, code, skip in CASES:
        for channel, (_send, kind) in CHANNELS.items():
            if channel in skip:
                continue
            expected = code[kind] if isinstance(code, dict) else code
            params.append(pytest.param(channel, forge, expected, id=f"{name}-{channel}"))
    for only, cases in (("refresh", REFRESH_ONLY_CASES), ("access", ACCESS_ONLY_CASES)):
        for name, forge, code in cases:
            for channel, (_send, kind) in CHANNELS.items():
                if kind == only:
                    params.append(pytest.param(channel, forge, code, id=f"{name}-{channel}"))
    return params


@pytest.mark.parametrize(("channel", "forge", "code"), _params())
def test_forged_token_is_refused_and_changes_nothing(
    alice, channel, forge, code, without_legacy_exchange
):
    kind = CHANNELS[channel][1]
    raw = forge(claims(alice[kind]))
    status = 400 if code == "invalid_request" else 401
    assert_refused(channel, raw, status, code)
    assert_still_works(alice)


@pytest.mark.parametrize(
    ("channel", "forge", "code"),
    [p for p in _params() if p.values[0] in ("me-bearer", "logout-all-bearer")],
)
def test_forged_access_token_with_the_database_revocation_check(
    settings, alice, channel, forge, code
):
    # DatabaseBackend checks the session in the user query: another code path.
    settings.TOKEN_SESSIONS = {"REVOCATION_BACKEND": BACKENDS["db"]}
    raw = forge(claims(alice["access"]))
    assert_refused(channel, raw, 401, code)
    assert_still_works(alice)


LEGACY_CASES = [
    ("expired", _expired, "token_expired"),
    ("nbf-in-future", _nbf_future, "token_invalid"),
    ("iat-in-future", _iat_future, "token_invalid"),
    ("other-hs256-key", _other_key, "token_invalid"),
    ("alg-none", _alg_none, "token_invalid"),
    ("wrong-token-type", _wrong_type, "token_invalid"),
    ("jti-missing", _set("jti", MISSING), "token_invalid"),
    ("jti-int", _set("jti", 42), "token_invalid"),
    ("jti-empty", _set("jti", ""), "token_invalid"),
    ("user-missing", _set("user_id", MISSING), "token_invalid"),
    ("user-null", _set("user_id", None), "token_invalid"),
    ("user-bool", _set("user_id", True), "token_invalid"),
    ("user-float", _set("user_id", 1.5), "token_invalid"),
    ("user-list", _set("user_id", [1]), "token_invalid"),
    ("user-dict", _set("user_id", {"id": 1}), "token_invalid"),
    ("user-nobody", _set("user_id", "nobody"), "user_not_found"),
    ("user-huge-string", _set("user_id", HUGE), "token_invalid"),
    ("user-huge-int", _set("user_id", 10**40), "token_invalid"),
    ("exp-numeric-string", _set("exp", "99999999999"), "token_invalid"),
    ("exp-year-3e12", _set("exp", 10**20), "token_invalid"),
]


@pytest.mark.parametrize("channel", ["refresh-body", "refresh-cookie"])
@pytest.mark.parametrize(
    ("forge", "code"), [pytest.param(f, c, id=name) for name, f, c in LEGACY_CASES]
)
def test_forged_legacy_token_is_refused_while_legacy_tokens_are_accepted(
    alice, channel, forge, code
):
    """With the legacy contrib app installed, a token without ``sid`` goes to its exchange:
    a damaged one creates no session and records no exchange."""
    from django_token_sessions.contrib.legacy.models import LegacyTokenExchange

    legacy = claims(alice["refresh"])
    del legacy["sid"], legacy["session_exp"]  # what plain simplejwt issues
    legacy["jti"] = uuid.uuid4().hex
    assert via_body(sign(legacy)).status_code == 200  # the undamaged one is adopted
    DeviceSession.objects.filter(pk__in=LegacyTokenExchange.objects.values("session")).delete()
    LegacyTokenExchange.objects.all().delete()
    legacy["jti"] = uuid.uuid4().hex  # the adopted one is blacklisted now: a fresh jti

    assert_refused(channel, forge(legacy), 401, code)
    assert not LegacyTokenExchange.objects.exists()
    assert_still_works(alice)


@api_view(["GET"])
@authentication_classes([LegacyJWTAuthentication, SessionJWTAuthentication])
@permission_classes([IsAuthenticated])
def _transition_me(request: Any) -> Response:
    return Response({"username": request.user.get_username()})


#: The test URLs plus a view that, as during a migration, also takes legacy access tokens.
urlpatterns = [path("api/transition-me/", _transition_me), *tests.urls.urlpatterns]


# A legacy access token's jti is never looked up, but it is checked like every claim of a
# token we accept: "jti-empty" is refused on this channel too.
@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize(
    ("forge", "code"), [pytest.param(f, c, id=name) for name, f, c in LEGACY_CASES]
)
def test_forged_legacy_access_token_is_refused_during_the_transition(alice, forge, code):
    legacy = claims(alice["access"])
    del legacy["sid"], legacy["iat_ms"]
    assert bearer(sign(legacy)).get("/api/transition-me/").status_code == 200  # undamaged

    before = snapshot()
    response = bearer(forge(dict(legacy))).get("/api/transition-me/")
    assert_error(response, 401, code)
    assert snapshot() == before
    assert_still_works(alice)


# -- HS/RS confusion against a server configured for RS256 ---------------------------------


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


_ATTACKER: dict[str, str] = {}


def _attacker_pem() -> str:
    if not _ATTACKER:
        _ATTACKER["private"], _ATTACKER["public"] = _pem(_rsa_key())
    return _ATTACKER["private"]


@pytest.fixture(scope="module")
def server_keys() -> tuple[str, str]:
    return _pem(_rsa_key())


@pytest.fixture
def rs256(settings: Any, server_keys: tuple[str, str]) -> str:
    """The server signs with RS256; returns its public key PEM (public, as such keys are)."""
    private, public = server_keys
    settings.SIMPLE_JWT = {
        "ALGORITHM": "RS256",
        "SIGNING_KEY": private,
        "VERIFYING_KEY": public,
    }
    return public


RS256_FORGERIES: list[tuple[str, Callable[[dict[str, Any], str], str]]] = [
    # The classic confusion: the verifier's public key used as an HMAC secret.
    (
        "hs256-signed-with-the-public-key",
        lambda c, pub: hand_signed('{"alg":"HS256","typ":"JWT"}', c, pub.encode()),
    ),
    ("hs256-signed-with-secret-key", lambda c, pub: sign(c)),
    ("rs256-attacker-key", lambda c, pub: sign(c, _attacker_pem(), "RS256")),
    (
        "rs256-attacker-key-with-embedded-jwk",
        lambda c, pub: sign(
            c,
            _attacker_pem(),
            "RS256",
            headers={
                "jwk": json.loads(
                    jwt.algorithms.RSAAlgorithm.to_jwk(
                        serialization.load_pem_private_key(
                            _attacker_pem().encode(), None
                        ).public_key()
                    )
                )
            },
        ),
    ),
    ("alg-none", lambda c, pub: jwt.encode(c, None, "none")),
]


@pytest.mark.parametrize("channel", list(CHANNELS))
@pytest.mark.parametrize("forge", [pytest.param(f, id=name) for name, f in RS256_FORGERIES])
def test_rs256_server_refuses_algorithm_confusion(rs256, alice, channel, forge):
    kind = CHANNELS[channel][1]
    real = claims(alice[kind])
    assert jwt.get_unverified_header(alice[kind])["alg"] == "RS256"
    assert_refused(channel, forge(real, rs256), 401, "token_invalid")
    assert_still_works(alice)


# -- another user's session ----------------------------------------------------------------


@pytest.mark.parametrize("channel", ["refresh-body", "refresh-cookie", "logout-body"])
@pytest.mark.parametrize("jti_of", ["bob", "alice-current", "alice-previous"])
def test_refresh_token_naming_another_users_session_never_touches_it(
    user, make_user, login, channel, jti_of
):
    """Bob's validly signed refresh token whose ``sid`` is Alice's session: refused, and
    her session is neither rotated, nor revoked as a replay, nor logged out. With Alice's
    current or just-replaced JTI too (inside the grace window)."""
    bob_tokens = login(make_user("bob"))
    alice_tokens = login(user)
    if jti_of == "alice-previous":
        alice_tokens = {**alice_tokens, **refresh(alice_tokens["refresh"]).json()}
    alice_session = DeviceSession.objects.get(user=user)
    forged = claims(bob_tokens["refresh"])
    forged["sid"] = str(alice_session.pk)
    forged["jti"] = {
        "bob": forged["jti"],
        "alice-current": alice_session.refresh_jti,
        "alice-previous": alice_session.previous_jti,
    }[jti_of]

    assert_refused(channel, sign(forged), 401, "token_invalid")
    assert_still_works(alice_tokens)
    assert_still_works(bob_tokens)


def test_access_token_naming_another_users_session_never_touches_it(user, make_user, login):
    """Bob's validly signed access token with Alice's ``sid`` authenticates Bob (the
    signature vouches for the user claim), but cannot end or rename Alice's session."""
    bob_tokens = login(make_user("bob"))
    alice_tokens = login(user)
    alice_sid = alice_tokens["session"]["id"]
    forged = claims(bob_tokens["access"])
    forged["sid"] = alice_sid
    client = bearer(sign(forged))
    before = snapshot()

    assert_error(client.delete(f"/api/auth/sessions/{alice_sid}/"), 404, "not_found")
    assert_error(
        client.patch(f"/api/auth/sessions/{alice_sid}/", {"name": "x"}, format="json"),
        404,
        "not_found",
    )
    assert client.post("/api/auth/logout/").status_code == 204  # Bob's own: none named
    assert snapshot() == before
    assert_still_works(alice_tokens)


# -- a deleted user --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel", ["refresh-cookie", "me-bearer", "logout-bearer", "logout-all-bearer"]
)
def test_tokens_of_a_deleted_user_are_refused(user, make_user, login, channel):
    bob_tokens = login(make_user("bob"))
    alice_tokens = login(user)
    assert via_bearer(alice_tokens["access"]).status_code == 200  # the cache is warm
    user.delete()
    raw = alice_tokens[CHANNELS[channel][1]]
    assert_refused(channel, raw, 401, "user_not_found")
    assert_still_works(bob_tokens)


# Deleting a user cascades to its sessions; the post_delete receiver writes the user's
# revocation marker after commit (a real commit here: the delete is its own transaction).
@pytest.mark.django_db(transaction=True)
def test_access_token_of_a_deleted_user_never_authenticates_a_newcomer(settings, make_user, login):
    settings.SIMPLE_JWT = {"USER_ID_FIELD": "username"}
    tokens = login(make_user("carol"))
    assert via_bearer(tokens["access"]).status_code == 200  # the cache is warm
    get_user_model().objects.get(username="carol").delete()
    make_user("carol")  # someone else signs up with the freed username
    assert_error(via_bearer(tokens["access"]), 401, "session_revoked")


@pytest.mark.parametrize("channel", ["logout-body", "logout-cookie"])
def test_logout_with_a_deleted_users_token_is_a_no_op(user, make_user, login, channel):
    # Logout is idempotent: a session that no longer exists is already logged out (204).
    bob_tokens = login(make_user("bob"))
    alice_tokens = login(user)
    user.delete()
    before = snapshot()
    assert CHANNELS[channel][0](alice_tokens["refresh"]).status_code == 204
    assert snapshot() == before
    assert_still_works(bob_tokens)


# -- size, encoding and framing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "status", "code"),
    [
        ("refresh-body", 400, "invalid_request"),
        ("logout-body", 400, "invalid_request"),
        ("refresh-cookie", 401, "token_invalid"),
        ("logout-cookie", 204, ""),
        ("me-bearer", 401, "token_invalid"),
        ("logout-bearer", 401, "token_invalid"),
        ("logout-all-bearer", 401, "token_invalid"),
        ("sessions-bearer", 401, "token_invalid"),
    ],
)
def test_one_megabyte_token(alice, channel, status, code):
    kind = CHANNELS[channel][1]
    # A real token's header and claims with a 1 MB signature.
    raw = alice[kind] + "A" * ONE_MB
    assert len(raw) > ONE_MB
    assert_refused(channel, raw, status, code)
    assert_still_works(alice)


@pytest.mark.parametrize("path", ["/api/auth/refresh/", "/api/auth/logout/"])
def test_non_utf8_bytes_in_the_refresh_cookie(alice, path):
    # WSGI hands headers over as Latin-1 text: \xff\xfe are the raw bytes 0xFF 0xFE.
    before = snapshot()
    response = Client(enforce_csrf_checks=True).post(
        path,
        HTTP_COOKIE=f"{COOKIE}=\xff\xfe{alice['refresh']}\x80; csrftoken={CSRF}",
        HTTP_X_CSRFTOKEN=CSRF,
    )
    if path.endswith("/logout/"):
        assert response.status_code == 204
    else:
        assert_error(response, 401, "token_invalid")
    assert snapshot() == before
    assert_still_works(alice)


@pytest.mark.parametrize("path", ["/api/me/", "/api/auth/logout/", "/api/auth/sessions/"])
def test_non_utf8_bytes_in_the_authorization_header(alice, path):
    before = snapshot()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer \xff\xfe{alice['access']}\x80")
    response = client.get(path) if path != "/api/auth/logout/" else client.post(path)
    assert_error(response, 401, "token_invalid")
    assert snapshot() == before
    assert_still_works(alice)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer Bearer {t}", id="bearer-twice"),
        pytest.param("Bearer {head} {tail}", id="space-inside"),
        pytest.param("Bearer {t} {t}", id="token-twice"),
    ],
)
def test_mangled_authorization_header(alice, header):
    token = alice["access"]
    value = header.format(t=token, head=token[:20], tail=token[20:])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=value)
    before = snapshot()
    assert_error(client.get("/api/me/"), 401, "bad_authorization_header")
    assert_error(client.post("/api/auth/logout/"), 401, "bad_authorization_header")
    assert snapshot() == before
    assert_still_works(alice)


def test_surrounding_whitespace_is_tolerated_not_a_new_token(alice):
    # Framing whitespace is stripped (simplejwt splits the header, the serializer trims
    # the body); the token itself is the same, and it rotates once only.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"  Bearer   {alice['access']}  ")
    assert client.get("/api/me/").status_code == 200
    assert via_body(f" \n{alice['refresh']}\t ").status_code == 200
    assert (
        DeviceSession.objects.get(user__username="alice").previous_jti
        == claims(alice["refresh"])["jti"]
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Bearer {t}", id="bearer-prefix"),
        pytest.param("{head} {tail}", id="space-inside"),
        pytest.param("{t}.{t}", id="two-tokens-joined"),
    ],
)
@pytest.mark.parametrize("channel", ["refresh-body", "refresh-cookie", "logout-body"])
def test_mangled_refresh_token_text(alice, channel, value):
    token = alice["refresh"]
    raw = value.format(t=token, head=token[:20], tail=token[20:])
    assert_refused(channel, raw, 401, "token_invalid")
    assert_still_works(alice)


@pytest.mark.parametrize("path", ["/api/auth/refresh/", "/api/auth/logout/"])
def test_duplicate_json_keys_in_the_body_the_last_one_counts(alice, path):
    # One JSON parser reads the body, so there is no disagreement to exploit: the last
    # "refresh" is the one presented, and a garbage one there is refused.
    body = '{"refresh": "%s", "refresh": "garbage"}' % alice["refresh"]  # noqa: UP031
    before = snapshot()
    response = APIClient().post(path, body, content_type="application/json")
    assert_error(response, 401, "token_invalid")
    assert snapshot() == before
    assert_still_works(alice)


def test_sid_of_a_session_that_never_existed(alice):
    forged = claims(alice["refresh"])
    forged["sid"] = str(uuid.uuid4())
    before = snapshot()
    assert_error(via_body(sign(forged)), 401, "session_not_found")
    assert via_logout(sign(forged)).status_code == 204  # nothing to end
    assert snapshot() == before
    assert_still_works(alice)
