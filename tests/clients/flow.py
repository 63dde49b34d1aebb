"""The whole device-session flow of a native app, through the generated Python client only.

Run by ``tox -e clients`` (tests/clients/serve.py starts the example project and passes its
URL as the first argument): ``python tests/clients/flow.py http://127.0.0.1:PORT``. The
package ``token_sessions_client`` is what ``openapi-python-client`` generated from the
example project's schema; this script is checked with ``mypy --strict`` together with it.

Body transport throughout (``X-Token-Transport: body``): the refresh token travels in JSON,
and each client's cookie jar refuses every cookie, so nothing works by a cookie by accident.
Every step asserts the status and the typed body; any failure exits non-zero.
"""

from __future__ import annotations

import base64
import json
import sys
import uuid
from http import HTTPStatus
from http.cookiejar import DefaultCookiePolicy
from typing import TypeVar

from token_sessions_client import AuthenticatedClient, Client
from token_sessions_client.api.token_sessions import (
    token_sessions_login,
    token_sessions_logout,
    token_sessions_logout_all,
    token_sessions_refresh,
    token_sessions_session_list,
    token_sessions_session_rename,
    token_sessions_session_revoke,
)
from token_sessions_client.models import (
    DeviceSession,
    Login,
    LoginResponse,
    LogoutAll,
    RenameSession,
    ScopeEnum,
    TokenResponse,
    TokenSessionsError,
    TokenSessionsLoginXTokenTransport,
    TokenSessionsLogoutBody,
    TokenSessionsRefreshBody,
)
from token_sessions_client.types import Response, Unset

USERNAME = "demo"
PASSWORD = "demo-password"  # example_project/example/management/commands/create_demo_user.py
REFRESH_COOKIE = "tokensessions_refresh"

T = TypeVar("T")
R = TypeVar("R")  # what a Response parses as: the union of its documented bodies
C = TypeVar("C", Client, AuthenticatedClient)


class FlowError(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise FlowError(message)


def expect(response: Response[R], status: HTTPStatus, kind: type[T], step: str) -> T:
    """The parsed body of ``response``, which must have ``status`` and parse as ``kind``."""
    check(
        response.status_code == status,
        f"{step}: status {response.status_code.value}, expected {status.value}: "
        f"{response.content[:300]!r}",
    )
    check(
        REFRESH_COOKIE not in response.headers.get("set-cookie", ""),
        f"{step}: the body transport got a refresh cookie",
    )
    parsed = response.parsed
    check(isinstance(parsed, kind), f"{step}: body parsed as {type(parsed).__name__}, not {kind}")
    assert isinstance(parsed, kind)  # for mypy: check() above raised otherwise
    return parsed


def expect_no_content(response: Response[R], step: str) -> None:
    check(
        response.status_code == HTTPStatus.NO_CONTENT,
        f"{step}: status {response.status_code.value}, expected 204: {response.content[:300]!r}",
    )
    check(response.parsed is None, f"{step}: a 204 parsed as {response.parsed!r}")


def expect_error(response: Response[R], status: HTTPStatus, code: str, step: str) -> None:
    error = expect(response, status, TokenSessionsError, step)
    check(error.code == code, f"{step}: error code {error.code!r}, expected {code!r}")
    check(bool(error.detail), f"{step}: error without detail")


def without_cookies(client: C) -> C:
    """``client`` whose httpx cookie jar accepts no cookie (body transport only)."""
    client.get_httpx_client().cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client


def anonymous(base_url: str, user_agent: str) -> Client:
    return without_cookies(
        Client(
            base_url=base_url, headers={"User-Agent": user_agent}, raise_on_unexpected_status=True
        )
    )


def bearer(base_url: str, access: str, user_agent: str) -> AuthenticatedClient:
    return without_cookies(
        AuthenticatedClient(
            base_url=base_url,
            token=access,
            headers={"User-Agent": user_agent},
            raise_on_unexpected_status=True,
        )
    )


def jti(token: str) -> str:
    """The ``jti`` claim of a JWT, read without verifying it (the app cannot, nor needs to)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    check(isinstance(claims, dict) and isinstance(claims.get("jti"), str), "a token without jti")
    return str(claims["jti"])


def refresh_token(tokens: LoginResponse | TokenResponse, step: str) -> str:
    check(not isinstance(tokens.refresh, Unset), f"{step}: no refresh token in the body")
    assert isinstance(tokens.refresh, str)
    return tokens.refresh


def login(base_url: str, user_agent: str, step: str) -> LoginResponse:
    tokens = expect(
        token_sessions_login.sync_detailed(
            client=anonymous(base_url, user_agent),
            body=Login(username=USERNAME, password=PASSWORD),
            x_token_transport=TokenSessionsLoginXTokenTransport.BODY,
        ),
        HTTPStatus.OK,
        LoginResponse,
        step,
    )
    check(bool(tokens.access), f"{step}: empty access token")
    refresh_token(tokens, step)
    check(tokens.session.current, f"{step}: the new session is not marked current")
    return tokens


def sessions(client: AuthenticatedClient, step: str) -> list[DeviceSession]:
    listed = expect(
        token_sessions_session_list.sync_detailed(client=client), HTTPStatus.OK, list, step
    )
    check(all(isinstance(s, DeviceSession) for s in listed), f"{step}: not a list of sessions")
    return [s for s in listed if isinstance(s, DeviceSession)]


def run(base_url: str) -> list[str]:
    done: list[str] = []
    phone_ua, laptop_ua, tablet_ua = "FlowPhone/1.0", "FlowLaptop/1.0", "FlowTablet/1.0"

    # A wrong password: the shared error shape, typed.
    expect_error(
        token_sessions_login.sync_detailed(
            client=anonymous(base_url, phone_ua),
            body=Login(username=USERNAME, password="not-the-password"),
            x_token_transport=TokenSessionsLoginXTokenTransport.BODY,
        ),
        HTTPStatus.UNAUTHORIZED,
        "invalid_credentials",
        "login, wrong password",
    )
    done.append("bad login 401")

    phone = login(base_url, phone_ua, "login (phone)")
    laptop = login(base_url, laptop_ua, "login (laptop)")
    check(phone.session.id != laptop.session.id, "two logins share a session")
    done.append("2 logins")

    # Refresh with an Idempotency-Key, then the retry of a lost response (same token, same
    # key) gets the pair the lost response carried: the same refresh token (its jti).
    key = str(uuid.uuid4())
    old_refresh = refresh_token(phone, "login (phone)")
    rotated = expect(
        token_sessions_refresh.sync_detailed(
            client=anonymous(base_url, phone_ua),
            body=TokenSessionsRefreshBody(refresh=old_refresh),
            idempotency_key=key,
        ),
        HTTPStatus.OK,
        TokenResponse,
        "refresh",
    )
    new_refresh = refresh_token(rotated, "refresh")
    check(new_refresh != old_refresh, "refresh: the refresh token did not rotate")
    check(rotated.access != phone.access, "refresh: the access token did not change")
    retried = expect(
        token_sessions_refresh.sync_detailed(
            client=anonymous(base_url, phone_ua),
            body=TokenSessionsRefreshBody(refresh=old_refresh),
            idempotency_key=key,
        ),
        HTTPStatus.OK,
        TokenResponse,
        "refresh retried with the same Idempotency-Key",
    )
    check(
        jti(refresh_token(retried, "refresh retried")) == jti(new_refresh),
        "refresh retried: not the refresh token of the lost response",
    )
    done.append("refresh + idempotent retry")

    me = bearer(base_url, rotated.access, phone_ua)
    listed = sessions(me, "list")
    ids = {s.id for s in listed}
    check({phone.session.id, laptop.session.id} <= ids, f"list: {ids} misses a login")
    current = [s.id for s in listed if s.current]
    check(current == [phone.session.id], f"list: current is {current}, not the phone")
    done.append(f"list {len(listed)}")

    renamed = expect(
        token_sessions_session_rename.sync_detailed(
            phone.session.id, client=me, body=RenameSession(name="Flow phone")
        ),
        HTTPStatus.OK,
        DeviceSession,
        "rename",
    )
    check(renamed.id == phone.session.id, "rename: another session came back")
    check(renamed.name == "Flow phone", f"rename: name is {renamed.name!r}")
    check(renamed.custom_name == "Flow phone", f"rename: custom_name is {renamed.custom_name!r}")
    done.append("rename")

    expect_no_content(
        token_sessions_session_revoke.sync_detailed(laptop.session.id, client=me),
        "revoke the laptop",
    )
    expect_error(
        token_sessions_session_list.sync_detailed(
            client=bearer(base_url, laptop.access, laptop_ua)
        ),
        HTTPStatus.UNAUTHORIZED,
        "session_revoked",
        "the revoked laptop's access token",
    )
    expect_error(
        token_sessions_refresh.sync_detailed(
            client=anonymous(base_url, laptop_ua),
            body=TokenSessionsRefreshBody(refresh=refresh_token(laptop, "login (laptop)")),
        ),
        HTTPStatus.UNAUTHORIZED,
        "session_revoked",
        "the revoked laptop's refresh token",
    )
    done.append("revoke other")

    tablet = login(base_url, tablet_ua, "login (tablet)")
    expect_no_content(
        token_sessions_logout_all.sync_detailed(client=me, body=LogoutAll(scope=ScopeEnum.OTHERS)),
        "logout-others",
    )
    expect_error(
        token_sessions_refresh.sync_detailed(
            client=anonymous(base_url, tablet_ua),
            body=TokenSessionsRefreshBody(refresh=refresh_token(tablet, "login (tablet)")),
        ),
        HTTPStatus.UNAUTHORIZED,
        "session_revoked",
        "the tablet's refresh token after logout-others",
    )
    remaining = [s.id for s in sessions(me, "list after logout-others")]
    check(remaining == [phone.session.id], f"logout-others left {remaining}")
    done.append("logout-others")

    expect_no_content(
        token_sessions_logout.sync_detailed(
            client=me, body=TokenSessionsLogoutBody(refresh=new_refresh)
        ),
        "logout",
    )
    expect_error(
        token_sessions_session_list.sync_detailed(client=me),
        HTTPStatus.UNAUTHORIZED,
        "session_revoked",
        "the access token after logout",
    )
    expect_error(
        token_sessions_refresh.sync_detailed(
            client=anonymous(base_url, phone_ua), body=TokenSessionsRefreshBody(refresh=new_refresh)
        ),
        HTTPStatus.UNAUTHORIZED,
        "session_revoked",
        "the refresh token after logout",
    )
    done.append("logout")
    return done


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: flow.py BASE_URL", file=sys.stderr)
        return 2
    try:
        done = run(argv[1].rstrip("/"))
    except FlowError as exc:
        print(f"generated Python client flow FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"generated Python client flow OK: {', '.join(done)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
