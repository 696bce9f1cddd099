"""The arrows point one way (DESIGN.md): cli/server → domains → outbox/store → pagerduty.

Every import of a pagerbridge module, at any depth in a file (lazy imports included), is checked
against the layers each package may use. A new arrow upwards fails here, naming file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pagerbridge"

#: Foundation modules any layer may use (``""``: the package itself, its version).
BASE = {"", "errors", "paths", "config", "logs"}
#: What the foundation modules themselves may use: each other only.
FOUNDATION = {
    "errors.py": {"", "errors"},
    "paths.py": {"", "paths"},
    "config.py": {"", "config", "errors"},
    "logs.py": {"", "logs"},
    "__init__.py": {""},
}

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
    "cli": {
        "cli",
        "server",
        "connectors",
        "incidents",
        "updates",
        "agent",
        "sandbox",
        "outbox",
        "store",
        "pagerduty",
    },
}

#: Deliberate exceptions, each with its reason.
EXCEPTIONS = {
    # The outbox schema is one .sql file, shared by pd-send (stdlib only) and this migration.
    ("store/migrations/versions/0002_outbox.py", "outbox"),
    ("store/migrations/versions/0003_outbox_destination.py", "outbox"),
    ("store/migrations/versions/0005_outbox_folds.py", "outbox"),
}


def _imports(path: Path, src: Path = SRC) -> list[tuple[int, str]]:
    """(line, top-level pagerbridge module) for every import in ``path``, at any depth: absolute
    (``import pagerbridge.x``, ``from pagerbridge.x import y``, ``from pagerbridge import x``)
    and relative (``from . import x``, ``from ..x import y``), resolved against the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(src.parent).with_suffix("").parts[:-1]  # ("pagerbridge", ...)
    if path.name == "__init__.py":
        package = path.relative_to(src.parent).parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "pagerbridge":  # from pagerbridge import x: module x is the target
                modules = [
                    f"pagerbridge.{alias.name}" if _is_module(alias.name) else module
                    for alias in node.names
                ]
            else:
                modules = [module]
        for name in modules:
            if name == "pagerbridge" or name.startswith("pagerbridge."):
                parts = name.split(".")
                found.append((node.lineno, parts[1] if len(parts) > 1 else ""))
    return found


def _is_module(name: str) -> bool:
    return (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()


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


def test_every_package_and_module_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), packages - set(ALLOWED)
    modules = {p.name for p in SRC.glob("*.py")}
    assert modules == set(FOUNDATION), modules ^ set(FOUNDATION)


@pytest.mark.parametrize("module", sorted(FOUNDATION))
def test_foundation_modules_use_only_the_foundation(module: str) -> None:
    wrong = [
        f"{module}:{line} imports pagerbridge.{target}"
        for line, target in _imports(SRC / module)
        if target not in FOUNDATION[module]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("where", "code", "target"),
    [
        ("incidents/x.py", "def f():\n    from pagerbridge.server import app\n", "server"),
        ("incidents/x.py", "from pagerbridge import server\n", "server"),
        ("incidents/x.py", "import pagerbridge.server.app\n", "server"),
        ("incidents/x.py", "from ..server import app\n", "server"),
        ("incidents/x.py", "from .. import server\n", "server"),
        ("incidents/sub/x.py", "from ...server.app import create_app\n", "server"),
        ("incidents/__init__.py", "from ..server import app\n", "server"),
        ("incidents/x.py", "from . import service\n", "incidents"),
    ],
)
def test_the_check_sees_every_form_of_import(
    where: str, code: str, target: str, tmp_path: Path
) -> None:
    src = tmp_path / "pagerbridge"  # a scratch tree: never write into the real package
    path = src / where
    path.parent.mkdir(parents=True)
    path.write_text(code)
    ((_, found),) = _imports(path, src)
    assert found == target
