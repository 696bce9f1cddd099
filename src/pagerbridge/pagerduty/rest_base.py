"""The few primitives the typed REST calls are written against.

``RestClient`` implements them; the typed-call mixins (``rest_incidents``, ``rest_resources``)
only declare what they use, so each resource family stays in its own short module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote


def seg(value: str) -> str:
    """One path segment, percent-encoded, so an id can never reach another path."""
    if not value:
        raise ValueError("an id is required")
    return quote(value, safe="")


def ref(id_: str, type_: str) -> dict[str, str]:
    """A PagerDuty reference object (``{"id": ..., "type": "..._reference"}``)."""
    return {"id": id_, "type": type_}


def choices(name: str, values: Sequence[str] | None, allowed: frozenset[str]) -> list[str] | None:
    """Check a set filter's values locally so a typo fails before the request, saying which."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise ValueError(
            f"{name}: {', '.join(map(repr, wrong))} not allowed "
            f"(one of {', '.join(sorted(allowed))})"
        )
    return list(values)


def choice(name: str, value: str, allowed: frozenset[str]) -> str:
    """Check one enum value locally (see ``choices``)."""
    choices(name, [value], allowed)
    return value


def as_list(values: Sequence[str] | str | None) -> list[str] | None:
    """A list from a sequence (a lone string counts as one value, not as its characters)."""
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)


class RestCalls(ABC):
    """What a typed call may use: raw requests, wrapped entities, pagination, the From check."""

    @abstractmethod
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        from_email: str | None = None,
    ) -> Any: ...

    @abstractmethod
    async def entity(
        self,
        method: str,
        path: str,
        key: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        from_email: str | None = None,
    ) -> Any: ...

    @abstractmethod
    def iter_all(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        cursor: bool = False,
        key: str | None = None,
        limit: int = 100,
    ) -> AsyncIterator[Any]: ...

    @abstractmethod
    def require_from(self, from_email: str | None, what: str) -> str: ...
