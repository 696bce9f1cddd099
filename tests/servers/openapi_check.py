"""PagerDuty's REST OpenAPI document, patched where it contradicts PagerDuty's docs, and a check
that an answer of the sandbox is valid under it.

Shared by the contract walk (tests/contract/test_sandbox_openapi.py) and the hostile-input tests
(tests/integration/test_sandbox_hostile*.py), so test modules never import each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Op", "conforms", "load_openapi", "response_schema_pointer", "validate"]

DEFAULT_TOKEN = "sandbox-token"


@dataclass(frozen=True)
class Op:
    """One documented operation and the answer expected of it (``path``/``body`` build the
    request from the ids of objects a test made)."""

    method: str
    template: str
    status: int
    path: Callable[[dict[str, str]], str] | None = None
    body: Callable[[dict[str, str]], Any] | None = None
    from_header: bool = False
    token: str = DEFAULT_TOKEN

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


def load_openapi(contract_dir: Path) -> dict[str, Any]:
    """The REST document (rest-api-v2.openapiv3.json) with the patches listed in docs/sandbox.md.

    Reading it takes ~40 ms, so each test module's session fixture reads its own copy."""
    path = contract_dir / "rest-api-v2.openapiv3.json"
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    follow_descriptions_on_null(document)
    # ``Channel`` lists its kinds under ``oneOf`` with no discriminator and no required
    # properties, so every real channel (PagerDuty's own examples included) matches several
    # branches and fails ``oneOf``; validate it as ``anyOf`` (listed in docs/sandbox.md).
    channel = document["components"]["schemas"]["Channel"]
    channel["anyOf"] = channel.pop("oneOf")
    # ``AcknowledgeLogEntry`` spells its type ``acknowledgement_log_entry`` while
    # ``LogEntry.type`` (and PagerDuty's API) says ``acknowledge_log_entry``; accept the latter.
    ack = document["components"]["schemas"]["AcknowledgeLogEntry"]
    for part in ack.get("allOf", [ack]):
        kind = part.get("properties", {}).get("type", {})
        if "enum" in kind:
            kind["enum"] = [*kind["enum"], "acknowledge_log_entry"]
    bare_custom_field_values(document)
    return document


def bare_custom_field_values(document: dict[str, Any]) -> None:
    """``CustomFieldsFieldValue.value`` lists its kinds as objects ``{"value": x}`` while every
    example (REST and webhooks) holds the bare value, and the kinds overlap (a URL is a string):
    validate the bare value against any kind (listed in docs/sandbox.md). Also drops a field
    option's broken ``discriminator`` mapping."""
    schemas = document["components"]["schemas"]
    value = schemas["CustomFieldsFieldValue"]["properties"]["value"]
    bare = [dict(branch["properties"]["value"]) for branch in value["oneOf"]]
    for kind in bare:
        if "oneOf" in kind:  # a string or an array of strings: both nullable
            kind["anyOf"] = kind.pop("oneOf")
    prefix = "#/components/schemas/CustomFieldsFieldValue/properties/value/oneOf/"

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            branches = node.get("oneOf")
            if isinstance(branches, list) and all(
                str(b.get("$ref", "")).startswith(prefix) for b in branches
            ):
                node["anyOf"] = [bare[int(b["$ref"][len(prefix) :])] for b in node.pop("oneOf")]
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(document)
    value.clear()
    value["anyOf"] = bare
    # A field option's one-branch ``discriminator`` maps to a path the document does not have.
    schemas["CustomFieldsEditableFieldOption"]["properties"]["data"].pop("discriminator", None)


def follow_descriptions_on_null(node: Any) -> None:
    """Where a property's own description says it may be null, allow null.

    The document's prose and its schemas disagree here (e.g. ``Incident.resolved_at``: "or
    `null` if the incident is not resolved", typed as a plain string); the project follows the
    docs where they disagree (DESIGN.md), and docs/sandbox.md lists this.
    """
    if isinstance(node, dict):
        text = str(node.get("description", "")).lower()
        if "null" in text and ("type" in node or "allOf" in node):
            node["nullable"] = True
        for value in node.values():
            follow_descriptions_on_null(value)
    elif isinstance(node, list):
        for value in node:
            follow_descriptions_on_null(value)


def _pointer_get(document: Any, pointer: str) -> Any:
    node = document
    for part in pointer.lstrip("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _escape(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


def response_schema_pointer(openapi: dict[str, Any], op: Op) -> str | None:
    """JSON pointer to the operation's response schema (following a response $ref); None when
    the documented answer has no body."""
    pointer = f"#/paths/{_escape(op.template)}/{op.method.lower()}/responses/{op.status}"
    response = _pointer_get(openapi, pointer)
    if "$ref" in response:
        pointer = response["$ref"]
        response = _pointer_get(openapi, pointer)
    if "content" not in response:
        return None
    media = next(iter(response["content"]))
    return f"{pointer}/content/{_escape(media)}/schema"


def validate(openapi: dict[str, Any], pointer: str, body: Any) -> None:
    """Assert ``body`` is valid under the schema at ``pointer``, $refs resolved in the whole
    document; the message lists the first ten errors by where they are."""
    from openapi_schema_validator import OAS30ReadValidator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    registry: Registry[Any] = Registry().with_resource(
        "urn:pagerduty-rest", Resource.from_contents(openapi, default_specification=DRAFT4)
    )
    validator = OAS30ReadValidator({"$ref": "urn:pagerduty-rest" + pointer}, registry=registry)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]
    )


def conforms(openapi: dict[str, Any], op: Op, body: Any) -> None:
    """Assert ``body`` is what PagerDuty documents for ``op`` (which must have a body)."""
    pointer = response_schema_pointer(openapi, op)
    assert pointer is not None, op.name
    validate(openapi, pointer, body)
