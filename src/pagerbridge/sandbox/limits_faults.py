"""PagerDuty's rate limits and injected faults, applied to requests before any handler runs.

Both take a monotonic clock so tests can reason about windows; the Events limit is a sliding
60-second window per routing key (as PagerDuty documents it), the REST limit a fixed one-minute
window per token that reports itself in ``ratelimit-*`` headers.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pagerbridge.sandbox import faults_scripted
from pagerbridge.sandbox.faults_scripted import ScriptedFault, parse_scripted
from pagerbridge.sandbox.options import FaultSpec

Monotonic = Callable[[], float]
WINDOW = 60.0


class SlidingWindow:
    """At most ``limit`` hits per key in any 60 s looking back from now."""

    def __init__(self, limit: int, clock: Monotonic = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        hits = self.hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True


@dataclass
class FixedWindowState:
    start: float
    used: int = 0


class FixedWindow:
    """``limit`` requests per key per minute; reports limit, remaining and reset seconds."""

    def __init__(self, limit: int, clock: Monotonic = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.windows: dict[str, FixedWindowState] = {}

    def take(self, key: str) -> tuple[bool, dict[str, str]]:
        now = self.clock()
        window = self.windows.get(key)
        if window is None or now - window.start >= WINDOW:
            window = self.windows[key] = FixedWindowState(start=now)
        allowed = window.used < self.limit
        if allowed:
            window.used += 1
        reset = max(1, int(WINDOW - (now - window.start) + 0.999))
        headers = {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(max(0, self.limit - window.used)),
            "ratelimit-reset": str(reset),
        }
        return allowed, headers


@dataclass
class Faults:
    """The live fault settings (``--fault-*`` flags, ``POST /_sandbox/faults``)."""

    spec: FaultSpec = field(default_factory=FaultSpec)
    clock: Monotonic = time.monotonic
    burst_left: int = 0
    outage_until: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    #: The scripted rules still in force (live copies: their ``times`` count down).
    scripted: list[ScriptedFault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.set(self.spec)

    def set(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.burst_left = spec.burst_429
        self.outage_until = self.clock() + spec.outage_seconds if spec.outage_seconds else 0.0
        self.scripted = [replace(rule) for rule in spec.scripted]

    def add_scripted(self, items: list[Any]) -> list[ScriptedFault]:
        """Append rules (JSON objects) after the ones in force; ValueError if any is invalid."""
        rules = [parse_scripted(item) for item in items]
        self.scripted.extend(rules)
        return rules

    def take_before(self, method: str, path: str) -> ScriptedFault | None:
        """A scripted ``status``/``drop`` rule for this request (used up), if one matches."""
        if not self.scripted or path.startswith("/_sandbox"):
            return None
        return faults_scripted.take(self.scripted, method, path, faults_scripted.BEFORE_HANDLER)

    def take_after(self, method: str, path: str) -> ScriptedFault | None:
        """A scripted ``slow_after_write``/``drop_after_write`` rule for this request."""
        if not self.scripted or path.startswith("/_sandbox"):
            return None
        return faults_scripted.take(self.scripted, method, path, faults_scripted.AFTER_HANDLER)

    def take_webhook_drop(self, event_type: str) -> bool:
        """True (and one use gone) if a ``drop_webhook`` rule says to lose this webhook."""
        return (
            bool(self.scripted)
            and faults_scripted.take_webhook(self.scripted, event_type) is not None
        )

    def replace_all(self, settings: dict[str, Any]) -> FaultSpec:
        """Replace every setting (omitted ones go back to off); unknown keys raise ValueError."""
        known = set(FaultSpec.__dataclass_fields__)
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        values = dict(settings)
        if "routes" in values:
            routes = values["routes"] or ()
            values["routes"] = (routes,) if isinstance(routes, str) else tuple(routes)
        if "route_error_rates" in values:
            rates = values["route_error_rates"] or {}
            if not isinstance(rates, dict):
                raise ValueError("route_error_rates must be an object of path prefix -> rate")
            values["route_error_rates"] = tuple(rates.items())
        if "scripted" in values:
            items = values["scripted"] or []
            if not isinstance(items, list):
                raise ValueError("scripted must be an array of scripted fault objects")
            values["scripted"] = tuple(parse_scripted(item) for item in items)
        try:
            spec = replace(FaultSpec(), **values)
            check_spec(spec)
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from exc
        self.set(spec)
        return spec

    def applies(self, path: str) -> bool:
        if path.startswith("/_sandbox"):
            return False
        return not self.spec.routes or any(path.startswith(r) for r in self.spec.routes)

    def route_rate(self, path: str) -> float | None:
        """The error rate ``route_error_rates`` sets for this path (longest prefix), if any."""
        best: tuple[int, float] | None = None
        for prefix, rate in self.spec.route_error_rates:
            if path.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), float(rate))
        return best[1] if best else None

    def decide(self, path: str) -> str | None:
        """What to do to this request: None, "drop", "outage", "429" or "error"."""
        if path.startswith("/_sandbox"):
            return None
        spec = self.spec
        per_route = self.route_rate(path) if spec.route_error_rates else None
        if self.applies(path):
            if self.outage_until and self.clock() < self.outage_until:
                return "outage"
            if self.burst_left > 0:
                self.burst_left -= 1
                return "429"
            if spec.drop_rate and self.rng.random() < spec.drop_rate:
                return "drop"
            rate = spec.error_rate if per_route is None else per_route
        else:
            rate = per_route or 0.0
        if rate and self.rng.random() < rate:
            return "error"
        return None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            name: getattr(self.spec, name) for name in FaultSpec.__dataclass_fields__
        }
        out["routes"] = list(self.spec.routes)
        out["route_error_rates"] = dict(self.spec.route_error_rates)
        out["scripted"] = [rule.as_dict() for rule in self.scripted]
        out["burst_429_left"] = self.burst_left
        out["outage_remaining"] = max(0.0, self.outage_until - self.clock())
        return out


def check_spec(spec: FaultSpec) -> None:
    """Raise ``ValueError`` saying which fault setting is out of range."""
    rates = [("error_rate", spec.error_rate), ("drop_rate", spec.drop_rate)]
    rates += [(f"route_error_rates[{p!r}]", r) for p, r in spec.route_error_rates]
    for name, value in rates:
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    for name in ("latency", "outage_seconds", "burst_429"):
        if float(getattr(spec, name)) < 0:
            raise ValueError(f"{name} must not be negative")
    if not 400 <= int(spec.error_status) <= 599:
        raise ValueError(f"error_status must be an HTTP error status, got {spec.error_status}")
