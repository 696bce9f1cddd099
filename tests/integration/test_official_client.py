"""PagerDuty's official Python client (PyPI ``pagerduty``) works unchanged against the sandbox.

Over HTTPS, trusting the sandbox's generated CA: the client only gets ``base_url`` and ``verify``
(passed through to its HTTP client), exactly what a user would set to point it elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox

pagerduty = pytest.importorskip("pagerduty", reason="PagerDuty's client is a dev dependency")


@pytest.fixture(scope="module")
def https_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(tls=True, rate_limits=False) as sb:
        yield sb


@pytest.fixture
def tls_sandbox(https_sandbox: SandboxHandle) -> SandboxHandle:
    https_sandbox.reset()
    return https_sandbox


def events_client(sb: SandboxHandle) -> object:
    return pagerduty.EventsApiV2Client(sb.routing_key, base_url=sb.url, verify=sb.ssl_context())


def rest_client(sb: SandboxHandle) -> object:
    return pagerduty.RestApiV2Client(
        sb.token, default_from=sb.user_email, base_url=sb.url, verify=sb.ssl_context()
    )


def test_events_trigger_acknowledge_resolve_and_change(tls_sandbox: SandboxHandle) -> None:
    events = events_client(tls_sandbox)
    dedup = events.trigger("Official client trigger", "client-host", dedup_key="official-1")
    assert dedup == "official-1"
    assert events.acknowledge(dedup) == "official-1"
    assert events.resolve(dedup) == "official-1"
    # submit() without a timestamp hits a bug in the client (datetime.timezone); give one
    events.submit("deployed by the official client", source="ci", timestamp="2026-01-01T00:00:00Z")
    arrivals = [(a["event_action"], a["outcome"]) for a in tls_sandbox.arrivals()]
    assert arrivals == [
        ("trigger", "created"),
        ("acknowledge", "acknowledged"),
        ("resolve", "resolved"),
        ("change", "stored"),
    ]
    rest = rest_client(tls_sandbox)
    [incident] = rest.list_all("incidents", params={"date_range": "all"})
    assert incident["status"] == "resolved"


def test_iter_all_with_filters_pages_through(tls_sandbox: SandboxHandle) -> None:
    events = events_client(tls_sandbox)
    for i in range(30):
        events.trigger(f"alert {i}", "host", dedup_key=f"iter-{i}")
    for i in range(0, 30, 3):
        events.acknowledge(f"iter-{i}")
    rest = rest_client(tls_sandbox)
    triggered = list(
        rest.iter_all(
            "incidents",
            params={"statuses[]": ["triggered"], "service_ids[]": [tls_sandbox.service_id]},
            page_size=7,
        )
    )
    assert len(triggered) == 20
    assert {i["status"] for i in triggered} == {"triggered"}
    acked = list(rest.iter_all("incidents", params={"statuses[]": ["acknowledged"]}))
    assert sorted(i["incident_key"] for i in acked) == sorted(f"iter-{i}" for i in range(0, 30, 3))


def test_rget_rput_rpost_incidents_and_notes(tls_sandbox: SandboxHandle) -> None:
    rest = rest_client(tls_sandbox)
    created = rest.rpost(
        "incidents",
        json={
            "type": "incident",
            "title": "Made with rpost",
            "service": {"id": tls_sandbox.service_id, "type": "service_reference"},
            "incident_key": "official-rest",
        },
    )
    assert created["status"] == "triggered" and created["title"] == "Made with rpost"
    fetched = rest.rget(f"incidents/{created['id']}")
    assert fetched["id"] == created["id"]
    updated = rest.rput(
        f"incidents/{created['id']}", json={"type": "incident_reference", "status": "acknowledged"}
    )
    assert updated["status"] == "acknowledged"
    note = rest.rpost(f"incidents/{created['id']}/notes", json={"content": "looking into it"})
    assert note["content"] == "looking into it"
    notes = rest.rget(f"incidents/{created['id']}/notes")
    assert [n["content"] for n in notes] == ["looking into it"]
    resolved = rest.rput(
        created, json={"type": "incident_reference", "status": "resolved", "resolution": "done"}
    )
    assert resolved["status"] == "resolved"
    # a repeated incident_key on the service is refused while that incident is open
    rest.rpost(
        "incidents",
        json={"type": "incident", "title": "again", "incident_key": "k2",
              "service": {"id": tls_sandbox.service_id, "type": "service_reference"}},
    )  # fmt: skip
    with pytest.raises(pagerduty.HttpError) as caught:
        rest.rpost(
            "incidents",
            json={"type": "incident", "title": "again", "incident_key": "k2",
                  "service": {"id": tls_sandbox.service_id, "type": "service_reference"}},
        )  # fmt: skip
    assert caught.value.response.status_code == 400


def test_wrong_token_is_refused(tls_sandbox: SandboxHandle) -> None:
    rest = pagerduty.RestApiV2Client(
        "wrong-token", base_url=tls_sandbox.url, verify=tls_sandbox.ssl_context()
    )
    with pytest.raises(pagerduty.HttpError) as caught:
        rest.rget("incidents")
    assert caught.value.response.status_code == 401


def test_tls_key_files_are_removed_on_exit() -> None:
    with running_sandbox(tls=True) as sb:
        assert sb.ca_path is not None and sb.ca_path.exists()
        assert sb.key_path is not None and sb.key_path.exists()
        key = sb.key_path
    assert not key.exists() and not key.parent.exists()
