"""What the package imports is what it declares (pyproject.toml), and nothing declared is unused.

A third-party import missing from ``dependencies`` works here only because something else
pulled it in; a declared package nothing imports is weight every install carries.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "pagerbridge"

#: Declared for what they bring rather than for an import of their own name.
INDIRECT = {
    "uvicorn": "imported as uvicorn; [standard] brings uvloop and httptools, used when present",
    "psycopg": "psycopg[binary]: the C build of the driver that is imported as psycopg",
}


#: Imported directly, installed through another dependency's extra (which must be declared).
VIA_EXTRA = {"uvloop": "uvicorn[standard]", "httptools": "uvicorn[standard]"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normalise(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]) for d in project["dependencies"]}


def imported() -> dict[str, str]:
    """distribution -> a file:line that imports it."""
    owners = packages_distributions()
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("pagerbridge", "_json"):
                    continue
                for dist in owners.get(top, [top]):
                    found.setdefault(_normalise(dist), f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_import_is_declared() -> None:
    missing = {
        d: where for d, where in imported().items() if d not in declared() and d not in VIA_EXTRA
    }
    assert not missing, f"imported but not in [project] dependencies: {missing}"
    raw = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for extra in set(VIA_EXTRA.values()):
        assert any(d.replace(" ", "").startswith(extra) for d in raw), extra


def test_every_declared_dependency_is_imported() -> None:
    unused = declared() - set(imported()) - set(INDIRECT)
    assert not unused, f"declared but never imported by src/pagerbridge: {sorted(unused)}"
