"""JSON values we store (custom fields) and serve: refuse what cannot round-trip, repair on read.

Why: Python's ``json`` reads ``NaN``, ``Infinity``, ``1e400`` (as infinity), integers of any
size, ``"\\u0000"`` and lone surrogates such as ``"\\ud800"``; SQLite then stores them, PostgreSQL
stores some of them, and a later answer cannot encode them (``Out of range float values are not
JSON compliant``), so one bad row broke every listing. :func:`problem` finds the first such value
(with its path) before anything is stored; :func:`safe` turns a value stored by an older version
into one that can be served (the migration ``0004_incidents_repair`` applies the same rules to
the rows themselves). Standard library only.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.limits import INT64_MAX, INT64_MIN, JSON_DEPTH_MAX, NUL

_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_-]{1,40}")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _key_path(path: str, key: str, root: str) -> str:
    """``path.key``; a key that is not a plain word as ``path['key']`` (escaped, shortened)."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path or root}[{ascii(key)[:42]}]"


def _string_problem(text: str) -> str | None:
    if NUL in text:
        return "must not contain NUL characters (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it contains a lone surrogate such as \\ud800)"
    return None


def _scalar_problem(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return "integers must fit in 64 bits (-2**63 .. 2**63-1); send larger numbers as strings"
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return "NaN and Infinity are not JSON numbers (numbers must be finite)"
    if isinstance(value, str):
        return _string_problem(value)
    return f"{type(value).__name__} is not a JSON value"


def problem(
    value: Any, *, path: str = "", root: str = "value", depth_max: int = JSON_DEPTH_MAX
) -> str | None:
    """The first part of ``value`` we refuse to store, as ``"<path>: <why>"``; None if none.

    ``path`` names ``value`` in the message (``root`` when empty). Iterative, so a hostile depth
    costs no Python recursion; containers may nest ``depth_max`` levels (the outermost is one).
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= depth_max:
                return f"{where or root}: nested more than {depth_max} levels deep"
            if isinstance(item, dict):
                children: list[tuple[Any, str, int]] = []
                for key, child in item.items():
                    if not isinstance(key, str):
                        return f"{where or root}: object keys must be strings, not {key!r}"
                    why = _string_problem(key)
                    if why:
                        return f"{where or root}: the key {ascii(key)[:42]} {why}"
                    children.append((child, _key_path(where, key, root), depth + 1))
            else:
                children = [(c, f"{where or root}[{i}]", depth + 1) for i, c in enumerate(item)]
            stack.extend(reversed(children))
            continue
        why = _scalar_problem(item)
        if why:
            return f"{where or root}: {why}"
    return None


def check(field: str, value: Any, *, max_bytes: int) -> None:
    """InvalidInputError naming the place unless ``value`` is a storable JSON object of at most
    ``max_bytes`` bytes (compact UTF-8)."""
    if not isinstance(value, dict):
        raise InvalidInputError(f"{field} must be a JSON object, not {type(value).__name__}")
    found = problem(value, path=field)
    if found:
        raise InvalidInputError(found)
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > max_bytes:
        raise InvalidInputError(f"{field} is {size:,} bytes as JSON (at most {max_bytes:,})")


def safe_text(text: str) -> str:
    """NUL dropped, each surrogate (a Python str from JSON holds only lone ones) made U+FFFD."""
    return _SURROGATE.sub("\ufffd", text.replace(NUL, ""))


def _as_text(value: Any) -> str | None:
    """A container nested too deeply, as its JSON text (None if even that fails)."""
    try:
        return json.dumps(value, default=str, separators=(",", ":"))
    except (RecursionError, TypeError, ValueError):
        return None


def safe(value: Any, *, depth_max: int = JSON_DEPTH_MAX) -> Any:
    """``value`` made servable; the same object when nothing needed repair.

    NaN and ±Infinity become null, integers outside 64 bits their decimal string, NUL characters
    are dropped and lone surrogates replaced (U+FFFD) in strings and keys, anything else that is
    not JSON becomes its ``str``, and containers nested deeper than ``depth_max`` their JSON text.
    """
    return _safe(value, depth_max, 0)


def _safe(value: Any, depth_max: int, depth: int) -> Any:
    if isinstance(value, str):
        return value if _string_problem(value) is None else safe_text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        if depth >= depth_max:
            return _as_text(value)
        changed = False
        out: dict[str, Any] = {}
        for key, child in value.items():
            name = key if isinstance(key, str) else str(key)
            if _string_problem(name) is not None:
                name = safe_text(name)
            new = _safe(child, depth_max, depth + 1)
            changed = changed or name is not key or new is not child
            out[name] = new
        return out if changed else value
    if isinstance(value, list | tuple):
        if depth >= depth_max:
            return _as_text(value)
        items = [_safe(child, depth_max, depth + 1) for child in value]
        same = isinstance(value, list) and all(a is b for a, b in zip(items, value, strict=True))
        return value if same else items
    return str(value)
