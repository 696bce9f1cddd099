"""Build the sandbox's account from a seed YAML file (``--seed``; default: ``default_seed.yaml``).

The seed format is small and hand-written (ids, names, who is in what); this module turns it into
PagerDuty-shaped resources and says exactly which entry is wrong when it is.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pagerbridge.errors import ConfigError
from pagerbridge.sandbox.state import Resource, SandboxState

DEFAULT_SEED = "default_seed.yaml"
#: An API key's access level (PagerDuty: account keys are read-only or full access).
TOKEN_ACCESS = ("full", "read_only")
ROUTING_KEY_LENGTH = 32


def default_seed_text() -> str:
    return resources.files("pagerbridge.sandbox").joinpath(DEFAULT_SEED).read_text("utf-8")


def load_seed(state: SandboxState, path: Path | None = None) -> None:
    """Fill ``state`` from the seed at ``path`` (or the default seed)."""
    import yaml

    where = str(path) if path else DEFAULT_SEED
    try:
        text = path.read_text("utf-8") if path else default_seed_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the seed file: {exc.strerror}", file=where) from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {exc}", file=where, line=line) from exc
    if not isinstance(data, dict):
        raise ConfigError("the seed must be a mapping of resource lists", file=where)
    _Builder(state, data, where).build()


#: The seed's sections; anything else is a typo that would silently leave an empty account.
SECTIONS = (
    "users",
    "teams",
    "schedules",
    "escalation_policies",
    "services",
    "priorities",
    "custom_fields",
    "tokens",
    "oauth_clients",
)


class _Builder:
    def __init__(self, state: SandboxState, data: dict[str, Any], where: str) -> None:
        self.state = state
        self.data = data
        self.where = where
        unknown = sorted(str(key) for key in data if key not in SECTIONS)
        if unknown:
            raise self.fail(
                unknown[0],
                f"unknown seed section {unknown[0]!r} (sections: {', '.join(SECTIONS)})",
            )

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.where, key=key)

    def items(self, section: str) -> list[tuple[str, dict[str, Any]]]:
        value = self.data.get(section) or []
        if not isinstance(value, list):
            raise self.fail(section, "must be a list")
        out: list[tuple[str, dict[str, Any]]] = []
        for index, item in enumerate(value):
            key = f"{section}[{index}]"
            if not isinstance(item, dict):
                raise self.fail(key, "must be a mapping")
            out.append((key, item))
        return out

    def need(self, key: str, item: dict[str, Any], name: str) -> Any:
        if item.get(name) in (None, ""):
            raise self.fail(f"{key}.{name}", "is required")
        return item[name]

    def known(self, key: str, collection: dict[str, Resource], rid: Any, what: str) -> str:
        if rid not in collection:
            raise self.fail(key, f"unknown {what} {rid!r}")
        return str(rid)

    def build(self) -> None:
        self.users()
        self.teams()
        self.schedules()
        self.policies()
        self.services()
        self.priorities()
        self.custom_fields()
        self.credentials()

    def users(self) -> None:
        s = self.state
        for key, item in self.items("users"):
            uid = str(self.need(key, item, "id"))
            user: Resource = {
                "id": uid,
                "type": "user",
                "name": str(self.need(key, item, "name")),
                "email": str(self.need(key, item, "email")),
                "time_zone": str(item.get("time_zone", "UTC")),
                "color": str(item.get("color", "green")),
                "role": str(item.get("role", "user")),
                "avatar_url": "https://secure.gravatar.com/avatar/0?d=mm",
                "description": str(item.get("description", "")),
                "invitation_sent": False,
                "job_title": str(item.get("job_title", "")),
                "teams": [],
                "contact_methods": [],
                "notification_rules": [],
            }
            s.users[uid] = s.decorate("user", user, user["name"])

    def teams(self) -> None:
        s = self.state
        for key, item in self.items("teams"):
            tid = str(self.need(key, item, "id"))
            team: Resource = {
                "id": tid,
                "type": "team",
                "name": str(self.need(key, item, "name")),
                "description": str(item.get("description", "")),
                "default_role": "manager",
            }
            s.teams[tid] = s.decorate("team", team, team["name"])
            for member in item.get("members") or []:
                uid = self.known(f"{key}.members", s.users, member, "user")
                s.users[uid]["teams"].append(s.ref("team", tid))

    def schedules(self) -> None:
        s = self.state
        for key, item in self.items("schedules"):
            sid = str(self.need(key, item, "id"))
            layers: list[Resource] = []
            for index, layer in enumerate(item.get("layers") or []):
                lkey = f"{key}.layers[{index}]"
                start = str(self.need(lkey, layer, "start"))
                users = [
                    {"user": s.ref("user", self.known(f"{lkey}.users", s.users, u, "user"))}
                    for u in layer.get("users") or []
                ]
                layers.append(
                    {
                        "id": str(layer.get("id", f"{sid}L{index + 1}")),
                        "name": str(layer.get("name", f"Layer {index + 1}")),
                        "start": start,
                        "end": layer.get("end"),
                        "rotation_virtual_start": str(layer.get("rotation_virtual_start", start)),
                        "rotation_turn_length_seconds": int(
                            layer.get("rotation_turn_length_seconds", 86400)
                        ),
                        "users": users,
                        "restrictions": [],
                    }
                )
            schedule: Resource = {
                "id": sid,
                "type": "schedule",
                "name": str(self.need(key, item, "name")),
                "description": str(item.get("description", "")),
                "time_zone": str(item.get("time_zone", "UTC")),
                "schedule_layers": layers,
                "escalation_policies": [],
                "users": list(
                    {u["user"]["id"]: u["user"] for lay in layers for u in lay["users"]}.values()
                ),
                "teams": [],
            }
            s.schedules[sid] = s.decorate("schedule", schedule, schedule["name"])

    def policies(self) -> None:
        s = self.state
        for key, item in self.items("escalation_policies"):
            pid = str(self.need(key, item, "id"))
            rules: list[Resource] = []
            for index, rule in enumerate(item.get("rules") or []):
                rkey = f"{key}.rules[{index}]"
                targets: list[Resource] = []
                for target in rule.get("targets") or []:
                    if isinstance(target, dict) and "user" in target:
                        uid = self.known(f"{rkey}.targets", s.users, target["user"], "user")
                        targets.append(s.ref("user", uid))
                    elif isinstance(target, dict) and "schedule" in target:
                        sch = self.known(
                            f"{rkey}.targets", s.schedules, target["schedule"], "schedule"
                        )
                        targets.append(s.ref("schedule", sch))
                    else:
                        raise self.fail(
                            f"{rkey}.targets", "each target is {user: ID} or {schedule: ID}"
                        )
                rules.append(
                    {
                        "id": f"{pid}R{index + 1}",
                        "escalation_delay_in_minutes": int(
                            rule.get("escalation_delay_in_minutes", 30)
                        ),
                        "targets": targets,
                    }
                )
            if not rules:
                raise self.fail(f"{key}.rules", "an escalation policy needs at least one rule")
            policy: Resource = {
                "id": pid,
                "type": "escalation_policy",
                "name": str(self.need(key, item, "name")),
                "description": str(item.get("description", "")),
                "num_loops": int(item.get("num_loops", 0)),
                "on_call_handoff_notifications": "if_has_services",
                "escalation_rules": rules,
                "services": [],
                "teams": [
                    s.ref("team", self.known(f"{key}.teams", s.teams, t, "team"))
                    for t in item.get("teams") or []
                ],
            }
            s.escalation_policies[pid] = s.decorate("escalation_policy", policy, policy["name"])
            for rule in rules:
                for target in rule["targets"]:
                    if target["type"] == "schedule_reference":
                        s.schedules[target["id"]]["escalation_policies"].append(
                            s.ref("escalation_policy", pid)
                        )

    def services(self) -> None:
        s = self.state
        for key, item in self.items("services"):
            sid = str(self.need(key, item, "id"))
            policy_id = self.known(
                f"{key}.escalation_policy",
                s.escalation_policies,
                self.need(key, item, "escalation_policy"),
                "escalation policy",
            )
            service: Resource = {
                "id": sid,
                "type": "service",
                "name": str(self.need(key, item, "name")),
                "description": str(item.get("description", "")),
                "auto_resolve_timeout": item.get("auto_resolve_timeout"),
                "acknowledgement_timeout": item.get("acknowledgement_timeout"),
                "created_at": s.now_iso(),
                "updated_at": s.now_iso(),
                "status": "active",
                "escalation_policy": s.ref("escalation_policy", policy_id),
                "teams": [
                    s.ref("team", self.known(f"{key}.teams", s.teams, t, "team"))
                    for t in item.get("teams") or []
                ],
                "integrations": [],
                "incident_urgency_rule": item.get(
                    "incident_urgency_rule", {"type": "constant", "urgency": "high"}
                ),
                "alert_creation": "create_alerts_and_incidents",
                "addons": [],
                "scheduled_actions": [],
            }
            s.services[sid] = s.decorate("service", service, service["name"])
            s.escalation_policies[policy_id]["services"].append(s.ref("service", sid))
            for index, integ in enumerate(item.get("integrations") or []):
                ikey = f"{key}.integrations[{index}]"
                routing_key = str(self.need(ikey, integ, "routing_key"))
                if len(routing_key) != ROUTING_KEY_LENGTH:
                    raise self.fail(
                        f"{ikey}.routing_key", f"must be {ROUTING_KEY_LENGTH} characters long"
                    )
                if routing_key in s.integrations:
                    raise self.fail(f"{ikey}.routing_key", "is already used by another service")
                iid = str(integ.get("id") or s.unique_id({}, "P"))
                name = str(integ.get("name", "Events API v2"))
                s.integrations[routing_key] = {
                    "id": iid,
                    "service_id": sid,
                    "name": name,
                    "type": "events_api_v2_inbound_integration",
                    "integration_key": routing_key,
                }
                service["integrations"].append(
                    {
                        "id": iid,
                        "type": "events_api_v2_inbound_integration_reference",
                        "summary": name,
                        "self": f"{s.base_url}/services/{sid}/integrations/{iid}",
                        "html_url": f"{s.base_url}/#/services/{sid}/integrations/{iid}",
                    }
                )

    def priorities(self) -> None:
        s = self.state
        for key, item in self.items("priorities"):
            pid = str(self.need(key, item, "id"))
            priority: Resource = {
                "id": pid,
                "type": "priority",
                "name": str(self.need(key, item, "name")),
                "description": str(item.get("description", "")),
            }
            s.priorities[pid] = s.decorate("priority", priority, priority["name"])

    def custom_fields(self) -> None:
        from pagerbridge.sandbox.custom_fields import FieldError, new_field

        s = self.state
        for key, item in self.items("custom_fields"):
            fid = str(self.need(key, item, "id"))
            try:
                field = new_field(s, item, field_id=fid)
            except FieldError as exc:
                raise self.fail(key, str(exc)) from exc
            s.custom_fields[fid] = field

    def credentials(self) -> None:
        s = self.state
        for key, item in self.items("tokens"):
            token = str(self.need(key, item, "token"))
            user = item.get("user")
            if user is not None:
                self.known(f"{key}.user", s.users, user, "user")
            access = item.get("access", "full")
            if access not in TOKEN_ACCESS:
                raise self.fail(f"{key}.access", f"must be one of {', '.join(TOKEN_ACCESS)}")
            s.tokens[token] = {"token": token, "user_id": user, "access": access}
        for key, item in self.items("oauth_clients"):
            cid = str(self.need(key, item, "client_id"))
            s.oauth_clients[cid] = {
                "client_id": cid,
                "client_secret": str(self.need(key, item, "client_secret")),
            }
