"""``typing.NamedTuple``'s class syntax without importing :mod:`typing` (pd-send's start-up).

Why: ``import typing`` costs ~3 ms (it imports ``re``, ``contextlib`` and more) and the outbox's
value classes are its only runtime use on ``pd-send``'s path. This builds what typing 3.11 builds
for ``class Row(NamedTuple): ...`` — a ``collections.namedtuple`` with the body's defaults,
methods, properties and docstring, and ``__annotations__`` — without Generic support, and with
annotations kept as written (strings, under ``from __future__ import annotations``) instead of
``ForwardRef`` objects. Modules import it only when not type checking, so mypy sees
``typing.NamedTuple``. ``tests/unit/test_outbox_namedtuple.py`` compares it with typing's.
"""

from __future__ import annotations

import collections

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

#: As in typing: names a NamedTuple body may not define, and names not copied onto the class.
_PROHIBITED = frozenset(
    {
        "__new__",
        "__init__",
        "__slots__",
        "__getnewargs__",
        "_fields",
        "_field_defaults",
        "_make",
        "_replace",
        "_asdict",
        "_source",
    }
)
_SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})


class _NamedTupleMeta(type):
    def __new__(
        mcls, typename: str, bases: tuple[type, ...], ns: dict[str, Any]
    ) -> Any:  # typing's NamedTupleMeta.__new__, Generic aside
        if not bases:  # NamedTuple itself
            return super().__new__(mcls, typename, bases, ns)
        for base in bases:
            if base is not NamedTuple:
                raise TypeError("can only inherit from a NamedTuple type and Generic")
        types = ns.get("__annotations__", {})
        default_names: list[str] = []
        for field_name in types:
            if field_name in ns:
                default_names.append(field_name)
            elif default_names:
                raise TypeError(
                    f"Non-default namedtuple field {field_name} "
                    f"cannot follow default field"
                    f"{'s' if len(default_names) > 1 else ''} "
                    f"{', '.join(default_names)}"
                )
        make: Any = collections.namedtuple  # fields are only known at run time
        nm_tpl = make(
            typename,
            list(types),
            defaults=[ns[n] for n in default_names],
            module=ns["__module__"],
        )
        nm_tpl.__annotations__ = nm_tpl.__new__.__annotations__ = dict(types)
        for key in ns:
            if key in _PROHIBITED:
                raise AttributeError("Cannot overwrite NamedTuple attribute " + key)
            if key not in _SPECIAL and key not in nm_tpl._fields:
                setattr(nm_tpl, key, ns[key])
        return nm_tpl


class NamedTuple(metaclass=_NamedTupleMeta):
    """Base for ``class Row(NamedTuple): field: type = default`` (see the module docstring)."""
