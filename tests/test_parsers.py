"""``django_token_sessions.parsers``: our views' JSON parser refuses a deeply nested body,
a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` and a charset that is not a text encoding.

The threats (a 500 from ``RecursionError``, an unbounded read) are tested through every
endpoint in tests/test_fail_closed.py; here the parser itself, at each limit and past it.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import RequestDataTooBig
from django.test import override_settings
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient

from django_token_sessions.parsers import MAX_JSON_DEPTH, JSONParser


def nested(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    """A JSON value ``depth`` containers deep."""
    return (opener * depth + "1" + closer * depth).encode()


def parse(raw: bytes, **context: str):
    return JSONParser().parse(io.BytesIO(raw), "application/json", context)


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


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=20)
def test_a_body_up_to_the_upload_limit_parses_and_one_byte_more_is_too_big():
    at_the_limit = b'{"refresh": "abcde"}'
    assert len(at_the_limit) == 20
    assert parse(at_the_limit) == {"refresh": "abcde"}
    with pytest.raises(RequestDataTooBig):
        parse(b'{"refresh": "abcdef"}')


def test_a_text_charset_is_honoured_and_a_codec_that_is_not_text_refused():
    assert parse('{"name": "Zürich"}'.encode("latin-1"), encoding="latin-1") == {"name": "Zürich"}
    with pytest.raises(ParseError, match="charset"):
        parse(b"{}", encoding="bz2_codec")
    with pytest.raises(ParseError, match="charset"):
        parse(b"{}", encoding="no-such-charset")


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
