"""The characters of the claims we read, through HTTP: a token signed with the server's own
key whose ``jti``, user id or ``token_type`` holds a NUL, a lone surrogate, a control
character or too many characters is ``token_invalid`` (401 JSON) on every database, and
changes nothing: no session row, no reuse-detection revocation, no signal.

These claims reach SQL (the rotation's compare-and-swap, the user query, simplejwt's
blacklist, the legacy exchange record) and cache keys (the user's "not before" marker). A
NUL is refused by PostgreSQL, a lone surrogate by every driver (it does not encode to
UTF-8), a control character by memcached-style key validation: each would be a 500, so the
claims are checked before any of them is used, in one place (``tokens.check_claims``).
"""

from __future__ import annotations

import unicodedata
import uuid
from contextlib import ExitStack
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_token_sessions import signals
from django_token_sessions.contrib.legacy.models import LegacyTokenExchange
from tests.support.backends import BACKENDS
from tests.support.clients import bearer
from tests.support.signals import catch_signal
from tests.test_hostile_tokens import (
    CHANNELS,
    assert_error,
    assert_still_works,
    claims,
    sign,
    snapshot,
)

pytestmark = pytest.mark.django_db

ALL_SIGNALS = (
    signals.session_created,
    signals.session_rotated,
    signals.session_revoked,
    signals.refresh_token_reused,
    signals.user_logged_out_everywhere,
)
TEN_KB = "x" * 10 * 1024
#: The rules pinned here, not imported: a token id is 1-64 printable ASCII characters (the
#: session row's column), a user id claim at most 255 characters of any text that encodes
#: to UTF-8 and holds no control character.
MAX_JTI_LENGTH = 64
MAX_USER_CLAIM_LENGTH = 255

#: Values no claim we read may hold.
BAD_TEXT = {
    "nul": "\x00",
    "nul-prefix": "\x00abc",
    "nul-inside": "ab\x00c",
    "surrogate-high": "\ud800",
    "surrogate-low": "\udfff",
    "surrogate-inside": "ab\udfffc",
    "c0-escape": "ab\x1bc",
    "c0-newline": "ab\nc",
    "c0-tab": "ab\tc",
    "del": "ab\x7fc",
    "c1-nel": "ab\x85c",
    "c1-csi": "ab\x9bc",
    "empty": "",
    "ten-kb": TEN_KB,
}
#: Fine for a user id (a username may be Unicode), not for a token id (ASCII only).
BAD_JTI_ONLY = {
    "space": "ab c",
    "non-ascii": "caf\u00e9",
    "emoji": "\U0001f600",
    "too-long": "x" * (MAX_JTI_LENGTH + 1),
}
BAD_USER_ONLY = {"too-long": "x" * (MAX_USER_CLAIM_LENGTH + 1)}

#: name -> (send, kind of token); the refresh-token endpoints and an authenticated GET.
ENDPOINTS = {name: CHANNELS[name] for name in ("refresh-body", "logout-body", "sessions-bearer")}


def _cases() -> list[Any]:
    params = []
    for claim, extra in (("jti", BAD_JTI_ONLY), ("user_id", BAD_USER_ONLY), ("token_type", {})):
        for name, value in {**BAD_TEXT, **extra}.items():
            for endpoint in ENDPOINTS:
                # The revocation check (cache or database) concerns access tokens only.
                for check in ("cache", "db") if endpoint == "sessions-bearer" else ("cache",):
                    case = f"{claim}-{name}-{endpoint}-{check}"
                    params.append(pytest.param(claim, value, endpoint, check, id=case))
    return params


def _expected(endpoint: str, raw: str) -> tuple[int, str]:
    # A body over the refresh field's 8,192 characters never reaches the token checks.
    if endpoint != "sessions-bearer" and len(raw) > 8192:
        return 400, "invalid_request"
    return 401, "token_invalid"


@pytest.fixture
def by_username(settings: Any) -> None:
    """The user id claim is the username: a string claim that reaches SQL as text."""
    settings.SIMPLE_JWT = {"USER_ID_FIELD": "username", "USER_ID_CLAIM": "user_id"}


@pytest.fixture
def alice(by_username: None, user: Any, login: Any, make_user: Any) -> dict[str, Any]:
    """Alice's login body; Bob, a bystander, is signed in too (his row must not change)."""
    login(make_user("bob"))
    return login(user)


def assert_refused_quietly(send: Any, raw: str, status: int, code: str) -> None:
    """``raw`` is refused with ``code``; no row changes and no signal is sent."""
    before = snapshot()
    with ExitStack() as stack:
        sent = [stack.enter_context(catch_signal(signal)) for signal in ALL_SIGNALS]
        response = send(raw)
    assert_error(response, status, code)
    assert snapshot() == before
    assert sent == [[]] * len(ALL_SIGNALS)


@pytest.mark.parametrize(("claim", "value", "endpoint", "check"), _cases())
def test_bad_characters_in_a_signed_claim_are_token_invalid(
    settings, alice, claim, value, endpoint, check
):
    settings.TOKEN_SESSIONS = {"REVOCATION_BACKEND": BACKENDS[check]}
    send, kind = ENDPOINTS[endpoint]
    forged = claims(alice[kind])
    forged[claim] = value
    raw = sign(forged)
    assert_refused_quietly(send, raw, *_expected(endpoint, raw))
    assert_still_works(alice)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_the_current_jti_with_a_nul_appended_is_not_a_replay(alice, endpoint):
    """The session's own jti plus a NUL: not the current token (no rotation), not an
    older one of the chain either (no reuse revocation)."""
    send, kind = ENDPOINTS[endpoint]
    forged = claims(alice[kind])
    forged["jti"] = claims(alice["refresh"])["jti"] + "\x00"
    assert_refused_quietly(send, sign(forged), 401, "token_invalid")
    assert_still_works(alice)


# -- what must still pass --------------------------------------------------------------------


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("z\u00fcrich-\u00e9t\u00e9", id="latin-1"),
        pytest.param("\u0430\u043b\u0438\u0441\u0430", id="cyrillic"),
        pytest.param("\u5c71\u7530", id="cjk"),
        pytest.param("cat-\U0001f431", id="astral-plane"),
        pytest.param("d\u0301\u200d", id="combining-and-zero-width-joiner"),
        pytest.param("a b.c+d@e-f_g", id="punctuation-and-space"),
        pytest.param("u" * 150, id="max-username-length"),
    ],
)
def test_unicode_usernames_as_the_user_id_claim_still_work(by_username, make_user, login, username):
    tokens = login(make_user(username))
    assert claims(tokens["access"])["user_id"] == username
    assert bearer(tokens["access"]).get("/api/auth/sessions/").status_code == 200
    assert_still_works(tokens)
    assert CHANNELS["logout-body"][0](tokens["refresh"]).status_code == 204


@pytest.mark.parametrize(
    "jti",
    ["0" * MAX_JTI_LENGTH, "a", "AZaz09-_.~!$&'()*+,;=:@/?#[]{}|^`\"<>%\\"],
    ids=["max-length", "one-char", "every-ascii-punctuation"],
)
def test_any_printable_ascii_jti_is_a_well_formed_token_id(alice, jti):
    """An access token's jti is never compared to anything: any well-formed one passes."""
    forged = claims(alice["access"])
    forged["jti"] = jti
    assert bearer(sign(forged)).get("/api/auth/sessions/").status_code == 200


# -- legacy (plain simplejwt) tokens, while they are adopted -----------------------------------


def _legacy(alice: dict[str, Any], kind: str) -> dict[str, Any]:
    legacy = claims(alice[kind])
    del legacy["sid"]
    legacy.pop("session_exp", None)
    legacy.pop("iat_ms", None)
    legacy["jti"] = uuid.uuid4().hex
    return legacy


def _legacy_cases() -> list[Any]:
    params = []
    for claim, extra in (
        ("jti", {"too-long": "x" * 256, "space": "ab c", "non-ascii": "caf\u00e9"}),
        ("user_id", BAD_USER_ONLY),
        ("token_type", {}),
    ):
        for name, value in {**BAD_TEXT, **extra}.items():
            if name == "ten-kb":
                continue  # over the body limit: see the session-token cases
            params.append(pytest.param(claim, value, id=f"{claim}-{name}"))
    return params


@pytest.mark.parametrize(("claim", "value"), _legacy_cases())
def test_bad_characters_in_a_legacy_refresh_token(alice, claim, value):
    legacy = _legacy(alice, "refresh")
    legacy[claim] = value
    assert_refused_quietly(CHANNELS["refresh-body"][0], sign(legacy), 401, "token_invalid")
    assert not LegacyTokenExchange.objects.exists()
    assert_still_works(alice)


@override_settings(ROOT_URLCONF="tests.test_hostile_tokens")  # has /api/transition-me/
@pytest.mark.parametrize(("claim", "value"), _legacy_cases())
def test_bad_characters_in_a_legacy_access_token(alice, claim, value):
    legacy = _legacy(alice, "access")
    assert bearer(sign(legacy)).get("/api/transition-me/").status_code == 200  # undamaged
    legacy[claim] = value

    def send(raw: str) -> Any:
        return bearer(raw).get("/api/transition-me/")

    assert_refused_quietly(send, sign(legacy), 401, "token_invalid")


# -- a property: whatever the text, a well-formed answer ----------------------------------------


def _well_formed_jti(value: str) -> bool:
    return 0 < len(value) <= MAX_JTI_LENGTH and all("!" <= c <= "~" for c in value)


def _well_formed_user(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return (
        0 < len(value) <= MAX_USER_CLAIM_LENGTH
        and "\x00" not in value
        and not any(unicodedata.category(c) == "Cc" for c in value)
    )


#: Text biased towards the edges: controls, surrogates, ASCII punctuation, long runs.
_EDGY_TEXT = st.one_of(
    st.text(max_size=80),
    st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0xA0), max_size=80),
    st.text(st.sampled_from(["\x00", "\ud800", "\udfff", "\x7f", "\x85", "a", "~", " "])),
    st.integers(min_value=MAX_JTI_LENGTH - 1, max_value=MAX_USER_CLAIM_LENGTH + 2).map(
        lambda n: "y" * n
    ),
)


@hypothesis_settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(claim=st.sampled_from(["jti", "user_id"]), value=_EDGY_TEXT)
def test_any_text_in_an_access_tokens_claim_gets_a_well_formed_answer(alice, claim, value):
    """A read-only request: each example leaves the database as it found it."""
    forged = claims(alice["access"])
    forged[claim] = value
    before = snapshot()
    response = bearer(sign(forged)).get("/api/auth/sessions/")
    if claim == "jti":
        expected = (200, None) if _well_formed_jti(value) else (401, "token_invalid")
    elif not _well_formed_user(value):
        expected = (401, "token_invalid")
    else:
        expected = (200, None) if value == "alice" else (401, "user_not_found")
    assert response.status_code == expected[0], response.content
    if expected[1]:
        assert response.json()["code"] == expected[1]
    assert snapshot() == before
