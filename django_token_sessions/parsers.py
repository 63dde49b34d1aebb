"""The request parser of our views."""

from __future__ import annotations

from typing import Any

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


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested deeper than :data:`MAX_JSON_DEPTH` is a ``ParseError``.

    ``json.loads`` raises ``RecursionError`` (not the ``ValueError`` DRF catches) on a
    body like ``[[[[…`` a few thousand deep on some Python versions, and parses it on
    others: without this, a 500 for a 10 KB request, or an answer that depends on the
    interpreter.
    """

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        """Parse the body, or raise ``ParseError`` for any body that is not usable JSON."""
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError("JSON parse error - nested too deeply.")
        return data
