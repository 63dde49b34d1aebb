"""The request parser of our views."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers
from rest_framework.exceptions import ParseError

#: Deepest nesting a body may have. Ours are flat objects; the limit makes a deep body a
#: ``parse_error`` on every Python, whatever its own recursion limit lets ``json`` parse.
MAX_JSON_DEPTH = 32


def _depth_exceeds(data: Any, limit: int) -> bool:
    # Iterative: a recursive walk of a hostile body is the crash this guards against.
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _text_encoding(parser_context: dict[str, Any]) -> str:
    """The body's charset, refused unless it is a text encoding: a bytes-to-bytes codec
    (``charset=bz2_codec``) would decompress the body after its size was checked."""
    encoding = str(parser_context.get("encoding") or settings.DEFAULT_CHARSET)
    try:
        "".encode(encoding)  # unlike codecs.getreader(), refuses non-text codecs
    except (LookupError, UnicodeError) as exc:
        raise ParseError(f'Unsupported charset "{encoding}" in Content-Type.') from exc
    return encoding


def _bounded(stream: Any) -> Any:
    """The body, read whole if it fits ``DATA_UPLOAD_MAX_MEMORY_SIZE``; raises Django's
    ``RequestDataTooBig`` (413 ``request_too_large``) if it does not."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or stream is None:
        return stream
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
    return io.BytesIO(body)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with limits that hold whatever DRF version parses.

    - A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is refused before it is parsed (DRF
      reads the raw stream, which Django does not bound).
    - Only text charsets are accepted (``parse_error`` otherwise).
    - A body nested deeper than :data:`MAX_JSON_DEPTH` is a ``ParseError``:
      ``json.loads`` raises ``RecursionError`` (not the ``ValueError`` DRF catches) on a
      body like ``[[[[…`` a few thousand deep on some Python versions, and parses it on
      others: without this, a 500 for a 10 KB request, or an answer that depends on the
      interpreter.
    """

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        """Parse the body, or raise ``ParseError`` for any body that is not usable JSON."""
        parser_context = dict(parser_context or {})
        parser_context["encoding"] = _text_encoding(parser_context)
        try:
            data = super().parse(_bounded(stream), media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError("JSON parse error - nested too deeply.")
        return data
