"""The package's shape, enforced: layers that import only downwards, SQL text and raw
redis-py calls in two modules only, and a core that never imports its contrib apps.

::

    HTTP       views, urls, middleware, serializers, parsers, throttling, transport,
               schema, admin, authentication, management commands
    services   services, receivers
    storage    storage, models, revocation.*, tokens, device, signals
    conf       conf, exceptions, context

``apps`` and ``checks`` wire the layers together at startup and stand outside them, as
do the migrations and the contrib apps (which sit on top of the core).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import django_token_sessions

PACKAGE = Path(django_token_sessions.__file__).parent
NAME = "django_token_sessions"

LAYERS = {
    "http": 3,
    "services": 2,
    "storage": 1,
    "conf": 0,
}
MODULE_LAYERS = {
    "views": "http",
    "urls": "http",
    "middleware": "http",
    "serializers": "http",
    "parsers": "http",
    "throttling": "http",
    "transport": "http",
    "schema": "http",
    "admin": "http",
    "authentication": "http",
    "management": "http",
    "services": "services",
    "receivers": "services",
    "storage": "storage",
    "models": "storage",
    "revocation": "storage",
    "tokens": "storage",
    "device": "storage",
    "signals": "storage",
    "conf": "conf",
    "exceptions": "conf",
    "context": "conf",
}
OUTSIDE = {"apps", "checks", "migrations", "contrib", "__init__"}

#: The only modules that may hold SQL text or drive a database cursor or a redis-py
#: connection directly.
RAW_ACCESS_ALLOWED = {f"{NAME}.storage", f"{NAME}.revocation.redis"}
SQL_TEXT = re.compile(
    r"\bSELECT\b|\bINSERT INTO\b|\bUPDATE\b[^\n]*\bSET\b|\bDELETE FROM\b|\bEXISTS \("
)
RAW_CALLS = {
    # the database, bypassing the ORM
    "cursor",
    "execute",
    "executemany",
    "callproc",
    "raw",
    "extra",
    "RawSQL",
    # a redis-py connection, bypassing django-redis's cache API
    "get_connection",
    "send_command",
    "read_response",
}
#: Attributes that hand out a raw connection, whether called or not.
RAW_ATTRIBUTES = {"connection_pool"}


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join((NAME, *parts)), path))
    return found


def top_part(module: str) -> str:
    rest = module[len(NAME) + 1 :] if module.startswith(NAME + ".") else ""
    return rest.split(".")[0] if rest else "__init__"


def imported(module: str, path: Path) -> set[str]:
    """Every module of the package that ``module`` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in names if name == NAME or name.startswith(NAME + ".")}


def layer_of(module: str) -> str | None:
    return MODULE_LAYERS.get(top_part(module))


def test_every_module_has_a_place():
    unplaced = [
        module
        for module, _path in modules()
        if top_part(module) not in MODULE_LAYERS and top_part(module) not in OUTSIDE
    ]
    assert unplaced == []


def test_layers_import_only_downwards():
    upward = []
    for module, path in modules():
        own = layer_of(module)
        if own is None:
            continue
        for target in imported(module, path):
            theirs = layer_of(target)
            if theirs is not None and LAYERS[theirs] > LAYERS[own]:
                upward.append(f"{module} ({own}) imports {target} ({theirs})")
    assert upward == []


def test_the_core_never_imports_a_contrib_app():
    offending = [
        f"{module} imports {target}"
        for module, path in modules()
        if top_part(module) != "contrib"
        for target in imported(module, path)
        if target.startswith(f"{NAME}.contrib")
    ]
    assert offending == []


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def raw_access(path: Path) -> list[str]:
    """The SQL text and raw database or redis-py calls in one file."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and SQL_TEXT.search(node.value):
                found.append(f"line {node.lineno}: SQL text {node.value[:40]!r}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in RAW_CALLS:
                found.append(f"line {node.lineno}: {name}()")
        elif isinstance(node, ast.Attribute) and node.attr in RAW_ATTRIBUTES:
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def test_sql_text_and_raw_connections_live_in_storage_and_the_redis_backend_only():
    offending = {
        module: found
        for module, path in modules()
        if module not in RAW_ACCESS_ALLOWED and top_part(module) != "migrations"
        for found in [raw_access(path)]
        if found
    }
    assert offending == {}


@pytest.mark.parametrize("module", sorted(RAW_ACCESS_ALLOWED))
def test_the_rule_sees_what_the_allowed_modules_do(module):
    # A rule that finds nothing where raw access is known to be proves nothing.
    path = dict(modules())[module]
    assert raw_access(path)
