"""``TOKEN_SESSIONS["REVOCATION_BACKEND"]``: a dotted path, and a project's own backend.

The backend a project plugs in is told of every revocation after it commits, is asked on
every authenticated request, and decides: through HTTP, its answer is the answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_token_sessions import services
from django_token_sessions.revocation import (
    NoRevocationBackend,
    PendingCheck,
    RevocationBackend,
    get_revocation_backend,
)
from django_token_sessions.revocation.cache import CacheBackend
from django_token_sessions.revocation.db import DatabaseBackend
from django_token_sessions.revocation.redis import RedisBackend
from tests.support.backends import BACKENDS
from tests.support.clients import bearer

pytestmark = pytest.mark.django_db


class SetBackend(RevocationBackend):
    """A project's backend: a set of revoked session ids, in the process's memory."""

    revoked: set[str] = set()
    users: dict[str, int] = {}
    asked: list[str] = []

    def is_revoked(self, token: Any) -> bool:
        self.asked.append(str(token.session_id))
        if str(token.session_id) in self.revoked:
            return True
        return token.issued_at_ms < self.users.get(str(token.user_id), 0)

    def sessions_revoked(self, session_ids: Any) -> None:
        self.revoked.update(str(pk) for pk in session_ids)

    def user_revoked(self, user_claim: Any, before_ms: int, keep_session_id: Any) -> None:
        self.users[str(user_claim)] = before_ms

    def reset(self) -> None:
        self.revoked.clear()
        self.users.clear()
        self.asked.clear()


CUSTOM = f"{__name__}.SetBackend"


@pytest.fixture
def custom_backend():
    SetBackend().reset()
    with override_settings(TOKEN_SESSIONS={"REVOCATION_BACKEND": CUSTOM}):
        yield
    SetBackend().reset()


def me(access: str) -> tuple[int, str | None]:
    response = bearer(access).get("/api/me/")
    return response.status_code, response.json().get("code")


def test_a_projects_own_backend_is_told_of_revocations_and_decides(user, login, custom_backend):
    body, other = login(user), login(user)
    assert isinstance(get_revocation_backend(), SetBackend)
    assert me(body["access"]) == (200, None)
    assert SetBackend.asked == [body["session"]["id"]]

    response = bearer(body["access"]).delete(f"/api/auth/sessions/{other['session']['id']}/")
    assert response.status_code in (200, 204), response.content
    assert SetBackend.revoked == {other["session"]["id"]}
    assert me(other["access"]) == (401, "session_revoked")
    assert me(body["access"]) == (200, None)

    # Its answer is the answer: a session it calls revoked is refused, whatever the row says.
    SetBackend.revoked.add(body["session"]["id"])
    assert me(body["access"]) == (401, "session_revoked")


def test_a_projects_backend_hears_logout_everywhere_once(user, login, custom_backend):
    body = login(user)
    services.logout_everywhere(user)
    assert list(SetBackend.users) == [str(user.pk)]
    assert me(body["access"]) == (401, "session_revoked")


def test_one_instance_per_process_and_a_new_one_when_the_settings_change(custom_backend):
    first = get_revocation_backend()
    assert get_revocation_backend() is first
    with override_settings(TOKEN_SESSIONS={"REVOCATION_BACKEND": BACKENDS["db"]}):
        assert type(get_revocation_backend()) is DatabaseBackend
    assert type(get_revocation_backend()) is SetBackend
    assert get_revocation_backend() is not first  # settings changed twice: built again


@pytest.mark.parametrize(
    ("name", "backend_class"),
    [
        ("cache", CacheBackend),
        ("redis", RedisBackend),
        ("db", DatabaseBackend),
        ("off", NoRevocationBackend),
    ],
)
def test_each_shipped_backend_by_its_dotted_path(name, backend_class):
    with override_settings(TOKEN_SESSIONS={"REVOCATION_BACKEND": BACKENDS[name]}):
        assert type(get_revocation_backend()) is backend_class


def test_the_default_backend_is_the_cache_backend():
    assert type(get_revocation_backend()) is CacheBackend


def test_a_pending_check_answers_once_from_its_callable():
    calls: list[int] = []
    check = PendingCheck(lambda: bool(calls.append(1)))
    users: Any = object()
    assert check.prepare_user_query(users) is users
    assert check.result() is False
    check.cancel()
    assert calls == [1]


def test_the_base_class_refuses_to_answer_without_an_implementation():
    with pytest.raises(NotImplementedError):
        RevocationBackend().is_revoked(object())  # type: ignore[arg-type]
