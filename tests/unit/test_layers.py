"""The arrows point one way (DESIGN.md): cli/server → domains → outbox/store → pagerduty.

Every import of a pagerbridge module, at any depth in a file (lazy imports included), is checked
against the layers each package may use. A new arrow upwards fails here, naming file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pagerbridge"

#: Foundation modules any layer may use.
BASE = {"", "errors", "paths", "config"}

ALLOWED: dict[str, set[str]] = {
    "pagerduty": {"pagerduty"},
    "store": {"store"},
    "outbox": {"outbox", "store", "pagerduty"},
    "sandbox": {"sandbox", "pagerduty"},
    "incidents": {"incidents", "store", "outbox", "pagerduty"},
    "updates": {"updates", "outbox", "store", "pagerduty"},
    "agent": {"agent", "outbox", "store", "pagerduty"},
    "connectors": {"connectors", "incidents", "outbox", "store", "pagerduty"},
    "server": {"server", "incidents", "connectors", "agent", "outbox", "store", "pagerduty"},
}

#: Deliberate exceptions, each with its reason.
EXCEPTIONS = {
    # The outbox schema is one .sql file, shared by pd-send (stdlib only) and this migration.
    ("store/migrations/versions/0002_outbox.py", "outbox"),
    ("store/migrations/versions/0003_outbox_destination.py", "outbox"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            if name == "pagerbridge" or name.startswith("pagerbridge."):
                parts = name.split(".")
                found.append((node.lineno, parts[1] if len(parts) > 1 else ""))
    return found


def _layer_files() -> list[tuple[str, Path]]:
    return [
        (layer, path)
        for layer in ALLOWED
        if (SRC / layer).is_dir()
        for path in sorted((SRC / layer).rglob("*.py"))
    ]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_point_one_way(layer: str) -> None:
    wrong = []
    for owner, path in _layer_files():
        if owner != layer:
            continue
        rel = path.relative_to(SRC).as_posix()
        for line, target in _imports(path):
            if target in BASE or target in ALLOWED[layer] or (rel, target) in EXCEPTIONS:
                continue
            wrong.append(f"{rel}:{line} imports pagerbridge.{target}")
    assert not wrong, f"{layer} may use only {sorted(ALLOWED[layer] | BASE)}:\n" + "\n".join(wrong)


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - {"cli"} <= set(ALLOWED), packages - set(ALLOWED)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from pagerbridge.incidents import service\n")
    assert _imports(sample) == [(2, "incidents")]
