"""Durations for people: ``20 s``, ``5 min``, ``24 h`` (never ``0.00555556 h``).

One helper for every message that states a length of time (dead letters, health, self-monitoring),
so they all read the same way. Standard library only, and it imports nothing: the outbox worker and
``pd-send``'s neighbours may use it without start-up cost.
"""

from __future__ import annotations

#: (unit, seconds per unit), largest first. A unit is used from two of it upwards, so a day reads
#: ``24 h``, an hour ``60 min`` and a minute ``60 s``: whole numbers in the familiar unit.
_UNITS = (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0))


def format_duration(seconds: float) -> str:
    """``seconds`` in the largest unit that keeps it at two or more, to one decimal at most.

    >>> [format_duration(s) for s in (0.25, 20, 90, 300, 5400, 86400, 7 * 86400)]
    ['250 ms', '20 s', '90 s', '5 min', '90 min', '24 h', '7 d']
    """
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return f"{seconds} s"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 1:
        return f"{_number(seconds * 1000)} ms" if seconds else "0 s"
    for unit, size in _UNITS:
        if seconds >= 2 * size or size == 1.0:
            return f"{_number(seconds / size)} {unit}"
    raise AssertionError("unreachable: the last unit always matches")  # pragma: no cover


def _number(value: float) -> str:
    """One decimal at most, none when it is zero: ``20``, ``2.5``, ``59.9``."""
    rounded = round(value, 1)
    return f"{rounded:.0f}" if rounded == int(rounded) else f"{rounded:.1f}"
