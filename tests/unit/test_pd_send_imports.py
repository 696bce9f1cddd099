"""pd-send's start-up path stays lean: the modules it loads import none of the costly standard
library modules at import time (only under ``if TYPE_CHECKING:`` or inside functions).

``tests/integration/test_pd_send.py`` checks the modules a real pd-send run loads; this test
names the file and line of an import that would bring one back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pagerbridge"

#: Modules on pd-send's path (SQLite), and the ones each costs there (python -X importtime).
PATH = [
    "__init__.py",
    "cli/__init__.py",
    "cli/pd_send.py",
    "cli/pd_send_fast.py",
    "errors.py",
    "paths.py",
    "outbox/__init__.py",
    "outbox/core.py",
    "outbox/types.py",
    "outbox/storage.py",
    "outbox/_namedtuple.py",
    "outbox/queries.py",
    "outbox/sql_base.py",
    "outbox/sqlite_backend.py",
    "pagerduty/__init__.py",
    "pagerduty/event_rules.py",
    "pagerduty/limits.py",
    "pagerduty/jsonfast.py",
]
#: argparse (+ gettext, locale) ~9 ms; typing ~3 ms; json imports re, which imports enum: ~5 ms;
#: the rest pull in more of the same or pydantic-sized trees.
FORBIDDEN = {
    "argparse",
    "typing",
    "json",
    "re",
    "enum",
    "dataclasses",
    "pathlib",
    "urllib",
    "shutil",
    "logging",
    "asyncio",
}


def _module_level_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Imports executed when the module loads: top level and under plain ``if``/``try``, but not
    under ``if TYPE_CHECKING:`` (nor in functions or classes)."""
    found: list[tuple[int, str]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((node.lineno, node.module.split(".")[0]))
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)

    visit(tree.body)
    return found


@pytest.mark.parametrize("rel", PATH)
def test_no_costly_import_at_load_time(rel: str) -> None:
    tree = ast.parse((SRC / rel).read_text(encoding="utf-8"))
    wrong = [f"{rel}:{line} imports {name}" for line, name in _module_level_imports(tree)]
    wrong = [w for w in wrong if w.rsplit(" ", 1)[-1] in FORBIDDEN]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_what_it_should() -> None:
    code = (
        "import json\n"
        "from typing import Any\n"
        "TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n    import re\n"
        "else:\n    import enum\n"
        "def f():\n    import argparse\n"
    )
    names = [name for _, name in _module_level_imports(ast.parse(code))]
    assert names == ["json", "typing", "enum"]
