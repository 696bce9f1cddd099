"""``json.dumps`` without importing :mod:`json`, for ``pd-send``'s start-up path.

Why: ``import json`` compiles regular expressions at import time, so it pulls in ``re`` and
``enum``: ~5 ms of a pd-send run that otherwise needs none of them. ``dumps`` returns exactly
``json.dumps``'s text — it calls the same C encoder (``_json.make_encoder``) with the arguments
``json.JSONEncoder`` would pass — for the keywords below; any other keyword, or a Python without
the C accelerator, goes to ``json.dumps`` itself. ``tests/unit/test_jsonfast.py`` compares both.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from typing import Any

try:
    from _json import encode_basestring, encode_basestring_ascii
    from _json import make_encoder as _make_encoder
except ImportError:  # pragma: no cover - CPython always has _json
    _make_encoder = None  # type: ignore[misc,assignment]

#: The keywords handled here; anything else is json.dumps' business.
_HANDLED = frozenset({"ensure_ascii", "allow_nan", "separators", "sort_keys"})


def _default(o: object) -> Any:
    """``json.JSONEncoder.default``: the same TypeError, word for word."""
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps(obj, **kw)``."""
    if _make_encoder is None or not _HANDLED.issuperset(kw):
        import json

        return json.dumps(obj, **kw)
    ensure_ascii = kw.get("ensure_ascii", True)
    encoder = encode_basestring_ascii if ensure_ascii else encode_basestring
    if isinstance(obj, str):
        return str(encoder(obj))
    separators = kw.get("separators")
    item_separator, key_separator = (", ", ": ") if separators is None else separators
    chunks = _make_encoder(
        {},  # markers: check_circular=True
        _default,
        encoder,
        None,  # indent
        key_separator,
        item_separator,
        kw.get("sort_keys", False),
        False,  # skipkeys
        kw.get("allow_nan", True),
    )(obj, 0)
    return "".join(chunks)
