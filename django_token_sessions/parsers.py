"""The request parser of our views."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a nesting too deep for Python's parser a ``ParseError``.

    ``json.loads`` raises ``RecursionError`` (not the ``ValueError`` DRF catches) on a
    body like ``[[[[…`` a few thousand deep: without this, a 500 for a 10 KB request.
    """

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        """Parse the body, or raise ``ParseError`` for any body that is not usable JSON."""
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
