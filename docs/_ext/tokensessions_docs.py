"""Reference tables generated from the code, so the docs cannot drift from it.

``.. tokensessions-settings::`` renders every key of ``conf.DEFAULTS`` with its default (read
from ``DEFAULTS``, never retyped) and the docstring of its ``Settings`` property: the first
paragraph is the type, the rest the meaning. ``.. tokensessions-errors::`` renders every
``TokenSessionError`` class with its status, code and docstring.

Both directives emit reStructuredText, so MyST pages call them from an ``{eval-rst}`` block.
A setting or error class without a docstring is a warning, which ``-W`` makes an error.
"""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def format_default(value: Any) -> str:
    """A default as a reader would write it in ``TOKEN_SESSIONS``."""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        if seconds % 86400 == 0:
            return f"``timedelta(days={seconds // 86400})``"
        return f"``timedelta(seconds={seconds})``"
    return f"``{value!r}``"


def settings_rows() -> list[tuple[str, str, str, str]]:
    """(name, type, default, meaning) of each setting, in the order of ``DEFAULTS``."""
    from django_token_sessions.conf import DEFAULTS, Settings

    rows = []
    for name, default in DEFAULTS.items():
        prop = Settings.__dict__.get(name)
        doc = inspect.cleandoc(prop.__doc__ or "") if isinstance(prop, property) else ""
        kind, _, meaning = doc.partition("\n\n")
        if not meaning:
            logger.warning("setting %s has no docstring of the form 'type\\n\\nmeaning'", name)
        rows.append((name, kind, format_default(default), meaning))
    return rows


def error_classes() -> list[type]:
    """Every subclass of ``TokenSessionError`` of ours, by status then code (the base class
    is left out: its code is ``TokenInvalid``'s)."""
    from django_token_sessions.exceptions import TokenSessionError

    def walk(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *walk(sub))]

    ours = [c for c in walk(TokenSessionError) if c.__module__.startswith("django_token_sessions.")]
    return sorted(ours, key=lambda c: (c.status_code, c.code, c.__name__))


def _cell(text: str) -> list[str]:
    lines = text.splitlines() or [""]
    return [lines[0], *(("  " + line) if line else "" for line in lines[1:])]


def list_table(header: tuple[str, ...], rows: list[tuple[str, ...]], widths: str) -> list[str]:
    out = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in (header, *rows):
        for i, cell in enumerate(row):
            first, *rest = _cell(cell)
            out.append(("   * - " if i == 0 else "     - ") + first)
            out.extend(("     " + line) if line else "" for line in rest)
    return out


class _TableDirective(SphinxDirective):
    has_content = False

    def lines(self) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        source = self.get_source_info()[0] or ""
        self.state.nested_parse(
            StringList(self.lines(), source=source), self.content_offset, container
        )
        return container.children


class SettingsTable(_TableDirective):
    def lines(self) -> list[str]:
        rows = [(f"``{n}``", t, d, m) for n, t, d, m in settings_rows()]
        return list_table(("key", "type", "default", "meaning"), rows, "20 15 15 50")


class ErrorsTable(_TableDirective):
    def lines(self) -> list[str]:
        rows = []
        for cls in error_classes():
            doc = inspect.cleandoc(cls.__doc__ or "")
            if not doc:
                logger.warning("error class %s has no docstring", cls.__qualname__)
            path = f"{cls.__module__}.{cls.__qualname__}"
            rows.append((str(cls.status_code), f"``{cls.code}``", f":class:`~{path}`", doc))
        return list_table(("status", "code", "class", "when"), rows, "8 20 20 52")


def resolve_short_name(app: Sphinx, env: Any, node: Any, contnode: nodes.Element) -> Any:
    """Resolve a docstring's reference relative to the package (``models.RevocationRecord``,
    ``RevocationBackend`` in ``revocation``) to the documented object it names.

    Our docstrings name objects as the code does, relative to the module; Sphinx looks them
    up absolutely. A name that still resolves to nothing documented stays a warning.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    module = node.get("py:module") or ""
    candidates = [f"{module}.{target}", f"{module.rpartition('.')[0]}.{target}"]
    candidates.append(f"django_token_sessions.{target}")
    domain = env.get_domain("py")
    for name in candidates:
        found = _canonical(name)
        for full in (name, found):
            if full and full in domain.objects:
                return domain.resolve_xref(
                    env, node["refdoc"], app.builder, node["reftype"], full, node, contnode
                )
    return None


def _canonical(dotted: str) -> str | None:
    """``module.attr`` -> where the object is defined (``revocation.RevocationBackend`` ->
    ``revocation.base.RevocationBackend``), or None if it does not import."""
    import importlib

    module_name, _, attr = dotted.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        try:
            importlib.import_module(dotted)
        except (ImportError, ValueError):
            return None
        return dotted
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else dotted


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", resolve_short_name)
    app.add_directive("tokensessions-settings", SettingsTable)
    app.add_directive("tokensessions-errors", ErrorsTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
