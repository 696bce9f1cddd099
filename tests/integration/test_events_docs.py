"""The Python examples in docs/toolkit.md run as written, against the real sandbox."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from pagerbridge.sandbox.testing import running_sandbox

DOC = Path(__file__).resolve().parents[2] / "docs" / "toolkit.md"
SANDBOX_URL = "http://127.0.0.1:8090"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_examples() -> None:
    assert len(blocks()) >= 4


@pytest.mark.parametrize("index", range(len(blocks())))
async def test_example_runs(index: int) -> None:
    code = blocks()[index]
    with running_sandbox() as sandbox:
        code = code.replace(SANDBOX_URL, sandbox.url)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        arrivals = await asyncio.to_thread(sandbox.arrivals)
    assert proc.returncode == 0, err.decode()
    if SANDBOX_URL in blocks()[index] and "send(" in code:
        assert b"accepted, dedup_key db1/disk" in out
        assert [(a["event_action"], a["dedup_key"]) for a in arrivals] == [
            ("trigger", "db1/disk"),
            ("resolve", "db1/disk"),
        ]
    if "verify(" in code:
        assert b"refused:" in out and b"PGR0VU2 acknowledged Disk full on db1" in out
