"""``json.dumps`` without importing :mod:`json`, for ``pd-send``'s start-up path.

Why: ``import json`` compiles regular expressions at import time, so it pulls in ``re`` and
``enum``: ~5 ms of a pd-send run that otherwise needs none of them. ``dumps`` returns exactly
``json.dumps``'s text — it calls the same C encoder (``_json.make_encoder``) with the arguments
``json.JSONEncoder`` would pass — for the keywords below; any other keyword, or a Python without
the C accelerator, goes to ``json.dumps`` itself, and so does everything when the encoder fails
a self-check at import. ``tests/unit/test_jsonfast.py`` compares both paths.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from typing import Any

try:
    from _json import encode_basestring, encode_basestring_ascii
    from _json import make_encoder as _make_encoder
except Exception:  # no C accelerator (another Python): json.dumps does the work
    _make_encoder = None  # type: ignore[misc,assignment]

#: The keywords handled here; anything else is json.dumps' business.
_HANDLED = frozenset({"ensure_ascii", "allow_nan", "separators", "sort_keys"})


def _default(o: object) -> Any:
    """``json.JSONEncoder.default``: the same TypeError, word for word."""
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


#: A sample and the text json.dumps gives for it: the private encoder must agree at import, or
#: it is not used (a new CPython may change its signature or behaviour; pd-send must not break).
_PROBE = ({"a": [1, "\u00e9\n", None, True, 1.5]}, '{"a":[1,"\u00e9\\n",null,true,1.5]}')


def _encoder_works() -> bool:
    if _make_encoder is None:
        return False
    try:
        return _encode(_PROBE[0], {"separators": (",", ":"), "ensure_ascii": False}) == _PROBE[1]
    except Exception:
        return False


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps(obj, **kw)``."""
    if not _FAST or not _HANDLED.issuperset(kw):
        import json

        return json.dumps(obj, **kw)
    return _encode(obj, kw)


def _encode(obj: Any, kw: dict[str, Any]) -> str:
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


_FAST = _encoder_works()
