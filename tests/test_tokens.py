"""``django_token_sessions.tokens``: minting a pair, decoding it, and the claim rules.

Hostile tokens (forged, tampered, confused, with bad characters) are the business of
tests/test_hostile_tokens.py and tests/test_claim_characters.py; here the module's public
functions on the tokens it mints itself.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError

from django_token_sessions.exceptions import TokenExpired, TokenInvalid
from django_token_sessions.tokens import (
    ISSUED_AT_MS_CLAIM,
    MAX_JTI_LENGTH,
    MAX_LEGACY_JTI_LENGTH,
    SESSION_EXPIRY_CLAIM,
    check_claims,
    decode_access,
    decode_refresh,
    is_token_id,
    is_user_claim,
    mint_pair,
    new_jti,
    reserved_claim_names,
)

SESSION = uuid.UUID("6f1c0b7e-3a52-4c1e-9d51-0e2f8a4b7c10")


def mint(*, user_id=42, now=None, absolute=timedelta(days=30), jti="a" * 32):
    now = now or timezone.now()
    return mint_pair(
        user_id=user_id, session_id=SESSION, jti=jti, now=now, absolute_expires_at=now + absolute
    )


def claims(**changes):
    """A payload that passes :func:`check_claims`, with ``changes`` (None removes a claim)."""
    payload = {"sid": str(SESSION), "jti": new_jti(), "token_type": "refresh", "user_id": 42}
    for name, value in changes.items():
        if value is None:
            payload.pop(name)
        else:
            payload[name] = value
    return payload


def test_a_minted_pair_decodes_to_its_session_user_and_jti():
    pair = mint(jti="b" * 32)
    refresh, access = decode_refresh(pair.refresh), decode_access(pair.access)
    assert (refresh.session_id, refresh.user_id, refresh.jti) == (SESSION, 42, "b" * 32)
    assert (access.session_id, access.user_id) == (SESSION, 42)
    assert access.jti != refresh.jti
    assert pair.refresh_jti == "b" * 32
    assert (pair.access_expires_at, pair.refresh_expires_at) == (
        access.expires_at,
        refresh.expires_at,
    )


def test_lifetimes_are_15_minutes_and_7_days_and_the_session_expiry_is_signed():
    now = timezone.now().replace(microsecond=0)
    pair = mint(now=now)
    refresh, access = decode_refresh(pair.refresh), decode_access(pair.access)
    assert access.expires_at - now == timedelta(minutes=15)
    assert refresh.expires_at - now == timedelta(days=7)
    assert refresh.session_expires_at == now + timedelta(days=30)
    assert access.issued_at_ms == int(now.timestamp() * 1000)


def test_no_token_outlives_the_sessions_absolute_expiry():
    now = timezone.now().replace(microsecond=0)
    pair = mint(now=now, absolute=timedelta(minutes=5))
    assert decode_access(pair.access).expires_at == now + timedelta(minutes=5)
    assert decode_refresh(pair.refresh).expires_at == now + timedelta(minutes=5)


def test_a_string_user_id_stays_a_string():
    user_id = str(uuid.uuid4())
    assert decode_access(mint(user_id=user_id).access).user_id == user_id


def test_each_decoder_refuses_the_other_kind():
    pair = mint()
    with pytest.raises(TokenInvalid):
        decode_refresh(pair.access)
    with pytest.raises(TokenInvalid):
        decode_access(pair.refresh)


def test_an_expired_token_is_token_expired():
    pair = mint(now=timezone.now() - timedelta(days=8), absolute=timedelta(days=30))
    with pytest.raises(TokenExpired):
        decode_refresh(pair.refresh)
    with pytest.raises(TokenExpired):
        decode_access(pair.access)


@pytest.mark.parametrize("raw", ["", b"", None, 42, "not-a-jwt", "caf\xe9".encode("latin-1")])
def test_what_is_not_a_token_is_token_invalid(raw):
    with pytest.raises(TokenInvalid):
        decode_refresh(raw)


def test_ascii_bytes_are_read_as_text():
    pair = mint()
    assert decode_refresh(pair.refresh.encode()).session_id == SESSION


def test_reserved_claim_names_follow_simple_jwt():
    assert reserved_claim_names() == {
        "user_id",
        "jti",
        "token_type",
        "exp",
        "iat",
        SESSION_EXPIRY_CLAIM,
        ISSUED_AT_MS_CLAIM,
    }
    with override_settings(SIMPLE_JWT={"USER_ID_CLAIM": "uid", "JTI_CLAIM": "id"}):
        names = reserved_claim_names()
    assert {"uid", "id"} <= names
    assert "user_id" not in names


def test_the_session_id_claim_is_a_setting():
    with override_settings(TOKEN_SESSIONS={"SESSION_ID_CLAIM": "dsid"}):
        pair = mint()
        assert decode_access(pair.access).payload["dsid"] == str(SESSION)
        assert "sid" not in decode_access(pair.access).payload


def test_new_jti_is_simplejwts_format_and_never_repeats():
    jtis = {new_jti() for _ in range(1000)}
    assert len(jtis) == 1000
    assert all(len(jti) == 32 and is_token_id(jti) for jti in jtis)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (1, True),
        (2**63 - 1, True),
        (2**63, False),
        (True, False),
        (1.0, False),
        ("alice", True),
        ("zürich", True),
        ("a" * 255, True),
        ("a" * 256, False),
        ("", False),
        ("ali\x00ce", False),
        ("\ud800", False),
        (None, False),
        (["alice"], False),
    ],
)
def test_is_user_claim(value, ok):
    assert is_user_claim(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a" * MAX_JTI_LENGTH, True),
        ("a" * (MAX_JTI_LENGTH + 1), False),
        ("has space", False),
        ("", False),
        (123, False),
    ],
)
def test_is_token_id(value, ok):
    assert is_token_id(value) is ok


def test_check_claims_accepts_what_we_mint():
    check_claims(claims())
    check_claims(claims(user_id="alice"))


@pytest.mark.parametrize(
    "changes",
    [
        {"sid": None},
        {"sid": "not-a-uuid"},
        {"jti": None},
        {"jti": "x" * (MAX_JTI_LENGTH + 1)},
        {"token_type": 7},
        {"user_id": True},
        {"user_id": None},
    ],
    ids=["no sid", "bad sid", "no jti", "long jti", "typed type", "bool user", "no user"],
)
def test_check_claims_refuses_a_claim_we_never_mint(changes):
    with pytest.raises(TokenError):
        check_claims(claims(**changes))


def test_a_legacy_token_needs_no_session_id_and_may_have_a_longer_jti():
    legacy = claims(sid=None, jti="x" * MAX_LEGACY_JTI_LENGTH)
    check_claims(legacy, legacy=True)
    with pytest.raises(TokenError):
        check_claims(legacy)
    with pytest.raises(TokenError):
        check_claims(claims(sid=None, jti="x" * (MAX_LEGACY_JTI_LENGTH + 1)), legacy=True)
