"""The hub's ``/health`` and ``/metrics``, and what a client sees when the database goes away
(issue 11, items 3 and 4): a 503 that says so, never the database's text, URL or password."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pagerbridge.server.testing import Hub, running_hub

PASSWORD = "s3cret-pw"


def call(
    hub: Hub, path: str, *, token: str | None = None, method: str = "GET", body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(hub.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def samples(raw: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(raw.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def requests_of(found: dict[Any, float], route: str, method: str, status: int) -> float:
    labels = (("method", method), ("route", route), ("status", str(status)))
    return found.get(("pagerbridge_hub_requests_total", labels), 0.0)


def test_health_and_metrics(database_url: str) -> None:
    with running_hub(database_url, sla_interval=None) as hub:
        token = hub.create_token()
        status, _, body = call(hub, "/health")
        assert status == 200 and json.loads(body)["database"] == "ok"
        for title in ("a", "b", "c"):
            new = {"title": title, "severity": "SEV-3"}
            assert call(hub, "/api/v1/incidents", token=token, method="POST", body=new)[0] == 201
        call(hub, "/api/v1/incidents", token=token, method="POST", body={"title": "no sev"})
        for _ in range(2):  # the second is a 409
            call(hub, "/api/v1/incidents/INC-1/ack", token=token, method="POST")
        call(hub, "/api/v1/incidents/INC-2/resolve", token=token, method="POST")
        call(hub, "/api/v1/incidents", token=token, method="POST", body={"title": float("nan")})
        call(hub, "/api/v1/incidents/INC-3", token=token)
        call(hub, "/api/v1/nothing/here", token=token)

        assert call(hub, "/metrics")[0] == 401  # the API token, like every API call
        status, headers, raw = call(hub, "/metrics", token=token)
        assert status == 200 and headers["content-type"].startswith("text/plain")
        found = samples(raw)
        assert found[("pagerbridge_hub_database_up", ())] == 1
        by_status = {
            dict(labels)["status"]: value
            for (name, labels), value in found.items()
            if name == "pagerbridge_hub_incidents"
        }
        assert by_status == {"open": 1, "mitigated": 1, "resolved": 1, "closed": 0}
        incidents, ack = "/api/v1/incidents", "/api/v1/incidents/{ref}/ack"
        assert requests_of(found, incidents, "POST", 201) == 3
        assert requests_of(found, incidents, "POST", 422) == 2  # no severity; NaN (the guard)
        assert requests_of(found, ack, "POST", 200) == 1
        assert requests_of(found, ack, "POST", 409) == 1
        assert requests_of(found, "/api/v1/incidents/{ref}", "GET", 200) == 1
        assert requests_of(found, "/health", "GET", 200) == 1
        assert requests_of(found, "unmatched", "GET", 404) == 1
        assert requests_of(found, "/metrics", "GET", 401) == 1
        assert ("pagerbridge_hub_request_duration_seconds_count", (("route", ack),)) in found


def _set_connections(admin_url: str, name: str, *, allowed: bool) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


@pytest.fixture
def hub_with_password(postgres_url: str) -> Iterator[tuple[Hub, str]]:
    """A hub on PostgreSQL whose URL carries a password (trust authentication ignores it)."""
    scheme, rest = postgres_url.split("://", 1)
    with running_hub(f"{scheme}://root:{PASSWORD}@{rest}", sla_interval=None) as hub:
        yield hub, postgres_url


@pytest.mark.postgres
def test_losing_the_database_is_503_and_its_words_stay_in_the_log(
    hub_with_password: tuple[Hub, str],
    postgres_server_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub, url = hub_with_password
    name = url.rsplit("/", 1)[1]
    token = hub.create_token()
    new = {"title": "x", "severity": "SEV-3"}
    assert call(hub, "/api/v1/incidents", token=token, method="POST", body=new)[0] == 201
    caplog.set_level(logging.WARNING, logger="pagerbridge.server")
    _set_connections(postgres_server_url, name, allowed=False)
    try:
        answers = [
            call(hub, "/api/v1/incidents", token=token),
            call(hub, "/api/v1/incidents/INC-1/ack", token=token, method="POST"),
            call(hub, "/api/v1/incidents", token=token, method="POST", body=new),
            call(hub, "/api/v1/incidents/INC-1", token=token),
        ]
        for status, headers, raw in answers:
            assert status == 503, raw
            error = json.loads(raw)["error"]
            assert error["type"] == "storage" and "database is unavailable" in error["message"]
            assert headers["retry-after"] == "5"
        health = call(hub, "/health")
        assert health[0] == 503 and "cannot be reached" in json.loads(health[2])["reason"]
        scraped = samples(call(hub, "/metrics", token=token)[2])
        assert scraped[("pagerbridge_hub_database_up", ())] == 0
        for _, _, raw in [*answers, health]:
            text = raw.decode()
            for secret in (PASSWORD, "postgresql", "127.0.0.1", name, "FATAL", "connection to"):
                assert secret not in text, text
        logged = caplog.text
        assert "accepting connections" in logged or "terminating connection" in logged, logged
        assert PASSWORD not in logged
    finally:
        _set_connections(postgres_server_url, name, allowed=True)
    deadline = time.monotonic() + 30
    while call(hub, "/health")[0] != 200:  # the pool reconnects on its own
        assert time.monotonic() < deadline, "the hub did not see the database come back"
        time.sleep(0.05)
    assert call(hub, "/api/v1/incidents/INC-1/ack", token=token, method="POST")[0] == 200
