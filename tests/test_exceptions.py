"""``django_token_sessions.exceptions``: each error's status, stable code and detail."""

from __future__ import annotations

import inspect
import re

import pytest

from django_token_sessions import exceptions
from django_token_sessions.exceptions import (
    ACCESS_TOKEN_ERRORS,
    REFRESH_TOKEN_ERRORS,
    TokenInvalid,
    TokenSessionError,
)

#: Every error class the module defines, the base class left out.
ERRORS = [
    cls
    for _, cls in inspect.getmembers(exceptions, inspect.isclass)
    if issubclass(cls, TokenSessionError)
    and cls is not TokenSessionError
    and cls.__module__ == exceptions.__name__
]
STATUSES = {400, 401, 403, 413, 500, 503}


def test_the_module_defines_the_errors_the_views_answer_with():
    assert len(ERRORS) >= 17


def test_each_error_has_a_code_of_its_own():
    # Clients branch on ``code``: two classes sharing one would be told apart by nobody.
    codes = [cls.code for cls in ERRORS]
    assert len(codes) == len(set(codes)), sorted(codes)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_each_error_has_a_status_a_snake_case_code_and_a_default_detail(cls):
    assert cls.status_code in STATUSES
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code)
    error = cls()
    assert error.detail == str(cls.default_detail)
    assert error.detail
    assert str(error) == error.detail


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_a_detail_given_replaces_the_default_and_keeps_the_code(cls):
    error = cls("Something precise.")
    assert (error.detail, error.code, error.status_code) == (
        "Something precise.",
        cls.code,
        cls.status_code,
    )


def test_the_base_class_is_an_invalid_token():
    assert (TokenSessionError.code, TokenSessionError.status_code) == ("token_invalid", 401)
    assert TokenInvalid.code == TokenSessionError.code
    assert isinstance(TokenInvalid(), Exception)


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (exceptions.TokenReused, 401, "token_reused"),
        (exceptions.SessionRevoked, 401, "session_revoked"),
        (exceptions.CsrfFailed, 403, "csrf_failed"),
        (exceptions.RequestTooLarge, 413, "request_too_large"),
        (exceptions.InvalidRequest, 400, "invalid_request"),
        (exceptions.ServiceUnavailable, 503, "service_unavailable"),
        (exceptions.RefreshTokenExposed, 500, "refresh_token_exposed"),
    ],
)
def test_codes_and_statuses_clients_rely_on(cls, status, code):
    assert (cls.status_code, cls.code) == (status, code)


def test_refusing_a_token_is_always_a_401():
    for cls in {*ACCESS_TOKEN_ERRORS, *REFRESH_TOKEN_ERRORS}:
        assert cls.status_code == 401, cls
    # A replay is a refresh token's fault only; an access token is never "reused".
    assert exceptions.TokenReused in REFRESH_TOKEN_ERRORS
    assert exceptions.TokenReused not in ACCESS_TOKEN_ERRORS
