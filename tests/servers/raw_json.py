"""Hostile request bodies: JSON text that may carry literals ``json.dumps`` would never write."""

from __future__ import annotations

import json
from typing import Any


class Raw(str):
    """Text put into the body as it is (NaN, 1e999, a 400-digit integer, deep nesting…)."""


def render(value: Any) -> str:
    """JSON text, except that :class:`Raw` values go in verbatim and floats may be NaN."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    return json.dumps(value)
