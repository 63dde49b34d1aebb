"""SECURITY.md links every claim to a test: each link must name a test that exists.

A renamed or deleted test would otherwise leave a checklist row pointing at nothing. The
tests named there run in CI like every other; this file checks that the names resolve.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECURITY = REPO / "SECURITY.md"
LINK = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")


def _test_names(path: Path) -> set[str]:
    """``test_x`` and ``TestClass::test_x`` for every test function the module defines."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test_"
        ):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}::{item.name}")
    return names


def _checklist_rows() -> list[str]:
    """The table rows of SECURITY.md (the header and separator rows left out)."""
    rows = []
    for line in SECURITY.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or set(line) <= set("|- ") or cells[-1] == "tests":
            continue
        rows.append(line)
    return rows


def test_every_linked_test_exists():
    links = LINK.findall(SECURITY.read_text())
    assert len(links) > 40
    missing = [
        f"{path}::{name}"
        for path, name in links
        if not (REPO / path).is_file() or name not in _test_names(REPO / path)
    ]
    assert missing == []


@pytest.mark.parametrize("row", _checklist_rows(), ids=lambda row: row.split("|")[1].strip()[:40])
def test_every_row_links_a_test(row):
    assert LINK.search(row.split("|")[-2]), row
