"""What pd-send's lean parser declines (help, usage errors) is answered by argparse, in a real
``pd-send`` process (the parsing itself is unit-tested in tests/unit/test_pd_send_fast.py)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_help_and_usage_errors_still_come_from_argparse() -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    code = "from pagerbridge.cli.pd_send import run; run()"
    helped = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, env=env
    )
    assert helped.returncode == 0 and "usage: pd-send" in helped.stdout
    assert "--routing-key" in helped.stdout and "Exit codes" in helped.stdout
    abbreviated = subprocess.run(
        [sys.executable, "-c", code, "--sev", "fatal"], capture_output=True, text=True, env=env
    )
    assert abbreviated.returncode == 2
    # argparse's words (the prefix before them is the CLIs' shared error style)
    assert "error: argument --severity: invalid choice: 'fatal'" in abbreviated.stderr
