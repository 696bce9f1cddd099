"""``im --server URL``: the same operations as the local database, over the hub's REST API.

Standard library only (urllib), so a remote ``im`` starts without loading SQLAlchemy. Errors come
back as the exceptions the local path raises (by the API's error ``type``), so exit codes match.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pagerbridge.errors import (
    ConflictError,
    IllegalTransitionError,
    IncidentNotFoundError,
    PagerbridgeError,
    StorageError,
    TransportError,
)
from pagerbridge.incidents.errors import AuthenticationRequiredError, InvalidInputError
from pagerbridge.incidents.limits import TEXT_MAX_BYTES, check_text

TIMEOUT: Final = 30.0
API: Final = "/api/v1"

_ERRORS: Final[dict[str, type[PagerbridgeError]]] = {
    "unauthorized": AuthenticationRequiredError,
    "invalid_input": InvalidInputError,
    "too_large": InvalidInputError,  # a body over the hub's 1 MiB: invalid input, as locally
    "not_found": IncidentNotFoundError,
    "illegal_transition": IllegalTransitionError,
    "conflict": ConflictError,
    "storage": StorageError,
}


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _free_text(field: str, value: str | None) -> None:
    """The free-text limits checked here too (the hub checks them as well), so a megabyte of
    text is refused naming its field, as locally, not as a 413 for the whole request body."""
    if value is not None:
        check_text(field, value, max_bytes=TEXT_MAX_BYTES)


class RemoteCommands:
    """Mirrors :class:`pagerbridge.incidents.commands.Commands` method for method: both are
    :class:`~pagerbridge.incidents.commands.IncidentCommands`, which mypy checks."""

    def __init__(self, server: str, *, token: str | None, actor: str) -> None:
        if not server.startswith(("http://", "https://")):
            raise InvalidInputError(f"--server {server!r} must be an http:// or https:// URL")
        self.base = server.rstrip("/")
        self.token = token
        self.actor = actor

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> Any:
        url = self.base + API + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json", "From": self.actor}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransportError(f"cannot reach the hub at {self.base}: {reason}") from exc
        return json.loads(raw) if raw else None

    def _error(self, exc: urllib.error.HTTPError) -> PagerbridgeError:
        try:
            detail = json.loads(exc.read())["error"]
            kind, message = str(detail["type"]), str(detail["message"])
        except (ValueError, KeyError, TypeError):
            kind, message = "error", f"HTTP {exc.code} {exc.reason}"
        if exc.code == 401 and not self.token:
            message += " (give --token or set $PAGERBRIDGE_TOKEN)"
        return _ERRORS.get(kind, PagerbridgeError)(f"{message} [{self.base}: HTTP {exc.code}]")

    def declare(
        self,
        *,
        title: str,
        severity: str | None,
        services: Sequence[str] = (),
        description: str = "",
        assignee: str | None = None,
        custom_fields: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        _free_text("description", description)
        body = {
            "title": title,
            "severity": severity,
            "services": list(services),
            "description": description,
            "assignee": assignee,
            "custom_fields": dict(custom_fields or {}),
        }
        result: dict[str, Any] = self._call("POST", "/incidents", body)
        return result

    def transition(
        self, ref: str, action: str, *, note: str | None = None, expected_version: int | None = None
    ) -> dict[str, Any]:
        _free_text("note", note)
        body = {"note": note, "expected_version": expected_version}
        result: dict[str, Any] = self._call("POST", f"/incidents/{_quote(ref)}/{action}", body)
        return result

    def note(self, ref: str, body: str) -> dict[str, Any]:
        _free_text("note", body)
        result: dict[str, Any] = self._call(
            "POST", f"/incidents/{_quote(ref)}/notes", {"body": body}
        )
        return result

    def assign(
        self,
        ref: str,
        assignee: str | None,
        *,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        _free_text("note", note)
        body = {"assignee": assignee, "note": note, "expected_version": expected_version}
        result: dict[str, Any] = self._call("POST", f"/incidents/{_quote(ref)}/assign", body)
        return result

    def list_incidents(
        self,
        *,
        status: str | None = None,
        service_name: str | None = None,
        severity: str | None = None,
        limit: int = 25,
        offset: int = 0,
    ) -> dict[str, Any]:
        query = {
            "status": status,
            "service": service_name,
            "severity": severity,
            "limit": limit,
            "offset": offset,
        }
        result: dict[str, Any] = self._call("GET", "/incidents", query=query)
        return result

    def show(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/incidents/{_quote(ref)}")
        return result

    def timeline(self, ref: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/incidents/{_quote(ref)}/timeline")[
            "entries"
        ]
        return result

    def service_add(
        self,
        name: str,
        *,
        description: str = "",
        owner_team: str | None = None,
        default_severity: str = "SEV-3",
    ) -> dict[str, Any]:
        _free_text("description", description)
        body = {
            "name": name,
            "description": description,
            "owner_team": owner_team,
            "default_severity": default_severity,
        }
        result: dict[str, Any] = self._call("POST", "/services", body)
        return result

    def service_list(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/services")["services"]
        return result

    def service_show(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/services/{_quote(name)}")
        return result

    def service_remove(self, name: str) -> None:
        self._call("DELETE", f"/services/{_quote(name)}")

    def sla_show(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/sla")["policies"]
        return result

    def sla_set(
        self, severity: str, *, ack: str | None = None, resolve: str | None = None
    ) -> dict[str, Any]:
        body = {"ack": ack, "resolve": resolve}
        result: dict[str, Any] = self._call("PUT", f"/sla/{_quote(severity)}", body)
        return result

    def sla_check(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("POST", "/sla/check", {})["breaches"]
        return result

    def token_create(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/tokens", {"name": name})
        return result

    def token_list(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/tokens")["tokens"]
        return result

    def token_revoke(self, name: str) -> None:
        self._call("DELETE", f"/tokens/{_quote(name)}")
