"""The wire modules on pd-send's path load no third-party package, checked in a fresh Python
process (``-X importtime``), since this test session has loaded them all already."""

from __future__ import annotations

import subprocess
import sys

import pytest

STDLIB_ONLY = [
    "pagerbridge.pagerduty.limits",
    "pagerbridge.pagerduty.event_rules",
    "pagerbridge.pagerduty.outcome",
]


@pytest.mark.parametrize("module", STDLIB_ONLY)
def test_stdlib_only_modules_load_no_third_party_package(module: str) -> None:
    """pd-send's start-up budget: these modules must not pull in pydantic, aiohttp, ..."""
    code = (
        f"import sys, {module}\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic', 'pydantic_core', 'aiohttp', 'yarl', 'multidict', 'sqlalchemy', 'yaml',"
        " 'typer', 'rich', 'httpx', 'starlette', 'fastapi'})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"{module} loaded {result.stdout.strip()}"
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()[1:]]
    assert module in imported
    assert not [name for name in imported if name.startswith(("pydantic", "aiohttp"))]
