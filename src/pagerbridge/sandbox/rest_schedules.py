"""REST API v2 schedules and on-calls, computed from schedule layers at the asked time."""

from __future__ import annotations

import bisect
import copy
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pagerbridge.sandbox.oncall import layer_boundaries, oncalls, schedule_shift
from pagerbridge.sandbox.rest_common import (
    RestError,
    by_query,
    flag,
    invalid_input,
    multi,
    page,
    state_of,
    time_param,
    wrapped,
)
from pagerbridge.sandbox.state import Resource, SandboxState, iso, shifted

#: Rendering stops after this many entries (a guard against tiny turns over long ranges).
MAX_RENDERED = 1000
DEFAULT_RANGE = timedelta(days=14)


def render(schedule: Resource, since: datetime, until: datetime, state: SandboxState) -> Resource:
    """The final schedule between ``since`` and ``until`` as PagerDuty's ``SubSchedule``.

    Each step covers one user's whole run (``layer_shift(merge=True)``) or jumps over a gap to
    the next layer start, so the work is bounded by the entries returned and the layers'
    starts and ends, whatever the range (``since=0639-12-01`` once walked it hour by hour and
    held the event loop for a minute).
    """
    entries: list[dict[str, Any]] = []
    boundaries = layer_boundaries(schedule)
    moment = since
    covered = 0.0
    steps_left = 2 * MAX_RENDERED + len(boundaries)  # one per entry or merge, one per boundary
    while moment < until and len(entries) < MAX_RENDERED and steps_left > 0:
        steps_left -= 1
        index = bisect.bisect_right(boundaries, moment)
        following = boundaries[index] if index < len(boundaries) else None
        shift = schedule_shift(schedule, moment, merge=True)
        if shift is None:
            if following is None:
                break  # no layer is active from here on
            moment = following
            continue
        end = min(x for x in (shift.end, following, until) if x is not None)
        if end <= moment:
            break
        if (
            entries
            and entries[-1]["user"]["id"] == shift.user_id
            and entries[-1]["end"] == iso(moment)
        ):
            entries[-1]["end"] = iso(end)
        else:
            entries.append(
                {"start": iso(moment), "end": iso(end), "user": state.ref("user", shift.user_id)}
            )
        covered += (end - moment).total_seconds()
        moment = end
    total = (until - since).total_seconds() or 1.0
    return {
        "name": "Final Schedule",
        "rendered_schedule_entries": entries,
        "rendered_coverage_percentage": round(100.0 * covered / total, 2),
    }


async def list_schedules(request: Request) -> Response:
    state = state_of(request)
    items = by_query(request, state.schedules.values(), "name")
    return page(request, "schedules", items)


async def get_schedule(request: Request) -> Response:
    state = state_of(request)
    schedule = state.schedules.get(request.path_params["id"])
    if schedule is None:
        raise RestError(404, "Schedule Not Found", 3004, [])
    since = time_param(request, "since")
    until = time_param(request, "until")
    if since is None:  # as documented: two weeks before ``until``, else from now
        since = shifted(until, -DEFAULT_RANGE) if until is not None else state.now()
    if until is None:
        until = shifted(since, DEFAULT_RANGE)
    if until <= since:
        raise RestError(400, "Invalid Query Date Range", 2005, ["'until' must be after 'since'"])
    out = copy.deepcopy(schedule)
    out["final_schedule"] = render(schedule, since, until, state)
    out["overrides_subschedule"] = {
        "name": "Overrides",
        "rendered_schedule_entries": [],
        "rendered_coverage_percentage": 0.0,
    }
    return wrapped("schedule", out)


async def list_oncalls(request: Request) -> Response:
    state = state_of(request)
    at = time_param(request, "since") or state.now()
    entries = oncalls(state, at)
    user_ids = set(multi(request, "user_ids"))
    policy_ids = set(multi(request, "escalation_policy_ids"))
    schedule_ids = set(multi(request, "schedule_ids"))
    levels_text = multi(request, "escalation_levels")
    try:
        levels = {int(v) for v in levels_text}
    except ValueError as exc:
        raise invalid_input("'escalation_levels[]' must be integers") from exc
    out = [
        e
        for e in entries
        if (not user_ids or e["user"]["id"] in user_ids)
        and (not policy_ids or e["escalation_policy"]["id"] in policy_ids)
        and (not schedule_ids or (e.get("schedule") and e["schedule"]["id"] in schedule_ids))
        and (not levels or e["escalation_level"] in levels)
    ]
    if flag(request, "earliest"):
        seen: set[tuple[str, str, int]] = set()
        unique = []
        for e in out:
            key = (e["user"]["id"], e["escalation_policy"]["id"], e["escalation_level"])
            if key not in seen:
                seen.add(key)
                unique.append(e)
        out = unique
    if "users" in set(multi(request, "include")):
        out = [{**e, "user": state.users.get(e["user"]["id"], e["user"])} for e in out]
    return page(request, "oncalls", out)


def routes() -> list[BaseRoute]:
    return [
        Route("/schedules", list_schedules, methods=["GET"]),
        Route("/schedules/{id}", get_schedule, methods=["GET"]),
        Route("/oncalls", list_oncalls, methods=["GET"]),
    ]
