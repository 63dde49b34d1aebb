"""Who the login throttle counts: one client address, and a budget per username.

Everything goes through HTTP to ``/api/auth/login/``. tests/settings.py has no
``REST_FRAMEWORK`` on purpose: DRF's own ``NUM_PROXIES`` is unset, as in a typical project,
which is where DRF's client-address guess trusts a forged ``X-Forwarded-For``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework.throttling import BaseThrottle

from django_token_sessions.models import DeviceSession
from tests.support.clients import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login/"
LIMIT = 3
#: Only the per-address scope, 3 attempts a minute.
PER_ADDRESS = {"LOGIN_THROTTLE_RATE": f"{LIMIT}/min", "LOGIN_USERNAME_THROTTLE_RATE": None}
#: Only the per-username scope, 3 attempts an hour.
PER_USERNAME = {"LOGIN_THROTTLE_RATE": None, "LOGIN_USERNAME_THROTTLE_RATE": f"{LIMIT}/hour"}
ATTACKER = "198.51.100.66"
VICTIM = "203.0.113.7"


@pytest.fixture
def hashes(user: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash computed from now on: a check, or the dummy hash Django
    computes for an unknown username."""
    calls: list[str] = []
    for name in ("encode", "verify"):
        original = getattr(MD5PasswordHasher, name)

        def counted(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(_original.__name__)  # MD5's verify() calls encode(): both count
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(MD5PasswordHasher, name, counted)
    return calls


def attempt(password: str = "wrong", username: Any = "alice", **meta: Any) -> Any:
    # json.dumps escapes a lone surrogate (the server's parser restores it); DRF's
    # renderer, behind format="json", would fail to encode it on the client side.
    body = json.dumps({"username": username, "password": password})
    return APIClient().post(
        LOGIN, body, content_type="application/json", HTTP_X_TOKEN_TRANSPORT="body", **meta
    )


def through_proxies(n: int, client: str, sent_xff: str | None = None, **sent: str) -> dict:
    """The WSGI environ of a request from ``client`` that passed ``n`` trusted proxies, each
    appending the address it saw to ``X-Forwarded-For``. ``sent_xff`` and ``sent`` are the
    headers the client itself sent (which the proxies pass on)."""
    seen = [client] + [f"10.0.0.{i}" for i in range(1, n + 1)]  # proxy i sees seen[i - 1]
    chain = ([sent_xff] if sent_xff is not None else []) + seen[:n]
    meta: dict[str, str] = {"REMOTE_ADDR": seen[n], **sent}
    if chain:
        meta["HTTP_X_FORWARDED_FOR"] = ", ".join(chain)
    return meta


def spoofed(address: str) -> dict[str, str]:
    """Every header a client can use to claim an address."""
    return {
        "sent_xff": address,
        "HTTP_X_REAL_IP": address,
        "HTTP_FORWARDED": f"for={address};proto=https",
    }


def assert_throttled(response: Any, window: int) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= window


# -- one client address, whatever the headers say -------------------------------------


@pytest.mark.parametrize("num_proxies", [0, 1, 2])
def test_rotating_forwarding_headers_never_escapes_the_limit(user, num_proxies):
    with override_settings(TOKEN_SESSIONS={**PER_ADDRESS, "NUM_PROXIES": num_proxies}):
        responses = [
            attempt(**through_proxies(num_proxies, ATTACKER, **spoofed(f"192.0.2.{i}")))
            for i in range(1, LIMIT + 2)
        ]
    assert [r.status_code for r in responses] == [401] * LIMIT + [429]
    assert_throttled(responses[-1], window=60)


@pytest.mark.parametrize("num_proxies", [0, 1, 2])
def test_claiming_a_victims_address_never_locks_the_victim_out(user, num_proxies):
    with override_settings(TOKEN_SESSIONS={**PER_ADDRESS, "NUM_PROXIES": num_proxies}):
        for _ in range(LIMIT + 1):
            last = attempt(**through_proxies(num_proxies, ATTACKER, **spoofed(VICTIM)))
        victim = attempt(PASSWORD, **through_proxies(num_proxies, VICTIM))
    assert last.status_code == 429
    assert victim.status_code == 200, victim.content


@override_settings(TOKEN_SESSIONS={**PER_ADDRESS, "NUM_PROXIES": 1})
def test_behind_one_proxy_each_real_client_has_its_own_budget(user):
    # X-Forwarded-For: "<spoofed>, <client>": only the part the proxy wrote counts.
    first = [
        attempt(**through_proxies(1, "203.0.113.10", sent_xff=f"192.0.2.{i}"))
        for i in range(LIMIT + 1)
    ]
    second = attempt(**through_proxies(1, "203.0.113.11", sent_xff="203.0.113.10"))
    assert [r.status_code for r in first] == [401] * LIMIT + [429]
    assert second.status_code == 401


@override_settings(TOKEN_SESSIONS=PER_ADDRESS)
def test_after_the_limit_the_right_password_is_refused_before_any_hash(hashes):
    for i in range(LIMIT):
        assert attempt(**through_proxies(0, ATTACKER, sent_xff=f"192.0.2.{i}")).status_code == 401
    hashed = len(hashes)
    assert hashed >= LIMIT

    response = attempt(PASSWORD, **through_proxies(0, ATTACKER, sent_xff="192.0.2.99"))

    assert_throttled(response, window=60)
    assert len(hashes) == hashed  # the throttled request never reached the hasher
    assert not DeviceSession.objects.exists()


@override_settings(TOKEN_SESSIONS={**PER_ADDRESS, "NUM_PROXIES": 1})
def test_the_session_stores_the_address_the_throttle_counts(user):
    def from_client(password: str, spoof: str) -> Any:
        return attempt(password, **through_proxies(1, VICTIM, **spoofed(spoof)))

    codes = [
        from_client("wrong", "192.0.2.1").status_code,
        from_client(PASSWORD, "192.0.2.2").status_code,
        from_client("wrong", "192.0.2.3").status_code,
        from_client("wrong", "192.0.2.4").status_code,
    ]
    assert codes == [401, 200, 401, 429]
    assert DeviceSession.objects.get().ip_address == VICTIM


@pytest.mark.parametrize("garbage", ["unknown", "_hidden", "300.1.2.{i}", "2001:db8::g{i}", "x{i}"])
@override_settings(TOKEN_SESSIONS={**PER_ADDRESS, "NUM_PROXIES": 1})
def test_an_unparsable_proxy_hop_counts_as_the_proxy(user, garbage):
    # What the trusted proxy wrote is not an address: the request is counted (and stored)
    # as the proxy's own, so varying the garbage never buys a fresh budget.
    def meta(i: int) -> dict[str, str]:
        return {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": garbage.format(i=i)}

    responses = [attempt(**meta(i)) for i in range(LIMIT - 1)]
    responses.append(attempt(PASSWORD, **meta(LIMIT)))
    responses.append(attempt(**meta(LIMIT + 1)))
    assert [r.status_code for r in responses] == [401] * (LIMIT - 1) + [200, 429]
    assert DeviceSession.objects.get().ip_address == "10.0.0.1"


@pytest.mark.parametrize("remote", [None, "", "garbage", "unix:/run/gunicorn.sock"])
@override_settings(TOKEN_SESSIONS=PER_ADDRESS)
def test_no_usable_remote_addr_shares_one_budget_and_never_fails(user, remote):
    def meta(i: int) -> dict[str, Any]:
        claimed = spoofed(f"192.0.2.{i}")
        return {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": claimed.pop("sent_xff"), **claimed}

    responses = [attempt(**meta(i)) for i in range(LIMIT + 1)]
    assert [r.status_code for r in responses] == [401] * LIMIT + [429]


@pytest.mark.parametrize(
    ("num_proxies", "spellings", "elsewhere"),
    [
        # One IPv6 host owns its whole /64: the budget is the /64's.
        (
            0,
            ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:DB8:1:2:0:0:0:5"],
            "2001:db8:1:3::1",
        ),
        # An IPv4 client on a dual-stack socket is its IPv4 address, not the ::ffff:0:0/64.
        (0, ["::ffff:198.51.100.7", "198.51.100.7", "::ffff:c633:6407"], "::ffff:198.51.100.8"),
        # Proxies that append the client's port (Azure Application Gateway does).
        (1, ["203.0.113.7:50001", "203.0.113.7:50002", " 203.0.113.7 "], "203.0.113.8:50001"),
        (1, ["[2001:db8::7]:443", "[2001:db8::8]:443", "2001:db8::9"], "[2001:db8:0:1::7]:443"),
    ],
)
def test_spellings_of_one_client_share_a_budget(user, num_proxies, spellings, elsewhere):
    def meta(address: str) -> dict[str, str]:
        if num_proxies == 0:
            return {"REMOTE_ADDR": address}
        return {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": f"192.0.2.1, {address}"}

    with override_settings(TOKEN_SESSIONS={**PER_ADDRESS, "NUM_PROXIES": num_proxies}):
        codes = [attempt(**meta(address)).status_code for address in spellings]
        codes.append(attempt(**meta(spellings[0])).status_code)
        other = attempt(**meta(elsewhere)).status_code
    assert codes == [401] * LIMIT + [429]
    assert other == 401


@override_settings(TOKEN_SESSIONS={**PER_ADDRESS, "NUM_PROXIES": 1})
def test_a_session_stores_the_full_ipv6_address_not_its_64(user):
    attempt(PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="[2001:db8:1:2::7]:443")
    assert DeviceSession.objects.get().ip_address == "2001:db8:1:2::7"


def test_drfs_client_address_guess_is_never_consulted(user, monkeypatch):
    def get_ident(self: Any, request: Any) -> str:
        raise AssertionError("DRF's get_ident() trusts a forged X-Forwarded-For")

    monkeypatch.setattr(BaseThrottle, "get_ident", get_ident)
    response = attempt(PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert response.status_code == 200, response.content


# -- one budget per username ------------------------------------------------------------


@override_settings(TOKEN_SESSIONS=PER_USERNAME)
def test_many_addresses_against_one_username_hit_its_limit(hashes, make_user):
    make_user("bob")
    responses = [attempt(REMOTE_ADDR=f"198.51.100.{i}") for i in range(1, LIMIT + 2)]
    assert [r.status_code for r in responses] == [401] * LIMIT + [429]
    assert_throttled(responses[-1], window=3600)

    hashed = len(hashes)
    assert attempt(PASSWORD, REMOTE_ADDR="198.51.100.200").status_code == 429
    assert len(hashes) == hashed  # refused before the hasher
    assert attempt(username="bob", REMOTE_ADDR="198.51.100.201").status_code == 401


@override_settings(TOKEN_SESSIONS=PER_USERNAME)
def test_case_whitespace_and_width_variants_share_one_budget(user):
    variants = ["Alice", " ALICE", "alice\t", "\uff41\uff4c\uff49\uff43\uff45"]  # fullwidth "alice"
    codes = [
        attempt(username=name, REMOTE_ADDR=f"198.51.100.{i}").status_code
        for i, name in enumerate(variants, start=1)
    ]
    assert codes == [401] * LIMIT + [429]


HOSTILE_STRINGS = [
    "\x00",
    "alice\x00",
    "\udfff",
    "x" * 10_000,
    "",
    " ",
    "a b\r\nc",
    "\U0001f642" * 300,
]
HOSTILE_OTHERS = [["alice"], {"alice": 1}, None, True]


@override_settings(TOKEN_SESSIONS=PER_USERNAME)
def test_hostile_usernames_are_refused_cleanly(user):
    def attempts(username: Any) -> list[Any]:
        return [attempt(username=username, REMOTE_ADDR="198.51.100.9") for _ in range(LIMIT + 1)]

    for username in HOSTILE_STRINGS + HOSTILE_OTHERS + [12345]:
        responses = attempts(username)
        for response in responses:
            assert response.status_code < 500, (repr(username)[:40], response.content[:200])
            assert {"detail", "code"} <= set(response.json())
        if isinstance(username, (str, int)) and not isinstance(username, bool):
            # Counted like any username: the limit holds whatever the characters.
            assert responses[-1].status_code == 429, repr(username)[:40]
        else:
            # No username to count; the serializer refuses it before any password check.
            assert {r.status_code for r in responses} == {400}, repr(username)


@override_settings(TOKEN_SESSIONS={"LOGIN_THROTTLE_RATE": None})
def test_the_username_limit_is_on_by_default(user):
    from django_token_sessions.conf import DEFAULTS

    limit = int(DEFAULTS["LOGIN_USERNAME_THROTTLE_RATE"].split("/")[0])
    codes = [attempt(REMOTE_ADDR=f"198.51.100.{i}").status_code for i in range(limit + 1)]
    assert codes == [401] * limit + [429]


@override_settings(
    TOKEN_SESSIONS={"LOGIN_THROTTLE_RATE": None, "LOGIN_USERNAME_THROTTLE_RATE": None}
)
def test_the_username_limit_can_be_turned_off(user):
    assert {attempt(REMOTE_ADDR=f"198.51.100.{i}").status_code for i in range(30)} == {401}


@override_settings(
    TOKEN_SESSIONS={"LOGIN_THROTTLE_RATE": "3/min", "LOGIN_USERNAME_THROTTLE_RATE": "3/hour"}
)
def test_both_limits_at_once_retry_after_the_longer_wait(user):
    responses = [attempt() for _ in range(LIMIT + 1)]
    assert_throttled(responses[-1], window=3600)
    assert int(responses[-1]["Retry-After"]) > 60


def test_a_429_says_when_to_retry_even_after_the_rate_was_lowered(user):
    # DRF's own wait() is None once more attempts are recorded than the new rate allows:
    # a 429 without Retry-After.
    with override_settings(TOKEN_SESSIONS={**PER_ADDRESS, "LOGIN_THROTTLE_RATE": "5/min"}):
        assert {attempt().status_code for _ in range(5)} == {401}
    with override_settings(TOKEN_SESSIONS=PER_ADDRESS):
        assert_throttled(attempt(), window=60)


@override_settings(TOKEN_SESSIONS={**PER_USERNAME, "LOGIN_THROTTLE_RATE": "2/min"})
def test_a_body_that_does_not_parse_gets_the_views_error_and_still_counts(user):
    # The username throttle reads the body before the view: a body that is not JSON must
    # give the view's own 400/415, and still spend its address's budget.
    client = APIClient()
    responses = [
        client.post(LOGIN, b'{"username": "alice",', content_type="application/json"),
        client.post(LOGIN, {"username": "alice", "password": PASSWORD}),  # a form post
    ]
    assert [(r.status_code, r.json()["code"]) for r in responses] == [
        (400, "parse_error"),
        (415, "unsupported_media_type"),
    ]
    assert_throttled(attempt(PASSWORD), window=60)
