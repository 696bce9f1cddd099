"""The hub's OpenAPI document is generated from what serves: every served route is in
/openapi.json and every documented operation is served; it declares bearer auth (not for
/health), the enums of status and severity and the INC-n pattern; 405 answers carry ``Allow``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.routing import Mount

from pagerbridge.incidents.lifecycle import SEVERITIES, STATUSES
from pagerbridge.server.routes import served as served_routes
from pagerbridge.server.testing import Hub, running_hub

#: The only routes not in the document: the document itself and the pages that show it.
DOCS_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/docs-assets"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'hub.db'}"
    with running_hub(url, sla_interval=None) as h:
        yield h


@pytest.fixture(scope="module")
def token(hub: Hub) -> str:
    return hub.create_token("openapi")


@pytest.fixture(scope="module")
def doc(hub: Hub) -> dict[str, Any]:
    status, _, body = request(hub, "GET", "/openapi.json")
    assert status == 200
    return dict(body)


def request(
    hub: Hub, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(hub.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, hdrs, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, hdrs, raw = exc.code, dict(exc.headers), exc.read()
    try:
        return status, hdrs, json.loads(raw) if raw else None
    except ValueError:
        return status, hdrs, raw


def served(hub: Hub) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves; a GET route's HEAD left out."""
    out: set[tuple[str, str]] = set()
    for route, view in served_routes(hub.app.routes):
        if isinstance(route, Mount):
            out.add(("GET", route.path))
            continue
        methods = set(view.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")
        out |= {(m, str(view.path_format)) for m in methods}
    return out


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}


def test_every_served_route_is_documented_and_the_document_names_nothing_else(
    hub: Hub, doc: dict[str, Any]
) -> None:
    routes, described = served(hub), documented(doc)
    assert described <= routes, described - routes
    assert {path for _, path in routes - described} == DOCS_ROUTES
    # The state changes are plain routes, each declared once (no FastAPI twin).
    for action in ("ack", "resolve", "close", "reopen"):
        assert ("POST", f"/api/v1/incidents/{{ref}}/{action}") in described
    templates = [str(view.path_format) for _, view in served_routes(hub.app.routes)]
    assert templates.count("/api/v1/incidents/{ref}/ack") == 1


def test_every_documented_operation_answers(hub: Hub, doc: dict[str, Any], token: str) -> None:
    """Over HTTP: no documented operation gets the router's 404 or a 405."""
    for method, path in sorted(documented(doc)):
        concrete = path.format(ref="INC-1", name="nobody", severity="SEV-4")
        status, _, body = request(hub, method, concrete, token)
        assert status != 405, (method, path, body)
        if status == 404:
            assert body["error"]["message"] != "Not Found", (method, path)


def test_bearer_auth_is_declared_and_health_is_open(doc: dict[str, Any]) -> None:
    from pagerbridge.server.openapi import OPEN_PATHS

    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["paths"]["/health"]["get"]["security"] == []
    assert doc["paths"]["/connectors/{name}/webhook"]["post"]["security"] == []
    assert doc["paths"]["/connectors/{name}/oauth/callback"]["get"]["security"] == []
    others = [op for p, ops in doc["paths"].items() if p not in OPEN_PATHS for op in ops.values()]
    assert others and all("security" not in op for op in others)


def test_enums_and_the_incident_id_pattern(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["IncidentOut"]["properties"]["status"]["enum"] == list(STATUSES)
    assert schemas["IncidentOut"]["properties"]["severity"]["enum"] == list(SEVERITIES)
    assert schemas["DeclareIn"]["properties"]["severity"]["enum"] == list(SEVERITIES)
    listing = {p["name"]: p for p in doc["paths"]["/api/v1/incidents"]["get"]["parameters"]}
    assert listing["status"]["schema"]["enum"] == [*STATUSES, "acknowledged"]
    assert listing["severity"]["schema"]["enum"] == list(SEVERITIES)
    refs = [
        p["schema"]
        for ops in doc["paths"].values()
        for op in ops.values()
        for p in op.get("parameters", [])
        if p["name"] == "ref"
    ]
    assert len(refs) == 8  # show, timeline, notes, assign and the four state changes
    for schema in refs:
        assert schema["pattern"] == "^INC-[1-9][0-9]{0,9}$"


def test_plain_routes_describe_their_parameters_like_fastapi_does(doc: dict[str, Any]) -> None:
    def params(path: str, method: str) -> dict[str, Any]:
        return {
            p["name"]: {**p, "schema": {k: v for k, v in p["schema"].items() if k != "title"}}
            for p in doc["paths"][path][method]["parameters"]
        }

    assert params("/api/v1/incidents/{ref}/ack", "post") == params(
        "/api/v1/incidents/{ref}/assign", "post"
    )
    ack = doc["paths"]["/api/v1/incidents/{ref}/ack"]["post"]
    assert ack["requestBody"]["required"] is False
    schema = ack["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/TransitionIn"}
    answer = ack["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/IncidentAnswer"}
    assert set(ack["responses"]) == set(doc["paths"]["/api/v1/incidents/{ref}"]["get"]["responses"])


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/v1/incidents/INC-1/ack", "POST"),
        ("PUT", "/api/v1/services", "GET, POST"),
        ("PATCH", "/api/v1/incidents", "GET, POST"),
        ("DELETE", "/api/v1/incidents/INC-1", "GET"),
        ("POST", "/api/v1/services/db", "GET, DELETE"),
        ("GET", "/api/v1/sla/SEV-1", "PUT"),
        ("POST", "/health", "GET"),
        ("POST", "/docs", "GET"),
        ("PUT", "/docs-assets/swagger-ui.css", "GET, HEAD"),
    ],
)
def test_405_says_what_is_allowed(hub: Hub, token: str, method: str, path: str, allow: str) -> None:
    status, headers, body = request(hub, method, path, token)
    assert status == 405 and headers["allow"] == allow, (headers, body)
    assert body["error"]["type"] == "method_not_allowed"
