"""Which Scoped OAuth scope each REST API v2 operation requires, as PagerDuty's reference says.

Each operation's description in PagerDuty's OpenAPI document ends "Scoped OAuth requires:
`<scope>`"; this module encodes those answers as a few rules (the resource is the first path
segment, read for GET and write otherwise, plus the documented exceptions), and a contract test
checks every operation of the document against them. The REST API answers 403 when a bearer
token lacks the scope (Private Apps: "A 403 - Forbidden response will be returned if the token
does not contain the scope required").
"""

from __future__ import annotations

import re

#: First path segment -> scope resource, where they differ or are implemented by the sandbox.
_RESOURCE_BY_SEGMENT = {
    "abilities": "abilities",
    "change_events": "change_events",
    "escalation_policies": "escalation_policies",
    "incidents": "incidents",
    "log_entries": "incidents",
    "maintenance_windows": "services",
    "notifications": "users:notifications",
    "oncalls": "oncalls",
    "priorities": "priorities",
    "schedules": "schedules",
    "services": "services",
    "teams": "teams",
    "users": "users",
    "webhook_subscriptions": "webhook_subscriptions",
}

#: (pattern, scope resource) checked in order before the first-segment rule.
_OVERRIDES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), resource)
    for pattern, resource in (
        (r"/audit/records$", "audit_records"),
        (r"^/incidents/types/[^/]+/custom_fields(/|$)", "custom_fields"),
        (r"^/(incidents|services)/custom_fields(/|$)", "custom_fields"),
        (r"^/incidents/types(/|$)", "incident_types"),
        (r"^/incidents/[^/]+/status_updates/(subscribers|unsubscribe)$", "subscribers"),
        (r"^/(teams|users)/[^/]+/notification_subscriptions(/|$)", "subscribers"),
        (r"^/users/[^/]+/(contact_methods|notification_rules)(/|$)", "users:contact_methods"),
        (r"^/users/[^/]+/sessions(/|$)", "users:sessions"),
        (r"^/users/[^/]+/oauth_delegations(/|$)", "oauth_delegations"),
        (r"^/users/[^/]+/license$", "licenses"),
        (r"^/schedules/[^/]+/users$", "users"),
    )
)

#: Operations PagerDuty documents without a scope (any valid token may call them).
_NO_SCOPE = (
    re.compile(r"^GET /users/me$"),
    re.compile(r"^POST /change_events$"),
    re.compile(r"^[A-Z]+ /webhook_subscriptions/oauth_clients(/|$)"),
)


def required_scope(method: str, path: str) -> str | None:
    """The scope a bearer token needs for ``method path`` (e.g. ``incidents.read``), or None
    when PagerDuty documents none or the path is not a REST API v2 resource."""
    path = "/" + path.strip("/")
    verb = method.upper()
    if any(rule.match(f"{verb} {path}") for rule in _NO_SCOPE):
        return None
    level = "read" if verb in {"GET", "HEAD"} else "write"
    for pattern, resource in _OVERRIDES:
        if pattern.search(path):
            return f"{resource}.{level}"
    base = _RESOURCE_BY_SEGMENT.get(path.split("/")[1])
    return f"{base}.{level}" if base else None


__all__ = ["required_scope"]
