"""Read an answer as strict JSON: NaN or Infinity in it fails the test (it is not JSON)."""

from __future__ import annotations

import json
from typing import Any


def strict_json(raw: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"the hub answered with {name}, which is not JSON")

    return json.loads(raw, parse_constant=refuse)
