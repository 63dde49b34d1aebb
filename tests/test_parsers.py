"""``django_token_sessions.parsers``: our views' JSON parser refuses a deeply nested body.

The threat (a 500 from ``RecursionError``) is tested through every endpoint in
tests/test_fail_closed.py; here the parser itself, at the limit and just past it.
"""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient

from django_token_sessions.parsers import MAX_JSON_DEPTH, JSONParser


def nested(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    """A JSON value ``depth`` containers deep."""
    return (opener * depth + "1" + closer * depth).encode()


def parse(raw: bytes):
    return JSONParser().parse(io.BytesIO(raw), "application/json", {})


def test_a_flat_object_parses():
    assert parse(b'{"refresh": "abc", "scope": "others"}') == {
        "refresh": "abc",
        "scope": "others",
    }


@pytest.mark.parametrize("shape", [("[", "]"), ('{"a":', "}")])
def test_the_deepest_body_allowed_parses(shape):
    data = parse(nested(MAX_JSON_DEPTH, *shape))
    for _ in range(MAX_JSON_DEPTH):
        data = data[0] if isinstance(data, list) else data["a"]
    assert data == 1


@pytest.mark.parametrize("shape", [("[", "]"), ('{"a":', "}")])
def test_one_level_deeper_is_a_parse_error(shape):
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(nested(MAX_JSON_DEPTH + 1, *shape))


def test_a_body_deeper_than_python_can_parse_is_a_parse_error():
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(nested(100_000))


def test_depth_is_counted_per_branch_not_per_item():
    wide = json.dumps({"items": [[i] for i in range(1000)]}).encode()
    assert len(parse(wide)["items"]) == 1000


def test_malformed_json_is_drfs_parse_error():
    with pytest.raises(ParseError):
        parse(b'{"refresh": ')


@pytest.mark.django_db
def test_through_http_a_deep_body_is_a_400_parse_error():
    response = APIClient().post(
        "/api/auth/refresh/",
        nested(MAX_JSON_DEPTH + 1),
        content_type="application/json",
        HTTP_X_TOKEN_TRANSPORT="body",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
