"""``django_token_sessions.context``: the session the current request authenticated with."""

from __future__ import annotations

import uuid
from contextvars import copy_context

import pytest
from django.core.signals import request_started

from django_token_sessions.context import (
    current_session_id,
    reset_current_session,
    set_current_session,
)
from tests.support.clients import bearer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_session_left_behind():
    set_current_session(None)
    yield
    set_current_session(None)


def test_set_get_and_reset():
    assert current_session_id() is None
    session_id = uuid.uuid4()
    set_current_session(session_id)
    assert current_session_id() == session_id
    reset_current_session()
    assert current_session_id() is None


def test_the_next_request_starts_with_no_session():
    # A thread serves one request after another: what the last one authenticated with
    # must not be taken for the next one's (the password-change receiver reads it).
    set_current_session(uuid.uuid4())
    request_started.send(sender=None, environ={})
    assert current_session_id() is None


def test_each_context_has_its_own_session():
    mine = uuid.uuid4()
    set_current_session(mine)

    def elsewhere() -> uuid.UUID | None:
        set_current_session(uuid.uuid4())
        return current_session_id()

    assert copy_context().run(elsewhere) != mine
    assert current_session_id() == mine


def test_an_authenticated_request_records_its_session(user, login):
    body = login(user)
    set_current_session(None)
    assert bearer(body["access"]).get("/api/me/").status_code == 200
    assert current_session_id() == uuid.UUID(body["session"]["id"])
