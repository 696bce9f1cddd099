"""Incident custom fields: definitions and values, checked as PagerDuty's OpenAPI describes them.

A field (``CustomFieldsFieldWithOptions``) has a ``name`` (lower-case letters, digits and
underscores, at most 50, unique), a ``display_name`` (unique, at most 50), a ``data_type``
(boolean, integer, float, string, datetime, url) and a ``field_type`` (single_value,
single_value_fixed, multi_value, multi_value_fixed); fixed fields take only their
``field_options`` (strings), multi-value fields are arrays of at most 10 unique strings, strings
and URLs hold at most 200 characters; an account has at most 10 fields. Values are kept per
incident; a field never set reads as its ``default_value``. The REST handlers are in
``rest_custom_fields``; this module knows nothing of HTTP.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from pagerbridge.sandbox.state import Resource, SandboxState, parse_time

DATA_TYPES = ("boolean", "integer", "float", "string", "datetime", "url")
FIELD_TYPES = ("single_value", "single_value_fixed", "multi_value", "multi_value_fixed")
MAX_FIELDS = 10
NAME_MAX = 50
DESCRIPTION_MAX = 1000
VALUE_MAX = 200
OPTION_MAX = 100
MULTI_MAX = 10
NAME_PATTERN = re.compile(r"^[a-z0-9_]+$")
#: Keys a create body may carry (read-only ones PagerDuty ignores are accepted and ignored).
CREATE_KEYS = {
    "name", "display_name", "description", "data_type", "field_type", "default_value",
    "field_options", "id", "type", "summary", "self", "created_at", "updated_at", "namespace",
    "enabled",
}  # fmt: skip


class FieldError(ValueError):
    """A field definition or a value PagerDuty would refuse (the message says which part)."""


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise FieldError(f"'{key}' is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise FieldError(f"'{key}' must be a non-empty string")
    if len(value) > limit:
        raise FieldError(f"'{key}' must be at most {limit} characters")
    return value


def new_field(
    state: SandboxState, body: dict[str, Any], *, field_id: str | None = None
) -> Resource:
    """A checked field definition (not yet stored); raises :class:`FieldError`."""
    unknown = sorted(set(body) - CREATE_KEYS)
    if unknown:
        raise FieldError(f"unknown field attribute(s): {', '.join(unknown)}")
    if len(state.custom_fields) >= MAX_FIELDS:
        raise FieldError(f"an account may have at most {MAX_FIELDS} fields")
    name = _text(body, "name", NAME_MAX, required=True)
    assert name is not None
    if not NAME_PATTERN.match(name):
        raise FieldError("'name' may hold only lower-case letters, digits and underscores")
    display = _text(body, "display_name", NAME_MAX, required=True)
    assert display is not None
    for other in state.custom_fields.values():
        if other["name"] == name:
            raise FieldError(f"a field named {name!r} already exists")
        if other["display_name"].lower() == display.lower():
            raise FieldError(f"a field displayed as {display!r} already exists")
    description = _text(body, "description", DESCRIPTION_MAX, required=False)
    data_type = body.get("data_type")
    if data_type not in DATA_TYPES:
        raise FieldError(f"'data_type' must be one of {', '.join(DATA_TYPES)}")
    field_type = body.get("field_type", "single_value")
    if field_type not in FIELD_TYPES:
        raise FieldError(f"'field_type' must be one of {', '.join(FIELD_TYPES)}")
    if field_type != "single_value" and data_type != "string":
        raise FieldError(f"a {field_type} field must have data_type string")
    now = state.now_iso()
    fid = field_id or state.unique_id(state.custom_fields)
    field: Resource = {
        "id": fid,
        "type": "field",
        "summary": name,
        "self": f"{state.base_url}/incidents/custom_fields/{fid}",
        "namespace": "incidents",
        "name": name,
        "display_name": display,
        "description": description,
        "data_type": data_type,
        "field_type": field_type,
        "default_value": None,
        "created_at": now,
        "updated_at": now,
    }
    field["field_options"] = _options(state, body.get("field_options"), field_type, now)
    if body.get("default_value") is not None:
        field["default_value"] = check_value(field, body["default_value"], "default_value")
    return field


def _options(state: SandboxState, value: Any, field_type: str, now: str) -> list[Resource]:
    fixed = field_type.endswith("_fixed")
    if value is None or value == []:
        if fixed:
            raise FieldError(f"a {field_type} field needs 'field_options'")
        return []
    if not fixed:
        raise FieldError("'field_options' are only for single_value_fixed and multi_value_fixed")
    if not isinstance(value, list):
        raise FieldError("'field_options' must be an array")
    options: list[Resource] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        data = item.get("data") if isinstance(item, dict) else None
        text = data.get("value") if isinstance(data, dict) else None
        kind = data.get("data_type", "string") if isinstance(data, dict) else None
        if kind != "string" or not isinstance(text, str) or not text:
            raise FieldError(
                f'\'field_options[{index}]\' must be {{"data": {{"data_type": "string", '
                '"value": "..."}}'
            )
        if len(text) > OPTION_MAX:
            raise FieldError(f"'field_options[{index}]' is longer than {OPTION_MAX} characters")
        if text in seen:
            raise FieldError(f"'field_options' lists {text!r} twice")
        seen.add(text)
        options.append(
            {
                "id": state.unique_id({}, "P"),
                "type": "field_option",
                "data": {"data_type": "string", "value": text},
                "created_at": now,
                "updated_at": now,
            }
        )
    return options


def _scalar(field: Resource, value: Any, where: str) -> Any:
    kind = field["data_type"]
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if (
        kind == "float"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    ):
        return value
    if kind in ("string", "url", "datetime") and isinstance(value, str):
        if kind != "datetime" and len(value) > VALUE_MAX:
            raise FieldError(f"{where} is longer than {VALUE_MAX} characters")
        if kind == "url":
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise FieldError(f"{where} must be an http(s) URL")
        if kind == "datetime":
            try:
                parse_time(value)
            except ValueError as exc:
                raise FieldError(f"{where} must be an ISO 8601 date-time") from exc
        return value
    raise FieldError(f"{where} must be a {kind} for field {field['name']!r}")


def check_value(field: Resource, value: Any, where: str = "value") -> Any:
    """``value`` if the field can hold it (None clears it); raises :class:`FieldError`."""
    if value is None:
        return None
    options = {o["data"]["value"] for o in field.get("field_options") or []}
    if field["field_type"].startswith("multi_value"):
        if not isinstance(value, list):
            raise FieldError(f"{where} must be an array for multi-value field {field['name']!r}")
        if len(value) > MULTI_MAX:
            raise FieldError(f"{where} may hold at most {MULTI_MAX} values")
        items = [_scalar(field, item, f"{where}[{i}]") for i, item in enumerate(value)]
        if len(set(items)) != len(items):
            raise FieldError(f"{where} holds the same value twice")
    else:
        items = [_scalar(field, value, where)]
    if field["field_type"].endswith("_fixed"):
        for item in items:
            if item not in options:
                raise FieldError(
                    f"{where} {item!r} is not an option of field {field['name']!r} "
                    f"({', '.join(sorted(options))})"
                )
    return value


def field_value(field: Resource, value: Any) -> Resource:
    """PagerDuty's ``CustomFieldsFieldValue`` for one field of one incident."""
    return {
        "id": field["id"],
        "type": "field_value",
        "name": field["name"],
        "display_name": field["display_name"],
        "description": field.get("description"),
        "data_type": field["data_type"],
        "field_type": field["field_type"],
        "value": value,
    }


def values_of(state: SandboxState, incident_id: str) -> list[Resource]:
    """Every field's value on the incident, in the order the fields were defined."""
    stored = state.custom_field_values.get(incident_id, {})
    return [
        field_value(f, stored[f["id"]] if f["id"] in stored else f.get("default_value"))
        for f in state.custom_fields.values()
    ]


def resolve(state: SandboxState, item: Any, index: int) -> tuple[Resource, Any]:
    """One ``{"name" | "id", "value"}`` of a values update, as (field, checked value)."""
    where = f"custom_fields[{index}]"
    if not isinstance(item, dict) or "value" not in item:
        raise FieldError(f"'{where}' must be an object with 'value' and 'name' or 'id'")
    unknown = sorted(set(item) - {"id", "name", "value", "type"})
    if unknown:
        raise FieldError(f"'{where}' has unknown key(s): {', '.join(unknown)}")
    by_id = item.get("id")
    by_name = item.get("name")
    if by_id is None and by_name is None:
        raise FieldError(f"'{where}' needs 'name' or 'id'")
    field: Resource | None = None
    if by_id is not None:
        field = state.custom_fields.get(by_id) if isinstance(by_id, str) else None
        if field is None:
            raise FieldError(f"'{where}': no custom field has id {by_id!r}")
    if by_name is not None:
        named = next(
            (f for f in state.custom_fields.values() if f["name"] == by_name),
            None,
        )
        if named is None:
            raise FieldError(f"'{where}': no custom field is named {by_name!r}")
        if field is not None and named is not field:
            raise FieldError(f"'{where}': 'id' and 'name' name different fields")
        field = named
    assert field is not None
    return field, check_value(field, item["value"], f"'{where}.value'")


def set_values(state: SandboxState, incident_id: str, items: Any) -> list[Resource]:
    """Check every item of a values update, then store them all (all or nothing); returns the
    updated fields' values in the order given."""
    if not isinstance(items, list):
        raise FieldError("'custom_fields' must be an array")
    checked = [resolve(state, item, index) for index, item in enumerate(items)]
    ids = [field["id"] for field, _ in checked]
    if len(set(ids)) != len(ids):
        raise FieldError("'custom_fields' names the same field twice")
    stored = state.custom_field_values.setdefault(incident_id, {})
    for field, value in checked:
        stored[field["id"]] = value
    return [field_value(field, value) for field, value in checked]


def forget_field(state: SandboxState, field_id: str) -> None:
    """Delete a definition and every incident's value for it."""
    state.custom_fields.pop(field_id, None)
    for values in state.custom_field_values.values():
        values.pop(field_id, None)
