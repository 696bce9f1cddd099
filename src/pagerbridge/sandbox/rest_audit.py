"""REST API v2 audit trail: ``GET /audit/records`` with cursor pagination.

PagerDuty audits changes to users, teams, schedules, escalation policies and services; in the
sandbox only services can change over the API, so those are what the trail records.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pagerbridge.sandbox.rest_common import (
    int_param,
    invalid_input,
    multi,
    principal,
    state_of,
    time_range,
)
from pagerbridge.sandbox.state import Resource, parse_time

CURSOR_LIMIT_DEFAULT = 100
CURSOR_LIMIT_MAX = 1000
ROOT_TYPES = {"users", "teams", "schedules", "escalation_policies", "services"}


def audit(
    request: Request,
    action: str,
    kind: str,
    resource_id: str,
    fields: list[dict[str, Any]] | None = None,
) -> None:
    """Record one change made through the REST API (who, how, what)."""
    state = state_of(request)
    who = principal(request)
    key = str(who.get("key", ""))
    method_type = "oauth" if who.get("kind") == "oauth" else "api_token"
    if who.get("user_id"):
        actor = state.ref("user", str(who["user_id"]))
    else:
        actor = {"id": "PSANDBOX", "type": "api_key_reference", "summary": "Sandbox API key"}
    reference = state.ref(kind, resource_id)
    moment = state.now()
    record: Resource = {
        "id": state.unique_id({}, "A") + str(len(state.audit_records)),
        "self": None,
        "execution_time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "execution_context": {
            "request_id": request.headers.get("x-request-id"),
            "remote_address": request.client.host if request.client else None,
        },
        "actors": [actor],
        "method": {"type": method_type, "truncated_token": key[-4:] or None},
        "root_resource": reference,
        "action": action,
        "details": {"resource": reference, "fields": fields or []},
    }
    state.audit_records.append(record)


def _decode_cursor(text: str | None) -> int:
    if not text:
        return 0
    try:
        return int(base64.urlsafe_b64decode(text.encode()).decode())
    except (ValueError, binascii.Error) as exc:
        raise invalid_input("'cursor' is not a cursor this API returned") from exc


async def list_records(request: Request) -> Response:
    state = state_of(request)
    since, until = time_range(request, default_days=None)
    types = set(multi(request, "root_resource_types"))
    unknown = types - ROOT_TYPES
    if unknown:
        raise invalid_input(f"unknown root_resource_types[]: {', '.join(sorted(unknown))}")
    kinds = {t.removesuffix("s").replace("policie", "policy") + "_reference" for t in types}
    actions = set(multi(request, "actions"))
    actor_type = request.query_params.get("actor_type")
    actor_id = request.query_params.get("actor_id")
    method_type = request.query_params.get("method_type")
    records = [
        r
        for r in reversed(state.audit_records)  # newest first, as PagerDuty lists them
        if (since is None or parse_time(r["execution_time"]) >= since)
        and (until is None or parse_time(r["execution_time"]) < until)
        and (not kinds or r["root_resource"]["type"] in kinds)
        and (not actions or r["action"] in actions)
        and (not actor_type or r["actors"][0]["type"] == actor_type)
        and (not actor_id or r["actors"][0]["id"] == actor_id)
        and (not method_type or r["method"]["type"] == method_type)
    ]
    limit = int_param(request, "limit", CURSOR_LIMIT_DEFAULT)
    if limit < 1:
        raise invalid_input("'limit' must be positive")
    limit = min(limit, CURSOR_LIMIT_MAX)
    start = _decode_cursor(request.query_params.get("cursor"))
    chunk = records[start : start + limit]
    end = start + len(chunk)
    next_cursor = (
        base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(records) else None
    )
    return JSONResponse({"records": chunk, "limit": limit, "next_cursor": next_cursor})


def routes() -> list[BaseRoute]:
    return [Route("/audit/records", list_records, methods=["GET"])]
